// AshaSearch — asynchronous successive halving (Li et al. 2020, "A System for
// Massively Parallel Hyperparameter Tuning"). Successive halving's rungs (min_epochs ·
// etaᵏ epochs, the last max_epochs), but no rung waits for the one below it to end:
// with `--jobs N` there are N workers, and a worker that is free gets a job at once —
//   1. from the highest rung k down: the best configuration among the top ⌊n_k / eta⌋
//      of the n_k configurations *completed* at rung k so far that has not been
//      promoted yet is promoted to rung k + 1 (it continues its cached training: the
//      schedule spans max_epochs, so it trains only the extra epochs);
//   2. else the next configuration not started yet (the sweep's configurations in an
//      order shuffled with `search.seed`) starts at rung 0;
//   3. else the worker waits for a running job to end.
// The search stops when every configuration has started, nothing is promotable and
// nothing is running. The winner is the best configuration of the last rung.
//
// Promotions depend on the order in which trainings end, so every decision ("start",
// "promote") is appended to the decision journal (synced) before its training
// starts, and every result when it arrives; the next decision is made only from what
// the journal holds before it. A rerun replays the journal first — checking that each
// recorded decision is the one the rule makes from the results before it — then
// trains the decisions that have no result yet (a kill interrupted them), then goes
// on deciding: it contradicts no recorded decision and recomputes no finished
// training. With `--jobs 1` the search is deterministic (one job at a time: the
// results arrive in decision order). Through Slurm each decision is its own wave of
// jobs (one configuration's stages), up to `--jobs` waves in flight at once.
import Engine
import Foundation
import FrontEnd
import Jobs
import Planner

enum AshaSearch {
    /// Train `configuration` to the epochs of rung `rung`.
    struct Job: Hashable, Sendable {
        var configuration: Int
        var rung: Int
    }

    struct Decision: Hashable {
        var event: String   // "start" or "promote"
        var job: Job
    }

    /// What ASHA knows: the results so far and what it decided.
    struct State {
        let eta: Int
        let maximize: Bool
        /// Epochs of each rung.
        let rungEpochs: [Int]
        /// The order new configurations start in.
        let order: [Int]
        var started = 0
        /// Each rung's results, in the order they arrived.
        var completed: [[SearchRunner.Trial]]
        /// The configurations promoted out of each rung.
        var promoted: [Set<Int>]

        init(eta: Int, maximize: Bool, rungEpochs: [Int], order: [Int]) {
            self.eta = eta; self.maximize = maximize; self.rungEpochs = rungEpochs; self.order = order
            completed = rungEpochs.map { _ in [] }
            promoted = rungEpochs.map { _ in [] }
        }

        /// Best first; equal metrics by configuration index.
        func ranked(_ trials: [SearchRunner.Trial]) -> [SearchRunner.Trial] {
            trials.sorted { a, b in
                a.metric != b.metric ? (maximize ? a.metric > b.metric : a.metric < b.metric) : a.configuration < b.configuration
            }
        }

        /// The job a free worker gets now, or nil (wait, or the search is over).
        func next() -> Decision? {
            for k in stride(from: rungEpochs.count - 2, through: 0, by: -1) {
                let top = completed[k].count / eta
                guard top > 0 else { continue }
                if let t = ranked(completed[k]).prefix(top).first(where: { !promoted[k].contains($0.configuration) }) {
                    return Decision(event: "promote", job: Job(configuration: t.configuration, rung: k + 1))
                }
            }
            return started < order.count ? Decision(event: "start", job: Job(configuration: order[started], rung: 0)) : nil
        }

        mutating func apply(_ d: Decision) {
            if d.event == "start" { started += 1 } else { promoted[d.job.rung - 1].insert(d.job.configuration) }
        }
    }

    struct Outcome {
        var state: State
        /// Every decision, in the order it was made.
        var decisions: [Decision]
        var winner: SearchRunner.Trial
        var epochsTrained: Int
        var flops: Double
        var workers: Int
    }

    /// The sweep's configurations in the order ASHA starts them.
    static func order(count: Int, seed: Int) -> [Int] {
        var rng = SeededGenerator(seed: UInt64(truncatingIfNeeded: seed)).split(label: "search.asha")
        var order = Array(0..<count)
        rng.shuffle(&order)
        return order
    }

    static func run(_ experiment: LoadedExperiment, search: SearchSpec, schedule: SearchSchedule, journal: inout SearchJournal,
                    plan: (LoadedExperiment) throws -> Plan, options: RunOptions,
                    progress: @escaping @Sendable (String) -> Void) throws -> Outcome {
        guard let rungs = schedule.brackets.first?.rungs, rungs.count >= 2 else { throw SearchError("asha needs at least two rungs") }
        let configurations = experiment.points
        let labels = configurations.map(\.label)
        let rungEpochs = rungs.map(\.epochs)
        var state = State(eta: search.eta, maximize: search.maximize, rungEpochs: rungEpochs,
                          order: order(count: configurations.count, seed: search.seed))
        var decisions: [Decision] = []
        func disagree(_ what: String) -> SearchError {
            SearchError("the decision journal \(journal.path) disagrees with this search (\(what); another spec under the same name?); remove it to start the search over")
        }

        // 1. Replay: every decision must be the rule's, given the results before it.
        var pending: [Job] = []
        for e in journal.entries {
            guard let event = e.event, e.bracket == 0, (0..<rungEpochs.count).contains(e.rung),
                  configurations.indices.contains(e.configuration) else { throw disagree("a line that is not an asha entry") }
            let job = Job(configuration: e.configuration, rung: e.rung)
            if event == "result" {
                guard let i = pending.firstIndex(of: job) else { throw disagree("a result of \(e.label) at rung \(e.rung + 1) that was never decided") }
                pending.remove(at: i)
                state.completed[e.rung].append(SearchRunner.Trial(configuration: e.configuration, metric: e.metric,
                                                                  size: e.params.map { SearchRunner.ModelSize(params: $0, flops: e.forwardFLOPs ?? 0) }))
            } else {
                let d = Decision(event: event, job: job)
                guard state.next() == d else { throw disagree("\(event) \(e.label) at rung \(e.rung + 1) is not what the results before it decide") }
                state.apply(d)
                decisions.append(d)
                pending.append(job)
            }
        }
        if !journal.entries.isEmpty {
            let results = state.completed.reduce(0) { $0 + $1.count }
            progress("asha: replayed \(decisions.count) decisions and \(results) results from the journal"
                     + (pending.isEmpty ? "" : "; \(pending.count) decided trainings had not finished and run first"))
        }

        // 2. Workers: each free one gets the next job; results come back to this thread.
        let workers = max(1, options.jobs)
        let queue = DispatchQueue(label: "tlc.asha.workers", attributes: .concurrent)
        let lock = NSLock()
        let arrived = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var finished: [(Job, Result<(metrics: [Double], sizes: [SearchRunner.ModelSize?], flops: Double), Error>)] = []
        var running = 0
        var failure: Error?
        var epochsTrained = 0, flops = 0.0
        let entry = { (job: Job, event: String, metric: Double, size: SearchRunner.ModelSize?) in
            SearchJournal.Entry(bracket: 0, rung: job.rung, configuration: job.configuration, label: labels[job.configuration],
                                epochs: rungEpochs[job.rung], metric: metric, promoted: false, params: size?.params,
                                forwardFLOPs: size?.flops, event: event)
        }
        while true {
            while running < workers && failure == nil && !options.cancellation.isCancelled {
                let job: Job
                if !pending.isEmpty {
                    job = pending.removeFirst()
                    progress("asha: rung \(job.rung + 1) (\(rungEpochs[job.rung]) epochs): \(labels[job.configuration]) (decided before, resumed)")
                } else if let d = state.next() {
                    // Journaled (and synced) before it acts.
                    do { try journal.append([entry(d.job, d.event, 0, nil)]) } catch { failure = error; break }
                    state.apply(d)
                    decisions.append(d)
                    job = d.job
                    progress(d.event == "start" ? "asha: start \(labels[job.configuration]) at rung 1 (\(rungEpochs[0]) epoch\(rungEpochs[0] == 1 ? "" : "s"))"
                             : "asha: promote \(labels[job.configuration]) to rung \(job.rung + 1) (\(rungEpochs[job.rung]) epochs)")
                } else { break }
                let training: SearchRunner.Training
                do {
                    training = try SearchRunner.prepare([configurations[job.configuration]], ladder: Array(rungEpochs[0...job.rung]),
                                                        budget: search.maxEpochs, experiment: experiment, plan: plan)
                } catch { failure = error; break }
                running += 1
                queue.async {
                    let result = Result { try training.execute(search: search, options: options, progress: progress) }
                    lock.lock(); finished.append((job, result)); lock.unlock()
                    arrived.signal()
                }
            }
            if running == 0 { break }
            arrived.wait()
            lock.lock(); let (job, result) = finished.removeFirst(); lock.unlock()
            running -= 1
            switch result {
            case .success(let outcome):
                let trial = SearchRunner.Trial(configuration: job.configuration, metric: outcome.metrics[0], size: outcome.sizes[0])
                do { try journal.append([entry(job, "result", trial.metric, trial.size)]) } catch { failure = failure ?? error; continue }
                state.completed[job.rung].append(trial)
                flops += outcome.flops
                if outcome.flops > 0 { epochsTrained += rungEpochs[job.rung] - (job.rung > 0 ? rungEpochs[job.rung - 1] : 0) }
                progress("asha: rung \(job.rung + 1) result \(labels[job.configuration]): \(search.metric) \(SearchRunner.format(trial.metric))")
            case .failure(let error):
                failure = failure ?? error
            }
        }
        if let failure { throw failure }
        if options.cancellation.isCancelled { throw SearchError("cancelled") }
        guard let winner = state.ranked(state.completed[rungEpochs.count - 1]).first else {
            throw SearchError("asha: no configuration reached the last rung (\(search.maxEpochs) epochs)")
        }
        return Outcome(state: state, decisions: decisions, winner: winner, epochsTrained: epochsTrained, flops: flops, workers: workers)
    }

    /// search.json of an ASHA search: the rungs (as one bracket, for the rung chart),
    /// every decision in order, the winner and what the search cost.
    static func summary(_ outcome: Outcome, search: SearchSpec, journal: SearchJournal, labels: [String]) throws -> Data {
        let state = outcome.state
        var spent = 0
        for (k, results) in state.completed.enumerated() {
            spent += results.count * (state.rungEpochs[k] - (k > 0 ? state.rungEpochs[k - 1] : 0))
        }
        let object: [String: Any] = [
            "method": search.method.rawValue, "eta": search.eta, "min_epochs": search.minEpochs, "max_epochs": search.maxEpochs,
            "metric": search.metric, "seed": search.seed, "winner": labels[outcome.winner.configuration],
            "pareto": SearchRunner.pareto(journal, search: search),
            "workers": outcome.workers,
            "stopping": "every configuration started, none promotable, none running",
            "epochs_trained": spent, "epochs_exhaustive": labels.count * search.maxEpochs,
            "epochs_trained_by_this_process": outcome.epochsTrained, "train_flops_by_this_process": outcome.flops,
            "decisions": outcome.decisions.map { d in
                ["event": d.event, "configuration": labels[d.job.configuration], "rung": d.job.rung + 1, "epochs": state.rungEpochs[d.job.rung]] as [String: Any]
            },
            "brackets": [[
                "configurations": state.order.map { labels[$0] },
                "rungs": state.rungEpochs.enumerated().map { k, epochs in
                    ["epochs": epochs, "trained": state.completed[k].map { t in
                        ["configuration": labels[t.configuration], search.metric: t.metric, "promoted": state.promoted[k].contains(t.configuration)] as [String: Any]
                    }] as [String: Any]
                },
            ] as [String: Any]],
        ]
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    }
}
