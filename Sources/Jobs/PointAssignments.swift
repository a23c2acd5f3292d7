// PointAssignments — the sweep values of many points held together: each distinct
// (path, value) pair once, each point a short run of indices into them. A point of
// a million-point grid then costs a few bytes for its values, not an array of its own.

/// The assignments of a list of points (rows), immutable once made.
public final class PointAssignments: Sendable {
    /// Distinct assignments, in the order first met.
    let distinct: [PlanPoint.Assignment]
    /// Row r is `cells[rowStarts[r] ..< rowStarts[r + 1]]`, indices into `distinct`.
    let cells: [UInt32]
    let rowStarts: [Int]

    private init(distinct: [PlanPoint.Assignment], cells: [UInt32], rowStarts: [Int]) {
        self.distinct = distinct; self.cells = cells; self.rowStarts = rowStarts
    }

    /// One point's assignments alone.
    convenience init(single row: [PlanPoint.Assignment]) {
        self.init(distinct: row, cells: row.indices.map { UInt32($0) }, rowStarts: [0, row.count])
    }

    public var rowCount: Int { rowStarts.count - 1 }

    func row(_ r: Int) -> [PlanPoint.Assignment] { cells[rowStarts[r]..<rowStarts[r + 1]].map { distinct[Int($0)] } }

    /// Collects rows, sharing equal assignments.
    public struct Builder {
        private var distinct: [PlanPoint.Assignment] = []
        private var positions: [PlanPoint.Assignment: UInt32] = [:]
        private var cells: [UInt32] = []
        private var rowStarts = [0]

        public init(rows: Int = 0) { rowStarts.reserveCapacity(rows + 1) }

        /// Adds a row; returns its number.
        @discardableResult
        public mutating func append<S: Sequence<PlanPoint.Assignment>>(_ row: S) -> Int {
            for a in row {
                // Equal is not always the same: -0.0 == 0.0, but plan.json writes them apart.
                if let known = positions[a], distinct[Int(known)].value.isIdentical(to: a.value) { cells.append(known); continue }
                if positions[a] == nil { positions[a] = UInt32(distinct.count) }
                cells.append(UInt32(distinct.count))
                distinct.append(a)
            }
            rowStarts.append(cells.count)
            return rowStarts.count - 2
        }

        public func build() -> PointAssignments { PointAssignments(distinct: distinct, cells: cells, rowStarts: rowStarts) }
    }
}

extension JSONValue {
    /// Equal and written the same (doubles compared bit for bit).
    func isIdentical(to other: JSONValue) -> Bool {
        switch (self, other) {
        case (.double(let a), .double(let b)): a.bitPattern == b.bitPattern
        case (.list(let a), .list(let b)): a.count == b.count && zip(a, b).allSatisfy { $0.isIdentical(to: $1) }
        case (.object(let a), .object(let b)):
            a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value.isIdentical(to: $1.value) }
        default: self == other
        }
    }
}
