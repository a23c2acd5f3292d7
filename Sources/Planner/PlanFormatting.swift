// Plan printing: text for people, JSON for tools, Graphviz dot for pictures.
import Foundation
import FrontEnd
import Jobs

extension Plan {
    /// A readable plan: the totals first, then every stage in dependency order.
    public func text() -> String {
        var out = "plan for '\(experiment)' (\(file))\n"
        let shared = stages.reduce(0) { $1.points.count > 1 ? $0 + 1 : $0 }
        let pointWord = points.count == 1 ? "1 point" : "\(points.count) points"
        out += "  \(pointWord), \(stages.count) stages"
        if points.count > 1 { out += " (\(shared) shared by several points)" }
        out += ", estimated compute \(Self.flops(totalFLOPs))\n"
        if let peak = MemoryEstimate.peak(self), peak.memory > 0 {
            out += "  estimated peak memory \(MemoryEstimate.format(peak.memory)) (\(peak.kind.rawValue) [\(stages.firstIndex { $0.id == peak.id }! + 1)])\n"
        }
        if !sweptPaths.isEmpty { out += "  swept: \(sweptPaths.joined(separator: ", "))\n" }
        for w in warnings { out += "  warning: \(w)\n" }
        out += "\n"
        var index: [String: Int] = [:]
        index.reserveCapacity(stages.count)
        for (i, s) in stages.enumerated() { index[s.id] = i + 1 }
        let width = String(stages.count).count
        // A big sweep: every shared stage, then the first point-specific ones; the
        // rest is summarised (all of it is in --format json).
        let limit = 400
        var shown = 0, hidden = 0
        for (i, s) in stages.enumerated() {
            if stages.count > limit && s.points.count <= 1 {
                if shown >= limit / 2 { hidden += 1; continue }
                shown += 1
            }
            let n = String(i + 1).leftPad(width)
            var line = "  [\(n)] \(s.kind.rawValue.rightPad(14)) \(s.hash.prefix(10))  \(s.summary)"
            if !s.deps.isEmpty { line += "  ← " + s.deps.map { "[\(index[$0]!)]" }.joined(separator: " ") }
            if s.experiment != experiment { line += "  (from \(s.experiment))" }
            if points.count > 1 {
                line += s.points.count == points.count ? "  {all points}" : s.points.count > 1 ? "  {\(s.points.count) points}" : ""
            }
            if s.flops > 0 { line += "  ~\(Self.flops(s.flops))" }
            if s.memory > 0 { line += "  peak \(MemoryEstimate.format(s.memory))" }
            out += line + "\n"
        }
        if hidden > 0 { out += "  … and \(hidden) more stages of single points (use --format json for all)\n" }
        if points.count > 1 {
            out += "\npoints:\n"
            var w = 0
            for p in points where w < 60 { w = min(60, max(w, p.label.count)) }
            for p in points.prefix(200) {
                out += "  \(p.id)  \(p.label.rightPad(w))  report [\(index[p.reportStage]!)]\n"
            }
            if points.count > 200 { out += "  … and \(points.count - 200) more (use --format json for all)\n" }
        }
        return out
    }

    /// plan.json: the plan's `Codable` encoding (it decodes back to an equal plan).
    public func json() -> String {
        // Plain Codable values with finite numbers always encode.
        String(decoding: (try? encoded()) ?? Data(), as: UTF8.self)
    }

    /// Graphviz: one node per stage, edges from dependencies.
    public func dot() -> String {
        var out = "digraph \"\(experiment)\" {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\", fontsize=10];\n"
        for s in stages {
            let label = "\(s.kind.rawValue)\\n\(s.hash.prefix(10))" + (points.count > 1 ? "\\n\(s.points.count) point(s)" : "")
            let style = s.experiment != experiment ? ", style=dashed" : s.points.count > 1 ? ", style=bold" : ""
            out += "  \"\(s.id)\" [label=\"\(label)\"\(style)];\n"
        }
        for s in stages { for d in s.deps { out += "  \"\(d)\" -> \"\(s.id)\";\n" } }
        return out + "}\n"
    }

    static func flops(_ f: Double) -> String {
        let units: [(Double, String)] = [(1e15, "PFLOP"), (1e12, "TFLOP"), (1e9, "GFLOP"), (1e6, "MFLOP"), (1e3, "kFLOP")]
        for (scale, name) in units where f >= scale {
            let tenths = Int((f / scale * 10).rounded())
            return "\(tenths / 10).\(tenths % 10) " + name
        }
        return "\(Int(f.rounded())) FLOP"
    }
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
    func rightPad(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
}
