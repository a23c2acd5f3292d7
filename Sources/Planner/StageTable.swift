// StageTable — the stages a plan builder has made so far, in the order made, found
// by id, with the points that use each. Compact for big sweeps: each stage is held
// once (the plan takes the list as it is), a stage's id string is shared by every
// point that names it, a stage made again is found by its work's fingerprint
// without hashing it again, and a stage's points are a plain list, made unique
// once when the plan takes it (not kept in a set per stage while planning).
import Jobs

struct StageTable {
    /// Stages in the order they were added (dependencies first).
    private(set) var list: [Stage] = []
    private var index: [String: Int] = [:]
    /// Stages by the fingerprint of their work and dependencies: a stage made again
    /// is found without hashing its work (see WorkFingerprint).
    private var byFingerprint: [WorkFingerprint: Int] = [:]

    subscript(id: String) -> Stage? { index[id].map { list[$0] } }

    func contains(_ id: String) -> Bool { index[id] != nil }

    /// The id as the table holds it (one string for every point that names the stage).
    func sharedID(_ id: String) -> String? { index[id].map { list[$0].id } }

    /// The id of the stage with this fingerprint, if made before.
    func id(for fingerprint: WorkFingerprint) -> String? { byFingerprint[fingerprint].map { list[$0].id } }

    mutating func remember(_ fingerprint: WorkFingerprint, of id: String) { byFingerprint[fingerprint] = index[id] }

    /// The content hash of stage `id`, which must be in the table.
    func hash(of id: String) -> String { list[index[id]!].hash }

    /// Makes room for `count` more stages.
    mutating func reserveCapacity(forMore count: Int) {
        list.reserveCapacity(list.count + count)
        index.reserveCapacity(list.count + count)
    }

    /// Adds a stage not in the table yet.
    mutating func append(_ stage: Stage) {
        index[stage.id] = list.count
        list.append(stage)
    }

    /// Records that `points` also use stage `id`. A point lowers its stages in one
    /// go, so a repeat is mostly the last point; others are dropped by `takeList`.
    mutating func addPoints(_ points: [String], to id: String) {
        guard let i = index[id] else { return }
        for p in points where list[i].points.last != p { list[i].points.append(p) }
    }

    /// Hands the stages over (the table is left empty), each point once per stage,
    /// in the order first met, so the plan owns the only copy.
    mutating func takeList() -> [Stage] {
        var stages = list
        list = []
        index = [:]
        byFingerprint = [:]
        for i in stages.indices where stages[i].points.count > 1 {
            stages[i].points = Self.unique(stages[i].points)
        }
        return stages
    }

    static func unique(_ points: [String]) -> [String] {
        if points.count <= 32 {
            var out: [String] = []
            for p in points where !out.contains(p) { out.append(p) }
            return out.count == points.count ? points : out
        }
        var seen = Set<String>(minimumCapacity: points.count)
        let out = points.filter { seen.insert($0).inserted }
        return out.count == points.count ? points : out
    }
}
