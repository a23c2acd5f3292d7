// Variants — the table that compares every model a point produced (baseline,
// pruned, int8, distilled, shared, compressed, ensemble): test accuracy, checkpoint bytes, parameters,
// sparsity and latency, each relative to the baseline. It goes to metrics.json
// under `variants.<name>`, the per-layer and per-member details to
// compression.json (Reporting renders both as compression.md); the variants'
// checkpoints are written to `variants/<name>.safetensors` in the run directory.
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
    /// Bytes at every Deep Compression storage step (an encode step's variant).
    var storage: DeepCompressionFormat.Sizes?
    /// The model itself (timed with the others after the run; see LatencyMeasurement).
    var model: InferenceModel?
    var latency: LatencyStats?
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
            case "share": "shared"
            case "encode": "compressed"
            default: kind
            }
            used[name, default: 0] += 1
            if used[name]! > 1 { name += "-\(used[name]!)" }
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            var bytes: Int
            var storage: DeepCompressionFormat.Sizes?
            if case .encoded(_, let file, let sizes) = try executor.output(modelID) {
                // The Deep Compression file itself (it loads back as the variant's model).
                try file.write(to: URL(fileURLWithPath: (folder as NSString).appendingPathComponent("\(name).safetensors")), options: .atomic)
                bytes = file.count
                storage = sizes
            } else if case .ensemble = model {
                // Members are measured, not kept (they are the runs' own checkpoints).
                let tmp = (NSTemporaryDirectory() as NSString).appendingPathComponent("tlc-ensemble-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
                try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(atPath: tmp) }
                bytes = try model.save(to: (tmp as NSString).appendingPathComponent("ensemble.safetensors"), metadata: metadata)
            } else {
                bytes = try model.save(to: (folder as NSString).appendingPathComponent("\(name).safetensors"), metadata: metadata)
            }
            if case .float(let n) = model {
                // The network the variant's weights belong to (pruning by filters and distillation change it).
                try writeArchitecture(n.architecture, to: (folder as NSString).appendingPathComponent("\(name).architecture.json"))
            }
            var row = VariantRow(name: name, result: result, bytes: bytes, params: model.parameterCount, sparsity: model.sparsity)
            row.storage = storage
            if case .float(let n) = model, row.sparsity > 0 { row.layers = PruningMasks.sparsityByLayer(n) }
            if case .ensemble(_, let info) = try executor.output(modelID) { row.ensemble = info }
            row.model = model
            rows.append(row)
        }
        return rows
    }

    /// `variants` for metrics.json: every row, and its ratios to the baseline.
    static func variantsValue(_ rows: [VariantRow]) -> SpecValue {
        guard let base = rows.first else { return .null }
        func ratio(_ a: Double, _ b: Double) -> SpecValue { b > 0 ? .double(a / b) : .null }
        // Every ratio reads one way: this variant ÷ the baseline (0.25: a quarter of its size).
        return .map(rows.map { r in
            SpecEntry(r.name, .object([
                ("test.accuracy", .double(r.result.accuracy)), ("test.loss", .double(r.result.loss)),
                ("bytes", .int(r.bytes)), ("params", .int(r.params)), ("sparsity", .double(r.sparsity)),
                ("storage", r.storage.map { s in .object([("dense_bytes", .int(s.dense)), ("sparse_bytes", .int(s.sparse)),
                                                          ("quantized_bytes", .int(s.quantized)), ("coded_bytes", .int(s.coded))]) }),
                ("latency.per_image_ms", r.latency.map { .double($0.perImageMedian * 1000) }),
                ("latency.per_batch_ms", r.latency.map { .double($0.median * 1000) }),
                ("latency.per_batch_ms_min", r.latency.map { .double($0.min * 1000) }),
                ("latency.per_batch_ms_max", r.latency.map { .double($0.max * 1000) }),
                ("vs_baseline", .object([
                    ("test.accuracy_delta", .double(r.result.accuracy - base.result.accuracy)),
                    ("bytes_ratio", ratio(Double(r.bytes), Double(base.bytes))),
                    ("params_ratio", ratio(Double(r.params), Double(base.params))),
                    ("latency_ratio", r.latency.flatMap { l in base.latency.map { ratio(l.median, $0.median) } } ?? nil),
                ])),
            ]))
        })
    }

    /// compression.json: what the variants table of metrics.json does not hold —
    /// each pruned model's zeros per layer and each ensemble's members. Reporting
    /// renders it (with metrics.json) as compression.md.
    static func compressionDetails(_ rows: [VariantRow]) -> SpecValue {
        .object([("variants", .list(rows.filter { !$0.layers.isEmpty || $0.ensemble != nil }.map { r in
            .object([
                ("name", .string(r.name)),
                ("layers", r.layers.isEmpty ? nil : .list(r.layers.map { l in
                    .object([("layer", .string(l.name)), ("weights", .int(l.count)), ("zero_fraction", .double(l.sparsity))])
                })),
                ("ensemble", r.ensemble.map { info in
                    .object([("method", .string(info.method)), ("members", .list(info.memberTestAccuracy.indices.map { i in
                        .object([("name", .string(i < info.memberNames.count ? info.memberNames[i] : "member \(i + 1)")),
                                 ("test.accuracy", .double(info.memberTestAccuracy[i])),
                                 ("weight", info.weights.map { .double($0[i]) })])
                    }))])
                }),
            ])
        }))])
    }
}
