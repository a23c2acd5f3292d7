// Verify — re-executes a finished run from its spec with no cache, into a scratch
// output root, and checks that the result is the same bit for bit: every metric
// in metrics.json except timings (`time.*`, `latency.*`) compared as Double bit
// patterns, and the bytes of model.safetensors. Every difference is named.
//
// The spec is re-loaded from the original experiment file recorded in plan.json
// (so `extends` and `run:` references resolve as they did), provided it still
// resolves to what each point's resolved.yaml says; otherwise each point is
// re-run from its own resolved.yaml (a sweep point as a one-point sweep with its
// recorded assignments, so its label and checkpoint metadata stay the same).
import Foundation
import FrontEnd
import Planner

public struct VerifyReport: Sendable {
    public var run: RunRecord
    /// How the spec was re-loaded, for people.
    public var source: String
    /// The run directories the re-execution wrote.
    public var rerunDirs: [String]
    /// Differences, each naming the point, file and metric.
    public var differences: [String]
    public var comparedMetrics: Int
    public var comparedModels: Int
    public var passed: Bool { differences.isEmpty }
}

public enum Verify {
    /// Metrics that measure time, which no two runs share.
    public static func isTiming(_ metric: String) -> Bool { metric.hasPrefix("time.") || metric.hasPrefix("latency.") }

    /// Re-runs `run` into `scratch` (an output root of its own) and compares.
    public static func verify(_ run: RunRecord, scratch: String, progress: @escaping (String) -> Void) throws(RunStoreError) -> VerifyReport {
        var report = VerifyReport(run: run, source: "", rerunDirs: [], differences: [], comparedMetrics: 0, comparedModels: 0)
        let options = RunOptions(outputRoot: scratch, useCache: false)
        let prefix: (PointRecord) -> String = { p in run.isSweep || run.id.contains("/") ? p.label + "/" : "" }

        if let original = reloadOriginal(run) {
            report.source = original.file
            let result = try execute(original, options: options, progress: progress)
            report.rerunDirs = [result.runDir]
            for point in run.points {
                guard let fresh = result.points.first(where: { $0.label == point.label }) else {
                    report.differences.append("\(prefix(point)): the point is missing from the rerun")
                    continue
                }
                compare(point, with: fresh, prefix: prefix(point), into: &report)
            }
        } else {
            report.source = "resolved.yaml of each point"
            let sweepPoints = run.isSweep || run.id.contains("/") ? sweepAssignments(appendingPath(run.runFolder, "plan.json")) : [:]
            for (i, point) in run.points.enumerated() {
                let resolved = appendingPath(point.path, "resolved.yaml")
                let pointDir = appendingPath(scratch, String(i))
                let loaded: LoadedExperiment
                do {
                    // A sweep point is re-run as a one-point sweep so that its label
                    // (which the checkpoint's metadata records) stays the same.
                    var text = try String(contentsOfFile: resolved, encoding: .utf8)
                    if let assignments = sweepPoints[point.label], !assignments.isEmpty {
                        text += "\nsweep:\n  grid:\n" + assignments.map { "    \($0.key): [\($0.value.canonicalJSON)]\n" }.joined()
                    }
                    try FileManager.default.createDirectory(atPath: pointDir, withIntermediateDirectories: true)
                    let file = appendingPath(pointDir, "resolved.yaml")
                    try text.write(toFile: file, atomically: true, encoding: .utf8)
                    loaded = try ExperimentLoader().load(path: file)
                } catch let error as DiagnosticError {
                    throw RunStoreError("cannot re-load \(resolved): " + error.diagnostics.map(\.description).joined(separator: "; "))
                } catch {
                    throw RunStoreError("cannot re-load \(resolved): \(error)")
                }
                let pointOptions = RunOptions(outputRoot: pointDir, useCache: false)
                let result = try execute(loaded, options: pointOptions, progress: progress)
                report.rerunDirs.append(result.runDir)
                guard let fresh = result.points.first else { continue }
                compare(point, with: fresh, prefix: prefix(point), into: &report)
            }
        }
        return report
    }

    /// The original experiment file, loaded, when it still resolves to the spec
    /// every point of the run was made from.
    static func reloadOriginal(_ run: RunRecord) -> LoadedExperiment? {
        guard let file = run.specFile, FileManager.default.fileExists(atPath: file),
              let loaded = try? ExperimentLoader().load(path: file) else { return nil }
        for point in run.points {
            let spec = loaded.hasSweep ? loaded.points.first { $0.label == point.label }?.spec : loaded.base
            guard let spec, let node = try? YAMLParser.parse(fileAt: appendingPath(point.path, "resolved.yaml")),
                  ExperimentLoader.specValue(node).canonicalJSON == spec.specValue.canonicalJSON else { return nil }
        }
        return loaded
    }

    /// Each sweep point's assignments (path → value) by label, from a plan.json
    /// (read as YAML, which keeps integers and doubles apart).
    static func sweepAssignments(_ planPath: String) -> [String: [SpecEntry]] {
        guard let node = try? YAMLParser.parse(fileAt: planPath),
              case .list(let points)? = ExperimentLoader.specValue(node)["points"] else { return [:] }
        var out: [String: [SpecEntry]] = [:]
        for p in points {
            if case .string(let label)? = p["label"], case .map(let entries)? = p["assignments"] { out[label] = entries }
        }
        return out
    }

    static func execute(_ loaded: LoadedExperiment, options: RunOptions,
                        progress: @escaping (String) -> Void) throws(RunStoreError) -> RunResult {
        do {
            let plan = try PlanBuilder().plan(loaded)
            return try LocalRunner.run(plan, loaded: loaded, options: options, progress: progress)
        } catch let error as PlanError {
            throw RunStoreError("cannot plan \(loaded.file): \(error.description)")
        } catch {
            throw RunStoreError("re-running \(loaded.file) failed: \(error)")
        }
    }

    /// Compares one original point with its re-executed counterpart.
    static func compare(_ original: PointRecord, with fresh: PointResult, prefix: String, into report: inout VerifyReport) {
        if original.status != fresh.status {
            report.differences.append("\(prefix)status: \(original.status) originally, \(fresh.status) now"
                                      + (fresh.error.map { " (\($0))" } ?? ""))
            return
        }
        guard original.status == "succeeded" else { return }
        let now = RunStore.readMetrics(appendingPath(fresh.runDir, "metrics.json")) ?? [:]
        for key in Set(original.metrics.keys).union(now.keys).sorted() where !isTiming(key) {
            switch (original.metrics[key], now[key]) {
            case let (a?, b?):
                report.comparedMetrics += 1
                if a.bitPattern != b.bitPattern {
                    report.differences.append("\(prefix)metrics.json: \(key): \(a) originally, \(b) now")
                }
            case (_?, nil): report.differences.append("\(prefix)metrics.json: \(key) is missing from the rerun")
            case (nil, _?): report.differences.append("\(prefix)metrics.json: \(key) appears only in the rerun")
            case (nil, nil): break
            }
        }
        let before = FileManager.default.contents(atPath: appendingPath(original.path, "model.safetensors"))
        let after = FileManager.default.contents(atPath: appendingPath(fresh.runDir, "model.safetensors"))
        report.comparedModels += 1
        switch (before, after) {
        case let (a?, b?) where a != b:
            let firstDifference = zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(a.count, b.count)
            report.differences.append("\(prefix)model.safetensors: bytes differ (\(a.count) bytes originally, \(b.count) now;"
                                      + " first difference at byte \(firstDifference))")
        case (nil, _): report.differences.append("\(prefix)model.safetensors: missing from the run directory")
        case (_, nil): report.differences.append("\(prefix)model.safetensors: the rerun wrote none")
        default: break
        }
    }
}
