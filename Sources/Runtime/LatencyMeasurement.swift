// LatencyMeasurement — how fast each model of a point predicts, measured as a
// measurement and not cached as a result: after every stage of the run finished
// (nothing else runs), all of a point's models (baseline and variants) run on
// the same batch of test images, interleaved round by round in a rotating order,
// after warm-up passes; each model's median and spread over the rounds is
// reported, with how it was measured (latency.json).
import Engine
import Foundation
import FrontEnd

/// One model's batch times over the rounds.
struct LatencyStats {
    var median: Double
    var min: Double
    var max: Double
    /// Images per batch.
    var batch: Int
    var perImageMedian: Double { median / Double(batch) }
}

enum LatencyMeasurement {
    static let warmup = 2
    /// Warm-up lasts at least this long too: the first milliseconds of a process's parallel
    /// work can find its threads sharing one core until the scheduler spreads them, which
    /// doubled the mlp's time in short measurements.
    static let warmupSeconds = 0.1
    static let rounds = 9

    /// Times `models` on `batch` (their first `count` test images) interleaved; seconds per batch.
    static func measure(_ models: [(name: String, model: InferenceModel)], on batch: Tensor, count: Int) throws -> [String: LatencyStats] {
        let threads = ProcessInfo.processInfo.activeProcessorCount
        let previous = Parallel.threads
        Parallel.threads = threads
        defer { Parallel.threads = previous }
        let warmupStart = DispatchTime.now().uptimeNanoseconds
        var warmupRounds = 0
        while warmupRounds < warmup || Double(DispatchTime.now().uptimeNanoseconds - warmupStart) / 1e9 < warmupSeconds {
            for m in models { _ = try m.model.scores(batch) }
            warmupRounds += 1
        }
        var times = [[Double]](repeating: [], count: models.count)
        for round in 0..<rounds {
            // Rotate who goes first, so no model always runs on a cold or warm cache.
            for k in 0..<models.count {
                let i = (k + round) % models.count
                let t0 = DispatchTime.now().uptimeNanoseconds
                _ = try models[i].model.scores(batch)
                times[i].append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            }
        }
        var out: [String: LatencyStats] = [:]
        for (i, m) in models.enumerated() {
            let sorted = times[i].sorted()
            out[m.name] = LatencyStats(median: sorted[sorted.count / 2], min: sorted.first!, max: sorted.last!, batch: count)
        }
        return out
    }

    /// latency.json: every model's median and range, and how they were measured.
    static func json(_ stats: [String: LatencyStats], order: [String]) -> String {
        let batch = stats.values.first?.batch ?? 0
        let models: [(String, SpecValue?)] = order.compactMap { name in
            guard let s = stats[name] else { return nil }
            return (name, SpecValue.object([("per_batch_ms.median", .double(s.median * 1000)), ("per_batch_ms.min", .double(s.min * 1000)),
                                            ("per_batch_ms.max", .double(s.max * 1000)), ("per_image_ms.median", .double(s.perImageMedian * 1000))]))
        }
        return SpecValue.object([
            ("method", .string(description(batch: batch))),
            ("batch", .int(batch)), ("rounds", .int(rounds)), ("warmup", .int(warmup)),
            ("threads", .int(ProcessInfo.processInfo.activeProcessorCount)),
            ("models", .object(models)),
        ]).prettyJSON() + "\n"
    }

    /// How the figures were taken, for people.
    static func description(batch: Int) -> String {
        "each model predicts one batch of \(batch) test images per round; at least \(warmup) warm-up rounds lasting at least "
            + "\(warmupSeconds) s, then \(rounds) timed rounds "
            + "with the models interleaved in a rotating order, after every stage of the run finished (nothing else running), "
            + "on \(ProcessInfo.processInfo.activeProcessorCount) thread(s); median and range over the rounds"
    }
}
