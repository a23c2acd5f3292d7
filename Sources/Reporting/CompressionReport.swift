// CompressionReport — compression.md of a point: the variants table (from
// metrics.json's `variants`) with each variant's change against the baseline,
// each pruned model's zeros per layer and each ensemble's members (from
// compression.json). Written next to report.md when a point has variants.
import Foundation

enum CompressionReport {
    static func markdown(_ point: PointData, details: [String: Any]?, latency: [String: Any]? = nil) -> String? {
        guard let base = point.variants.first(where: { $0.name == "baseline" }), point.variants.count > 1 else { return nil }
        func value(_ v: Variant, _ key: String) -> Double { v.metrics[key] ?? 0 }
        func ratio(_ v: Variant, _ key: String) -> String {
            guard let a = v.metrics[key], let b = base.metrics[key], b > 0 else { return "–" }
            return fixed(a / b, 2) + "×"
        }
        // Size and latency read the same way: the variant ÷ the baseline (0.25× is a quarter).
        var md = "\n## Variants\n\n| variant | test acc | Δ vs baseline | bytes | size vs baseline | params | sparsity | ms / batch (median) | range over rounds | latency vs baseline |\n"
        md += "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
        for v in point.variants {
            let delta = 100 * (value(v, "test.accuracy") - value(base, "test.accuracy"))
            let range = v.metrics["latency.per_batch_ms_min"].flatMap { lo in v.metrics["latency.per_batch_ms_max"].map { "\(fixed(lo, 1))–\(fixed($0, 1))" } } ?? "–"
            md += "| \(v.name) | \(percent(value(v, "test.accuracy"))) | \(String(format: "%+.2f", delta)) pp | \(Int(value(v, "bytes"))) "
                + "| \(ratio(v, "bytes")) | \(Int(value(v, "params"))) | \(percent(value(v, "sparsity"))) "
                + "| \(v.metrics["latency.per_batch_ms"].map { fixed($0, 1) } ?? "–") | \(range) | \(ratio(v, "latency.per_batch_ms")) |\n"
        }
        if let method = latency?["method"] as? String { md += "\nLatency: \(method).\n" }
        for v in point.variants {
            guard let dense = v.metrics["storage.dense_bytes"], dense > 0 else { continue }
            // Deep Compression's pipeline, step by step (Han et al., 2016).
            md += "\n### Deep Compression storage (\(v.name))\n\n| step | bytes | vs float32 |\n| --- | --- | --- |\n"
            for (step, key) in [("float32, dense", "storage.dense_bytes"), ("pruned: sparse (bitmask + float32 values)", "storage.sparse_bytes"),
                                ("quantized: shared-value codes + codebooks", "storage.quantized_bytes"), ("coded: deflated (the file)", "storage.coded_bytes")] {
                guard let b = v.metrics[key] else { continue }
                md += "| \(step) | \(Int(b)) | \(fixed(dense / max(b, 1), 1))× smaller |\n"
            }
        }
        let rows = details?["variants"] as? [[String: Any]] ?? []
        for r in rows {
            guard let name = r["name"] as? String, let layers = r["layers"] as? [[String: Any]] else { continue }
            md += "\n### Sparsity per layer (\(name))\n\n| layer | weights | zero |\n| --- | --- | --- |\n"
            for l in layers {
                md += "| \(l["layer"] as? String ?? "?") | \((l["weights"] as? NSNumber)?.intValue ?? 0) | \(percent((l["zero_fraction"] as? NSNumber)?.doubleValue ?? 0)) |\n"
            }
        }
        for r in rows {
            guard let name = r["name"] as? String, let info = r["ensemble"] as? [String: Any] else { continue }
            let members = info["members"] as? [[String: Any]] ?? []
            md += "\n### Ensemble (\(info["method"] as? String ?? "?")) and its members (test accuracy)\n\n| model | test acc | weight |\n| --- | --- | --- |\n"
            var best = -Double.infinity
            for m in members {
                let acc = (m["test.accuracy"] as? NSNumber)?.doubleValue ?? 0
                best = max(best, acc)
                md += "| \(m["name"] as? String ?? "?") | \(percent(acc)) | \((m["weight"] as? NSNumber).map { fixed($0.doubleValue, 3) } ?? "–") |\n"
            }
            let acc = point.variants.first { $0.name == name }.map { value($0, "test.accuracy") } ?? 0
            md += "| **\(name)** | **\(percent(acc))** | |\n"
            if best.isFinite {
                md += "\nBest member \(percent(best)); the ensemble is \(String(format: "%+.2f", 100 * (acc - best))) pp from it.\n"
            }
        }
        return md
    }

    static func percent(_ x: Double) -> String { String(format: "%.2f%%", 100 * x) }
    static func fixed(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }
}
