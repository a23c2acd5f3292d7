// SlurmSubmission — how a plan becomes Slurm jobs, as plain data (planning is
// separate from doing: this file runs nothing). Stages already in the cache, and
// stages a job still queued or running is computing, are left out. Shared stages
// (used by several points: data, normalization, a pretrained backbone, frozen
// features) become one job each that runs once; the stages of the sweep points
// become one job array, one task per point running that point's stages in order.
// Jobs wait for the jobs of the stages they read with `--dependency=afterok:…`.
import Foundation
import Jobs
import Planner

/// One job (or job array) of a submission.
public struct SlurmJob: Codable, Sendable, Equatable {
    public enum Role: String, Codable, Sendable {
        /// One shared stage, run once.
        case shared
        /// The sweep points: a job array, one task per point.
        case points
    }
    public var role: Role
    /// File-name-safe name: `data.load-3f2a9c1b20` or `points`.
    public var name: String
    /// Stage hashes each task runs, in order (a shared job has one task).
    public var tasks: [[String]]
    /// What each task is, for people: the stage's summary or the point's label.
    public var labels: [String]
    /// Indices of jobs earlier in this submission that this one waits for.
    public var after: [Int]
    /// Jobs of earlier submissions, still queued or running, this one waits for ("12", "13_2").
    public var afterInFlight: [String]
    /// The Slurm job id, once submitted.
    public var id: String?

    public var isArray: Bool { role == .points }

    /// The Slurm name of task `i`: `12` for a single job, `13_2` for an array task.
    public func reference(task i: Int) -> String? {
        guard let id else { return nil }
        return isArray ? "\(id)_\(i)" : id
    }
}

public enum SlurmSubmissionPlanner {
    /// The jobs to submit for `plan`. `isComplete` says whether a stage's cache entry
    /// exists; `inFlight` maps stage hashes to the Slurm job or task computing them now.
    public static func jobs(for plan: Plan, isComplete: (Stage) -> Bool, inFlight: [String: String] = [:]) -> [SlurmJob] {
        let byID = Dictionary(plan.stages.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let missing = plan.stages.filter { $0.kind != .report && inFlight[$0.hash] == nil && !isComplete($0) }
        // A stage used by one point only belongs to that point's array task (the stages
        // a shared stage reads are shared too, so tasks never feed shared jobs).
        let onePoint = plan.points.count > 1 ? missing.filter { $0.points.count == 1 } : missing
        let onePointIDs = Set(onePoint.map(\.id))

        var jobs: [SlurmJob] = []
        var jobOfStage: [String: Int] = [:]
        func waits(for stages: [Stage]) -> (after: [Int], inFlight: [String]) {
            var after = Set<Int>(), refs = Set<String>()
            for s in stages {
                for dep in s.deps {
                    if let j = jobOfStage[dep] { after.insert(j) }
                    if let d = byID[dep], let ref = inFlight[d.hash] { refs.insert(ref) }
                }
            }
            return (after.sorted(), refs.sorted())
        }
        for stage in missing where !onePointIDs.contains(stage.id) {
            let w = waits(for: [stage])
            jobOfStage[stage.id] = jobs.count
            jobs.append(SlurmJob(role: .shared, name: "\(stage.kind.rawValue)-\(stage.hash.prefix(10))", tasks: [[stage.hash]],
                                 labels: [stage.summary], after: w.after, afterInFlight: w.inFlight))
        }
        var tasks: [[String]] = [], labels: [String] = [], taskStages: [Stage] = []
        for point in plan.points {
            let stages = onePoint.filter { $0.points.first == point.id }
            guard !stages.isEmpty else { continue }
            tasks.append(stages.map(\.hash))
            labels.append(point.label.isEmpty ? plan.experiment : point.label)
            taskStages += stages
        }
        if !tasks.isEmpty {
            let w = waits(for: taskStages)
            jobs.append(SlurmJob(role: .points, name: "points", tasks: tasks, labels: labels, after: w.after, afterInFlight: w.inFlight))
        }
        return jobs
    }

    /// The batch script of a job: `#SBATCH` lines, then the tlc binary on the job's
    /// stages (an array task picks its point's stages by SLURM_ARRAY_TASK_ID).
    static func script(for job: SlurmJob, experiment: String, submissionFile: String, logDir: String, workDir: String,
                       settings: SlurmSettings, tlc: String) -> String {
        var lines = ["#!/bin/bash",
                     "# tlc: \(job.isArray ? "the sweep points" : "a shared stage") of '\(experiment)'; written by `tlc run --executor slurm`.",
                     "#SBATCH --job-name=tlc:\(experiment):\(job.name)",
                     "#SBATCH --output=\(logDir)/\(job.name)-\(job.isArray ? "%A_%a" : "%j").out",
                     "#SBATCH --chdir=\(workDir)"]
        if job.isArray { lines.append("#SBATCH --array=0-\(job.tasks.count - 1)") }
        lines += settings.directives.map { "#SBATCH \($0)" }
        lines.append("set -euo pipefail")
        let command = "exec \(shellQuote(tlc)) exec-stage \(shellQuote(submissionFile))"
        if job.isArray {
            lines.append("case \"$SLURM_ARRAY_TASK_ID\" in")
            for (i, task) in job.tasks.enumerated() {
                lines.append("  \(i)) stages=\"\(task.joined(separator: " "))\" ;;  # \(job.labels[i].replacingOccurrences(of: "\n", with: " "))")
            }
            lines.append("  *) echo \"tlc: no task $SLURM_ARRAY_TASK_ID in this array\" >&2; exit 2 ;;")
            lines.append("esac")
            lines.append("\(command) $stages")
        } else {
            lines.append("# \(job.labels.first ?? "")")
            lines.append("\(command) \(job.tasks[0].joined(separator: " "))")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func shellQuote(_ s: String) -> String {
        if !s.isEmpty && s.allSatisfy({ $0.isLetter || $0.isNumber || "/._-+=:,@".contains($0) }) { return s }
        return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
