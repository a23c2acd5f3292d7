// DiffTargets — turns what people type after `tlc diff` into the points to
// compare: run directories, run ids, `NAME@latest`, `NAME@N`, a sweep point as
// `REF/LABEL` (e.g. `head-sweep@latest/lr=3e-4,dense=64`) or a bare point label
// of a sweep named earlier on the line. A single sweep expands to all its points,
// compared with a baseline point (`--baseline LABEL`, default its first point).
import Foundation
import Runtime

public enum DiffTargets {
    public static func resolve(_ references: [String], store: RunStore, baseline: String? = nil) throws(ReportError) -> [PointData] {
        guard !references.isEmpty else { throw ReportError("give two or more runs to compare, or one sweep") }
        var points: [PointData] = []
        var lastSweep: SweepData?
        for ref in references {
            if let record = try? store.resolve(ref) {
                if record.isSweep {
                    let sweep = try SweepData.read(record.path)
                    lastSweep = sweep
                    if references.count == 1 {
                        points += try sweepPoints(sweep, baseline: baseline)
                    } else if let baseline {
                        points.append(try point(baseline, of: sweep, ref: ref))
                    } else {
                        throw ReportError("'\(ref)' is a sweep (\(sweep.points.count) points): name a point as \(ref)/LABEL, "
                                          + "or give the sweep alone to compare every point with --baseline")
                    }
                } else {
                    points.append(try PointData.read(record.path))
                }
                continue
            }
            // REF/LABEL: a point of a sweep.
            if let slash = ref.firstIndex(of: "/"), !FileManager.default.fileExists(atPath: ref) {
                let head = String(ref[..<slash]), label = String(ref[ref.index(after: slash)...])
                if let record = try? store.resolve(head), record.isSweep {
                    let sweep = try SweepData.read(record.path)
                    lastSweep = sweep
                    points.append(try point(label, of: sweep, ref: ref))
                    continue
                }
            }
            if let sweep = lastSweep, let p = try? point(ref, of: sweep, ref: ref) {
                points.append(p)
                continue
            }
            do { _ = try store.resolve(ref) } catch { throw ReportError(error.description) }
        }
        guard points.count >= 2 else {
            throw ReportError("nothing to compare: \(references.joined(separator: " ")) names \(points.count) run point; give two or more")
        }
        return points
    }

    /// Every succeeded point of a sweep, the baseline first.
    static func sweepPoints(_ sweep: SweepData, baseline: String?) throws(ReportError) -> [PointData] {
        var ok = sweep.points.filter { $0.status == "succeeded" }
        // Plan order (the leaderboard ranks them): the order the grid spells.
        let order = sweep.planOrder
        ok.sort { (order.firstIndex(of: $0.label) ?? 0) < (order.firstIndex(of: $1.label) ?? 0) }
        if let baseline {
            guard let i = ok.firstIndex(where: { $0.label == baseline || $0.folder == baseline }) else {
                throw ReportError("the sweep has no succeeded point '\(baseline)'; points: \(ok.map(\.label).joined(separator: ", "))")
            }
            ok.insert(ok.remove(at: i), at: 0)
        }
        var out: [PointData] = []
        for p in ok { out.append(try PointData.read(path(sweep.dir, p.folder))) }
        return out
    }

    static func point(_ label: String, of sweep: SweepData, ref: String) throws(ReportError) -> PointData {
        guard let p = sweep.points.first(where: { $0.label == label || $0.folder == label }) else {
            throw ReportError("'\(ref)': the sweep \(sweep.dir) has no point '\(label)'; points: "
                              + sweep.points.map(\.label).joined(separator: ", "))
        }
        return try PointData.read(path(sweep.dir, p.folder))
    }
}
