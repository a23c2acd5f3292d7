// Verify — re-executes a finished run from its recorded plan (plan.json) with no
// cache, into a scratch output root, and checks that the result is the same bit
// for bit: every metric in metrics.json except timings (`time.*`, `latency.*`)
// compared as Double bit patterns, and the bytes of model.safetensors and of
// every compressed variant's checkpoint. Every difference is named.
//
// The spec is not re-planned to run anything: the recorded plan is what ran. When
// the run recorded other kernels than this machine has (another OpenBLAS core; no
// AVX2), verify says that bitwise equality is promised only for the same ones.
// When the experiment file is still there, it is re-planned only to say which
// recorded stages it no longer produces (the spec changed since).
import Engine
import Foundation
import FrontEnd
import Jobs
import Planner

public struct VerifyReport: Sendable {
    public var run: RunRecord
    /// What was re-run, for people.
    public var source: String
    /// The run directories the re-execution wrote.
    public var rerunDirs: [String]
    /// Differences, each naming the point, file and metric.
    public var differences: [String]
    /// Things worth knowing that are not differences (the spec changed since the run).
    public var notes: [String] = []
    public var comparedMetrics: Int
    public var comparedModels: Int
    public var passed: Bool { differences.isEmpty }
}

public enum Verify {
    /// Metrics that measure time, which no two runs share.
    public static func isTiming(_ metric: String) -> Bool { metric.hasPrefix("time.") || metric.hasPrefix("latency.") }

    /// Re-runs `run` into `scratch` (an output root of its own) and compares.
    public static func verify(_ run: RunRecord, scratch: String, progress: @escaping (String) -> Void) throws(RunStoreError) -> VerifyReport {
        let planPath = appendingPath(run.runFolder, "plan.json")
        var plan: Plan
        do { plan = try Plan.read(planPath) } catch {
            throw RunStoreError("cannot re-run \(run.path) from its recorded plan: \(error)")
        }
        let singlePoint = !run.isSweep && run.id.contains("/")
        if singlePoint, let label = run.points.first?.label { plan = plan.restricted(toLabels: [label]) }
        var report = VerifyReport(run: run, source: "the recorded plan \(planPath)", rerunDirs: [], differences: [],
                                  comparedMetrics: 0, comparedModels: 0)
        report.notes = specChanges(plan) + kernelChanges(run)
        let result: RunResult
        do { result = try LocalRunner.run(plan, options: RunOptions(outputRoot: scratch, useCache: false), progress: progress) }
        catch { throw RunStoreError("re-running \(run.path) failed: \(error)") }
        report.rerunDirs = [result.runDir]
        let prefix: (PointRecord) -> String = { p in run.isSweep || singlePoint ? p.label + "/" : "" }
        for point in run.points {
            guard let fresh = result.points.first(where: { $0.label == point.label }) else {
                report.differences.append("\(prefix(point)): the point is missing from the rerun")
                continue
            }
            compare(point, with: fresh, prefix: prefix(point), into: &report)
        }
        return report
    }

    /// The recorded stages that the experiment file, planned again now with the
    /// recorded overrides, no longer produces; empty when it is gone or unchanged.
    static func specChanges(_ plan: Plan) -> [String] {
        guard FileManager.default.fileExists(atPath: plan.file) else {
            return ["the experiment file \(plan.file) is gone; the recorded plan was re-run as it is"]
        }
        let now: Plan
        do { now = try PlanBuilder().plan(try ExperimentLoader().load(path: plan.file, overrides: plan.overrides)) } catch {
            return ["\(plan.file) no longer plans (\(error)); the recorded plan was re-run as it is"]
        }
        let current = Set(now.stages.map(\.hash))
        let stale = plan.stages.filter { $0.kind != .report && !current.contains($0.hash) }
        guard !stale.isEmpty else { return [] }
        return ["\(plan.file) changed since the run: \(stale.count) recorded stage(s) no longer match it ("
                + stale.prefix(6).map(\.id).joined(separator: ", ") + (stale.count > 6 ? ", …" : "") + "); the recorded plan was re-run"]
    }

    /// What differs between the kernels the run recorded (env.json) and this machine's:
    /// results are promised bitwise only on the same OpenBLAS core (tlc's own kernels
    /// give the same bits with AVX-512 or AVX2).
    static func kernelChanges(_ run: RunRecord) -> [String] {
        let env = RunStore.readJSON(appendingPath(run.runFolder, "env.json")) as? [String: Any] ?? [:]
        let blas = env["blas"] as? [String: Any] ?? [:]
        var notes: [String] = []
        if let core = blas["core"] as? String, core != KernelSet.blasCore {
            notes.append("the run used OpenBLAS's \(core) kernels and this machine uses \(KernelSet.blasCore): training results are "
                         + "bitwise equal only on the same OpenBLAS core (rerun with OPENBLAS_CORETYPE=\(core) to compare them)")
        }
        let kernels = env["kernels"] as? [String: Any] ?? [:]
        if let float = kernels["float"] as? String, float != KernelSet.float, float.hasPrefix("none") || KernelSet.float.hasPrefix("none") {
            notes.append("the run's float inference kernels were \(float) and this machine's are \(KernelSet.float): "
                         + "inference results are bitwise equal only when both have AVX2 or AVX-512")
        }
        if let pointwise = kernels["pointwise"] as? String, pointwise != KernelSet.pointwise {
            notes.append("the run's 1×1 convolutions ran on \(pointwise) and this machine's run on \(KernelSet.pointwise) "
                         + "(TLC_POINTWISE chooses): results are bitwise equal only on the same kernels")
        }
        return notes
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
        // The baseline checkpoint and every compressed variant's.
        let fm = FileManager.default
        let variants = Set(((try? fm.contentsOfDirectory(atPath: appendingPath(original.path, "variants"))) ?? [])
            + ((try? fm.contentsOfDirectory(atPath: appendingPath(fresh.runDir, "variants"))) ?? [])).sorted()
        // (The architectures they are built from are compared too, but are not models.)
        let checkpoints = ["model.safetensors"] + variants.filter { $0.hasSuffix(".safetensors") }.map { "variants/" + $0 }
        let architectures = ["architecture.json"] + variants.filter { $0.hasSuffix(".architecture.json") }.map { "variants/" + $0 }
        for file in checkpoints + architectures {
            let before = fm.contents(atPath: appendingPath(original.path, file))
            let after = fm.contents(atPath: appendingPath(fresh.runDir, file))
            if file.hasSuffix(".safetensors") { report.comparedModels += 1 }
            // Runs made before tlc recorded architectures have none to compare.
            else if before == nil { continue }
            switch (before, after) {
            case let (a?, b?) where a != b:
                let firstDifference = zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(a.count, b.count)
                report.differences.append("\(prefix)\(file): bytes differ (\(a.count) bytes originally, \(b.count) now;"
                                          + " first difference at byte \(firstDifference))")
            case (nil, _): report.differences.append("\(prefix)\(file): missing from the run directory")
            case (_, nil): report.differences.append("\(prefix)\(file): the rerun wrote none")
            default: break
            }
        }
    }
}
