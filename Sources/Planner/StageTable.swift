// StageTable — the stages a plan builder has made so far, in the order made, found
// by id, with the points that use each. Compact for big sweeps: each stage is held
// once (the plan takes the list as it is), and only a stage shared by several
// points keeps a set of them for de-duplication.
import Jobs

struct StageTable {
    /// Stages in the order they were added (dependencies first).
    private(set) var list: [Stage] = []
    private var index: [String: Int] = [:]
    /// The points of stages used by more than one point, by position.
    private var pointSets: [Int: Set<String>] = [:]

    subscript(id: String) -> Stage? { index[id].map { list[$0] } }

    func contains(_ id: String) -> Bool { index[id] != nil }

    /// Adds a stage not in the table yet.
    mutating func append(_ stage: Stage) {
        index[stage.id] = list.count
        list.append(stage)
        if stage.points.count > 1 { pointSets[list.count - 1] = Set(stage.points) }
    }

    /// Records that `points` also use stage `id` (each point once).
    mutating func addPoints(_ points: [String], to id: String) {
        guard let i = index[id] else { return }
        for p in points {
            if list[i].points.last == p { continue }
            if pointSets[i] == nil { pointSets[i] = Set(list[i].points) }
            if pointSets[i]!.insert(p).inserted { list[i].points.append(p) }
        }
    }
}
