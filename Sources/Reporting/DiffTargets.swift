// DiffTargets — turns what people type after `tlc diff` into the points to
// compare: run directories, run ids, `NAME@latest`, `NAME@N`, a sweep point as
// `REF/LABEL` (e.g. `head-sweep@latest/lr=3e-4,dense=64`) or a bare point label
// of a sweep named earlier on the line. A single sweep expands to all its points,
// compared with a baseline point (`--baseline LABEL`, default its first point);
// two sweeps alone are compared point by point (SweepDiff).
import Foundation
import Runtime

public enum DiffTargets {
    /// Two sweeps named alone (`tlc diff SWEEP_A SWEEP_B`, no --baseline), to compare
    /// point by point; nil when the references name anything else. A sweep next to
    /// one run is an error: there is nothing to pair its points with.
    public static func sweepPair(_ references: [String], store: RunStore, baseline: String?) throws(ReportError)
        -> (a: (run: RunRecord, sweep: SweepData), b: (run: RunRecord, sweep: SweepData))? {
        guard references.count == 2, baseline == nil else { return nil }
        let found = references.map { try? store.resolve($0) }
        guard let a = found[0], let b = found[1] else {
            // A sweep and a reference that names nothing (neither a run nor a point of the sweep): say so.
            guard let sweep = found[0] ?? found[1], sweep.isSweep else { return nil }
            let missing = references[found[0] == nil ? 0 : 1]
            let points = try SweepData.read(sweep.path).points
            if !missing.contains("/"), !points.contains(where: { $0.label == missing || $0.folder == missing }) {
                do { _ = try store.resolve(missing) } catch { throw ReportError(error.description) }
            }
            return nil
        }
        switch (a.isSweep, b.isSweep) {
        case (true, true): return ((a, try SweepData.read(a.path)), (b, try SweepData.read(b.path)))
        case (false, false): return nil
        default:
            let (sweepRef, sweep, runRef) = a.isSweep ? (references[0], a, references[1]) : (references[1], b, references[0])
            throw ReportError("'\(sweepRef)' is a sweep (\(sweep.points.count) points) but '\(runRef)' is one run, not a sweep: "
                              + "give two sweeps to compare them point by point, or name one point as \(sweepRef)/LABEL")
        }
    }

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
                                          + "give the sweep alone to compare every point with --baseline, "
                                          + "or give two sweeps alone to compare them point by point")
                    }
                } else {
                    points.append(try PointData.read(record.path))
                    // A point of a sweep (SWEEP/LABEL): labels after it name its siblings.
                    if record.id.contains("/") { lastSweep = try? SweepData.read(record.runFolder) }
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
