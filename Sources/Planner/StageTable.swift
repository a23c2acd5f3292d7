// StageTable — the stages a plan builder has made so far, in the order made, found
// by id, with the points that use each. Compact for big sweeps: each stage is held
// once (the plan takes the list as it is), a stage's id string is shared by every
// point that names it, and only a stage used by many points keeps a set of them
// for de-duplication (a short list is searched).
import Jobs

struct StageTable {
    /// Stages in the order they were added (dependencies first).
    private(set) var list: [Stage] = []
    private var index: [String: Int] = [:]
    /// The points of stages used by many points, by position.
    private var pointSets: [Int: Set<String>] = [:]
    /// Above this many points a stage's points are found through a set.
    private static let listSearchLimit = 32

    subscript(id: String) -> Stage? { index[id].map { list[$0] } }

    func contains(_ id: String) -> Bool { index[id] != nil }

    /// The id as the table holds it (one string for every point that names the stage).
    func sharedID(_ id: String) -> String? { index[id].map { list[$0].id } }

    /// Adds a stage not in the table yet.
    mutating func append(_ stage: Stage) {
        index[stage.id] = list.count
        list.append(stage)
        if stage.points.count > Self.listSearchLimit { pointSets[list.count - 1] = Set(stage.points) }
    }

    /// Records that `points` also use stage `id` (each point once).
    mutating func addPoints(_ points: [String], to id: String) {
        guard let i = index[id] else { return }
        for p in points {
            if list[i].points.last == p { continue }
            if pointSets[i] != nil {
                if pointSets[i]!.insert(p).inserted { list[i].points.append(p) }
            } else if !list[i].points.contains(p) {
                list[i].points.append(p)
                if list[i].points.count > Self.listSearchLimit { pointSets[i] = Set(list[i].points) }
            }
        }
    }

    /// Hands the stages over (the table is left empty), so the plan owns the only copy.
    mutating func takeList() -> [Stage] {
        defer { list = []; index = [:]; pointSets = [:] }
        return list
    }
}
