// SearchSpace — a sweep seen as the discrete space evolution and the REINFORCE
// controller search: each swept path and its values, and the configuration (sweep
// point) each combination of values is. A `grid` holds every combination; a
// `random`, `zip` or `cases` sweep (or a grid with rejected configurations) holds
// only some. Mutating a configuration changes one path's value where the space has
// that neighbour, else moves to a nearest configuration (the fewest paths changed);
// the controller draws one value per path (on a grid) or a configuration with the
// product of the paths' probabilities (elsewhere).
import Foundation

public struct SearchSpace: Hashable, Sendable {
    /// Swept paths, in label order.
    public var paths: [String]
    /// Each path's values, in the order the sweep first gives them.
    public var values: [String: [SpecValue]]
    /// The configuration (index into the sweep's points; the first of equal ones) of each choice of value indices.
    private var index: [[Int]: Int]
    /// Each configuration's value indices, per path.
    public var choices: [[Int]]
    /// Every combination of the paths' values is a configuration, each once.
    public var isGrid: Bool
    /// The distinct configurations (the first of equal ones), in sweep order.
    public var distinct: [Int]

    public func configuration(_ choice: [Int]) -> Int? { index[choice] }

    /// How many paths two configurations differ in.
    public func distance(_ a: Int, _ b: Int) -> Int { zip(choices[a], choices[b]).filter { $0 != $1 }.count }

    /// The distinct configurations other than `c` that differ from it in the fewest
    /// paths (one, where the space has such neighbours), in sweep order.
    public func neighbours(of c: Int) -> [Int] {
        let others = distinct.filter { distance($0, c) > 0 }
        guard let nearest = others.map({ distance($0, c) }).min() else { return [] }
        return others.filter { distance($0, c) == nearest }
    }

    /// "path: old → new" for each path where `b` differs from `a`.
    public func change(from a: Int, to b: Int) -> String {
        paths.indices.filter { choices[a][$0] != choices[b][$0] }.map { p in
            "\(paths[p]): \(values[paths[p]]![choices[a][p]].compactText) → \(values[paths[p]]![choices[b][p]].compactText)"
        }.joined(separator: ", ")
    }

    /// The space of `points`, which must all set the same swept fields.
    public static func make(_ points: [ExperimentPoint]) -> Result<SearchSpace, SearchScheduleError> {
        guard let first = points.first, !first.assignments.isEmpty else {
            return .failure(SearchScheduleError(message: "needs a sweep of at least one field", fix: "sweep some fields with grid, random or cases"))
        }
        let paths = first.assignments.map(\.path)
        var values: [String: [SpecValue]] = [:]
        var choices: [[Int]] = []
        var index: [[Int]: Int] = [:]
        var distinct: [Int] = []
        for (i, p) in points.enumerated() {
            guard p.assignments.map(\.path) == paths else {
                return .failure(SearchScheduleError(message: "needs every configuration to set the same fields", fix: "sweep with grid, random or cases"))
            }
            let choice = p.assignments.map { a -> Int in
                var known = values[a.path] ?? []
                if let j = known.firstIndex(of: a.value) { return j }
                known.append(a.value)
                values[a.path] = known
                return known.count - 1
            }
            if index[choice] == nil { index[choice] = i; distinct.append(i) }
            choices.append(choice)
        }
        guard distinct.count >= 2 else {
            return .failure(SearchScheduleError(message: "needs at least two different configurations; the sweep has \(distinct.count)",
                                                fix: "sweep more than one value"))
        }
        let combinations = paths.reduce(1) { n, path in
            let (product, overflow) = n.multipliedReportingOverflow(by: values[path]?.count ?? 1)
            return overflow ? Int.max : product
        }
        return .success(SearchSpace(paths: paths, values: values, index: index, choices: choices,
                                    isGrid: combinations == points.count && distinct.count == points.count, distinct: distinct))
    }
}
