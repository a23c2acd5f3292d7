// Variants — the table that compares every model a point produced (baseline,
// pruned, int8, distilled, ensemble): test accuracy, checkpoint bytes, parameters,
// sparsity and latency, each relative to the baseline. It goes to metrics.json
// under `variants.<name>` and to compression.md; the variants' checkpoints are written
// to `variants/<name>.safetensors` in the run directory.
import Engine
import Execution
import Foundation
import FrontEnd
import Jobs

struct VariantRow {
    var name: String
    var result: EvaluationResult
    var bytes: Int
    var params: Int
    var sparsity: Double
    /// Per-layer zero fractions (pruned float models).
    var layers: [(name: String, sparsity: Double, count: Int)] = []
    var ensemble: EnsembleInfo?
}

extension LocalRunner {
    /// The point's evaluations of other models than the baseline (compression steps, an
    /// ensemble); the source task's evaluations (transfer) are not variants of this model.
    static func variantEvaluations(_ point: PlanPoint, executor: StageRunner) -> [String] {
        point.evaluateStages.dropFirst().filter { id in
            guard case .evaluate(let w)? = executor.stage(id)?.work else { return true }
            return !w.isSourceTask
        }
    }

    /// Rows for the point's variant evaluations (the baseline row is the caller's).
    static func variantRows(_ point: PlanPoint, executor: StageRunner, dir: String,
                            metadata: [String: String]) throws -> [VariantRow] {
        var rows: [VariantRow] = []
        var used: [String: Int] = [:]
        let folder = (dir as NSString).appendingPathComponent("variants")
        for evalID in variantEvaluations(point, executor: executor) {
            guard let stage = executor.stage(evalID), let modelID = stage.deps.first,
                  case .evaluation(let kind, let result) = try executor.output(evalID),
                  let model = try executor.inferenceModel(modelID) else { continue }
            var name: String = switch kind {
            case "prune": "pruned"
            case "quantize": if case .int8(let q) = model { "int\(q.config.bits)" } else { "quantized" }
            case "distill": "distilled"
            default: kind
            }
            used[name, default: 0] += 1
            if used[name]! > 1 { name += "-\(used[name]!)" }
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            var bytes: Int
            if case .ensemble = model {
                // Members are measured, not kept (they are the runs' own checkpoints).
                let tmp = (NSTemporaryDirectory() as NSString).appendingPathComponent("tlc-ensemble-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
                try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(atPath: tmp) }
                bytes = try model.save(to: (tmp as NSString).appendingPathComponent("ensemble.safetensors"), metadata: metadata)
            } else {
                bytes = try model.save(to: (folder as NSString).appendingPathComponent("\(name).safetensors"), metadata: metadata)
            }
            var row = VariantRow(name: name, result: result, bytes: bytes, params: model.parameterCount, sparsity: model.sparsity)
            if case .float(let n) = model, row.sparsity > 0 { row.layers = PruningMasks.sparsityByLayer(n) }
            if case .ensemble(_, let info) = try executor.output(modelID) { row.ensemble = info }
            rows.append(row)
        }
        return rows
    }

    /// `variants` for metrics.json: every row, and its ratios to the baseline.
    static func variantsValue(_ rows: [VariantRow]) -> SpecValue {
        guard let base = rows.first else { return .null }
        func ratio(_ a: Double, _ b: Double) -> SpecValue { b > 0 ? .double(a / b) : .null }
        return .map(rows.map { r in
            SpecEntry(r.name, .object([
                ("test.accuracy", .double(r.result.accuracy)), ("test.loss", .double(r.result.loss)),
                ("bytes", .int(r.bytes)), ("params", .int(r.params)), ("sparsity", .double(r.sparsity)),
                ("latency.per_image_ms", .double(r.result.secondsPerImage * 1000)),
                ("latency.per_batch_ms", .double(r.result.secondsPerBatch * 1000)),
                ("vs_baseline", .object([
                    ("test.accuracy_delta", .double(r.result.accuracy - base.result.accuracy)),
                    ("bytes_ratio", ratio(Double(r.bytes), Double(base.bytes))),
                    ("params_ratio", ratio(Double(r.params), Double(base.params))),
                    ("latency_ratio", ratio(r.result.secondsPerImage, base.result.secondsPerImage)),
                ])),
            ]))
        })
    }

    /// The report's variants section.
    static func variantsMarkdown(_ rows: [VariantRow]) -> String {
        guard let base = rows.first, rows.count > 1 else { return "" }
        var md = "\n## Variants\n\n| variant | test acc | Δ vs baseline | bytes | × smaller | params | sparsity | ms / image | ms / batch of 256 | latency vs baseline |\n"
        md += "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
        for r in rows {
            let delta = 100 * (r.result.accuracy - base.result.accuracy)
            md += "| \(r.name) | \(pct(r.result.accuracy)) | \(String(format: "%+.2f", delta)) pt | \(r.bytes) | \(fmt(Double(base.bytes) / Double(max(r.bytes, 1)), 2))× "
                + "| \(r.params) | \(pct(r.sparsity)) | \(fmt(r.result.secondsPerImage * 1000, 3)) | \(fmt(r.result.secondsPerBatch * 1000, 1)) "
                + "| \(fmt(r.result.secondsPerImage / max(base.result.secondsPerImage, 1e-12), 2))× |\n"
        }
        for r in rows where !r.layers.isEmpty {
            md += "\n### Sparsity per layer (\(r.name))\n\n| layer | weights | zero |\n| --- | --- | --- |\n"
            for l in r.layers { md += "| \(l.name) | \(l.count) | \(pct(l.sparsity)) |\n" }
        }
        for r in rows {
            guard let info = r.ensemble else { continue }
            md += "\n### Ensemble (\(info.method)) and its members (test accuracy)\n\n| model | test acc | weight |\n| --- | --- | --- |\n"
            for (i, a) in info.memberTestAccuracy.enumerated() {
                md += "| \(i < info.memberNames.count ? info.memberNames[i] : "member \(i + 1)") | \(pct(a)) | \(info.weights.map { fmt($0[i], 3) } ?? "–") |\n"
            }
            md += "| **ensemble** | **\(pct(r.result.accuracy))** | |\n"
            if let best = info.memberTestAccuracy.max() {
                md += "\nBest member \(pct(best)); the ensemble is \(String(format: "%+.2f", 100 * (r.result.accuracy - best))) points from it.\n"
            }
        }
        return md
    }
}
