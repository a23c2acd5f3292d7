// Charts — the SVG charts of the HTML report, drawn here in plain Swift: line
// charts (loss and accuracy per epoch), a heat map (the confusion matrix), grouped
// bars (per-class precision and recall) and scatter plots (a sweep's target
// against a swept parameter; accuracy against size of compression variants).
// Every chart is one self-contained <svg> element with labelled axes (with
// units), a <title> for screen readers and a `data-chart` attribute the tests
// look for; no scripts, no external fonts, no network.
import Foundation

public enum Chart {
    public static let width = 640.0, height = 360.0
    static let margin = (left: 70.0, right: 20.0, top: 48.0, bottom: 56.0)
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

    /// How tick labels of an axis are written.
    public enum Format: Sendable {
        case plain, percent, integer
        func text(_ v: Double) -> String {
            switch self {
            case .percent: return trim(v * 100) + "%"
            case .integer: return String(Int(v.rounded()))
            case .plain: return trim(v)
            }
        }
        /// The smallest range a value axis shows: 4 percentage points for fractions.
        var minimumSpan: Double { self == .percent ? 0.04 : 0 }
    }

    public struct Series: Sendable {
        public var name: String
        public var points: [(x: Double, y: Double)]
        public var dashed: Bool
        public init(name: String, points: [(x: Double, y: Double)], dashed: Bool = false) {
            self.name = name; self.points = points; self.dashed = dashed
        }
    }

    // MARK: line chart

    /// Lines over a numeric x axis (epochs), with a legend.
    public static func lines(id: String, title: String, xLabel: String, yLabel: String, series: [Series],
                             yFormat: Format = .plain, integerX: Bool = true) -> String {
        let all = series.flatMap(\.points).filter { $0.y.isFinite && $0.x.isFinite }
        guard !all.isEmpty else { return empty(id: id, title: title, message: "no data") }
        let xs = axis(all.map(\.x), includeZero: false), ys = axis(all.map(\.y), includeZero: false)
        var svg = open(id: id, title: title)
        svg += frame(x: xs, y: ys, xLabel: xLabel, yLabel: yLabel, xFormat: integerX ? .integer : .plain, yFormat: yFormat)
        for (i, s) in series.enumerated() {
            let color = palette[i % palette.count]
            let pts = s.points.filter { $0.y.isFinite && $0.x.isFinite }
            guard !pts.isEmpty else { continue }
            let d = pts.enumerated().map { j, p in "\(j == 0 ? "M" : "L")\(f(px(p.x, xs))),\(f(py(p.y, ys)))" }.joined(separator: " ")
            svg += "<path d=\"\(d)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"6 4\"" : "")/>\n"
            for p in pts {
                svg += "<circle cx=\"\(f(px(p.x, xs)))\" cy=\"\(f(py(p.y, ys)))\" r=\"3\" fill=\"\(color)\"><title>\(escape(s.name)): epoch \(trim(p.x)), \(yFormat.text(p.y))</title></circle>\n"
            }
        }
        svg += legend(series.enumerated().map { ($1.name, palette[$0 % palette.count], $1.dashed) })
        return svg + "</svg>\n"
    }

    // MARK: heat map

    /// A confusion matrix: rows are true classes, columns predicted ones; the cell
    /// colour is the share of the row (recall), the text the count.
    public static func heatMap(id: String, title: String, classes: [String], matrix: [[Int]]) -> String {
        let k = matrix.count
        guard k > 0 else { return empty(id: id, title: title, message: "no confusion matrix") }
        let names = (0..<k).map { $0 < classes.count ? classes[$0] : "class \($0)" }
        let labelWidth = min(140.0, Double(names.map(\.count).max() ?? 4) * 7 + 16)
        let cell = max(18.0, min(48.0, (height * 1.4 - 90) / Double(k)))
        let w = labelWidth + cell * Double(k) + 110, h = 40 + cell * Double(k) + labelWidth + 30
        var svg = open(id: id, title: title, width: w, height: h)
        let x0 = labelWidth + 26, y0 = 40.0
        for (i, row) in matrix.enumerated() {
            let total = max(1, row.reduce(0, +))
            for (j, n) in row.enumerated() where j < k {
                let share = Double(n) / Double(total)
                let x = x0 + Double(j) * cell, y = y0 + Double(i) * cell
                svg += "<rect class=\"cell\" x=\"\(f(x))\" y=\"\(f(y))\" width=\"\(f(cell))\" height=\"\(f(cell))\" fill=\"\(blue(share))\" stroke=\"#fff\"><title>true \(escape(names[i])), predicted \(escape(names[j])): \(n) (\(trim(share * 100))% of the row)</title></rect>\n"
                if cell >= 22 {
                    svg += "<text x=\"\(f(x + cell / 2))\" y=\"\(f(y + cell / 2 + 4))\" text-anchor=\"middle\" font-size=\"\(cell >= 34 ? 11 : 9)\" fill=\"\(share > 0.5 ? "#fff" : "#222")\">\(n)</text>\n"
                }
            }
            svg += "<text x=\"\(f(x0 - 6))\" y=\"\(f(y0 + Double(i) * cell + cell / 2 + 4))\" text-anchor=\"end\" font-size=\"11\">\(escape(names[i]))</text>\n"
        }
        for j in 0..<k {
            let x = x0 + Double(j) * cell + cell / 2, y = y0 + Double(k) * cell + 8
            svg += "<text x=\"\(f(x))\" y=\"\(f(y))\" text-anchor=\"end\" font-size=\"11\" transform=\"rotate(-45 \(f(x)) \(f(y)))\">\(escape(names[j]))</text>\n"
        }
        svg += "<text x=\"\(f(x0 + cell * Double(k) / 2))\" y=\"\(f(h - 8))\" text-anchor=\"middle\" font-size=\"12\">predicted class</text>\n"
        svg += "<text x=\"14\" y=\"\(f(y0 + cell * Double(k) / 2))\" text-anchor=\"middle\" font-size=\"12\" transform=\"rotate(-90 14 \(f(y0 + cell * Double(k) / 2)))\">true class</text>\n"
        // Colour scale.
        let lx = x0 + cell * Double(k) + 24, lh = cell * Double(k)
        for s in 0..<20 {
            let v = 1 - Double(s) / 19
            svg += "<rect x=\"\(f(lx))\" y=\"\(f(y0 + lh * Double(s) / 20))\" width=\"14\" height=\"\(f(lh / 20 + 0.5))\" fill=\"\(blue(v))\"/>\n"
        }
        svg += "<text x=\"\(f(lx + 18))\" y=\"\(f(y0 + 8))\" font-size=\"10\">100%</text><text x=\"\(f(lx + 18))\" y=\"\(f(y0 + lh))\" font-size=\"10\">0%</text>\n"
        svg += "<text x=\"\(f(lx + 18))\" y=\"\(f(y0 + lh / 2))\" font-size=\"10\">share</text><text x=\"\(f(lx + 18))\" y=\"\(f(y0 + lh / 2 + 12))\" font-size=\"10\">of row</text>\n"
        return svg + "</svg>\n"
    }

    // MARK: grouped bars

    /// Bars per category (class), one colour per series (precision, recall, …), values in [0, 1].
    public static func bars(id: String, title: String, categories: [String], series: [(name: String, values: [Double])],
                            yLabel: String) -> String {
        guard !categories.isEmpty, !series.isEmpty else { return empty(id: id, title: title, message: "no data") }
        let ys = Axis(min: 0, max: 1, ticks: stride(from: 0.0, through: 1.0, by: 0.2).map { $0 }, log: false)
        let plotW = width - margin.left - margin.right
        var svg = open(id: id, title: title, height: height + 40)
        let bottom = height - margin.bottom
        svg += yAxis(ys, label: yLabel, format: .percent)
        svg += "<line x1=\"\(margin.left)\" y1=\"\(bottom)\" x2=\"\(width - margin.right)\" y2=\"\(bottom)\" stroke=\"#333\"/>\n"
        let group = plotW / Double(categories.count)
        let barW = group * 0.8 / Double(series.count)
        for (c, name) in categories.enumerated() {
            let gx = margin.left + group * Double(c) + group * 0.1
            for (s, ser) in series.enumerated() where c < ser.values.count {
                let v = ser.values[c].isFinite ? max(0, min(1, ser.values[c])) : 0
                let y = py(v, ys)
                svg += "<rect class=\"bar\" x=\"\(f(gx + barW * Double(s)))\" y=\"\(f(y))\" width=\"\(f(barW - 1))\" height=\"\(f(bottom - y))\" fill=\"\(palette[s % palette.count])\"><title>\(escape(name)) \(escape(ser.name)): \(Format.percent.text(v))</title></rect>\n"
            }
            let tx = gx + group * 0.4, ty = bottom + 12
            svg += "<text x=\"\(f(tx))\" y=\"\(f(ty))\" text-anchor=\"end\" font-size=\"11\" transform=\"rotate(-35 \(f(tx)) \(f(ty)))\">\(escape(name))</text>\n"
        }
        svg += "<text x=\"\(f(margin.left + plotW / 2))\" y=\"\(f(height + 34))\" text-anchor=\"middle\" font-size=\"12\">class</text>\n"
        svg += legend(series.enumerated().map { ($1.name, palette[$0 % palette.count], false) })
        return svg + "</svg>\n"
    }

    // MARK: scatter

    public struct Mark: Sendable {
        public var x: Double
        public var y: Double
        public var label: String
        /// Marks of one series share a colour and a legend entry (e.g. a sweep's case).
        public var series: String?
        public init(x: Double, y: Double, label: String, series: String? = nil) { self.x = x; self.y = y; self.label = label; self.series = series }
    }

    /// Beyond this many marks, text labels would overlap: only tooltips (and series colours) tell them apart.
    static let maxLabelledMarks = 12

    /// The series names in order of appearance, and a mark's colour.
    static func seriesColours(_ names: [String?]) -> (legend: [(String, String, Bool)], colour: (Int) -> String) {
        var order: [String] = []
        for case let n? in names where !order.contains(n) { order.append(n) }
        guard !order.isEmpty else { return ([], { palette[$0 % palette.count] }) }
        return (order.enumerated().map { ($1, palette[$0 % palette.count], false) },
                { i in names[i].flatMap { order.firstIndex(of: $0) }.map { palette[$0 % palette.count] } ?? "#888" })
    }

    /// Labelled points over numeric axes (log x when asked and every x is positive);
    /// `connect` joins them in x order.
    public static func scatter(id: String, title: String, xLabel: String, yLabel: String, marks: [Mark],
                               logX: Bool = false, xFormat: Format = .plain, yFormat: Format = .plain,
                               connect: Bool = false) -> String {
        let pts = marks.filter { $0.x.isFinite && $0.y.isFinite && (!logX || $0.x > 0) }
        guard !pts.isEmpty else { return empty(id: id, title: title, message: "no data") }
        let xs = axis(pts.map(\.x), includeZero: false, log: logX), ys = axis(pts.map(\.y), includeZero: false, minimumSpan: yFormat.minimumSpan)
        var svg = open(id: id, title: title)
        svg += frame(x: xs, y: ys, xLabel: xLabel, yLabel: yLabel, xFormat: xFormat, yFormat: yFormat)
        if connect && pts.count > 1 {
            let sorted = pts.sorted { $0.x < $1.x }
            let d = sorted.enumerated().map { j, p in "\(j == 0 ? "M" : "L")\(f(px(p.x, xs))),\(f(py(p.y, ys)))" }.joined(separator: " ")
            svg += "<path d=\"\(d)\" fill=\"none\" stroke=\"#999\" stroke-width=\"1\" stroke-dasharray=\"4 3\"/>\n"
        }
        let (legendItems, colour) = seriesColours(pts.map(\.series))
        for (i, p) in pts.enumerated() {
            let x = px(p.x, xs), y = py(p.y, ys)
            svg += "<circle class=\"mark\" cx=\"\(f(x))\" cy=\"\(f(y))\" r=\"5\" fill=\"\(colour(i))\" fill-opacity=\"0.85\"><title>\(escape(p.label)): \(xFormat.text(p.x)), \(yFormat.text(p.y))</title></circle>\n"
            if !p.label.isEmpty && pts.count <= maxLabelledMarks {
                let anchor = x > width * 0.75 ? "end" : "start"
                svg += "<text x=\"\(f(anchor == "end" ? x - 8 : x + 8))\" y=\"\(f(y - 6))\" font-size=\"11\" text-anchor=\"\(anchor)\">\(escape(p.label))</text>\n"
            }
        }
        return svg + legend(legendItems) + "</svg>\n"
    }

    /// Points over categories (a swept parameter whose values are names).
    public static func categorical(id: String, title: String, xLabel: String, yLabel: String,
                                   categories: [String], marks: [(category: Int, y: Double, label: String)],
                                   series: [String?]? = nil, yFormat: Format = .plain) -> String {
        let pts = marks.filter { $0.y.isFinite }
        guard !pts.isEmpty, !categories.isEmpty else { return empty(id: id, title: title, message: "no data") }
        let ys = axis(pts.map(\.y), includeZero: false, minimumSpan: yFormat.minimumSpan)
        let n = Double(categories.count)
        let xs = Axis(min: -0.5, max: n - 0.5, ticks: [], log: false)
        var svg = open(id: id, title: title)
        svg += frame(x: xs, y: ys, xLabel: xLabel, yLabel: yLabel, xFormat: .plain, yFormat: yFormat)
        for (i, c) in categories.enumerated() {
            svg += "<text x=\"\(f(px(Double(i), xs)))\" y=\"\(f(height - margin.bottom + 16))\" text-anchor=\"middle\" font-size=\"11\">\(escape(c))</text>\n"
        }
        let kept = marks.indices.filter { marks[$0].y.isFinite }
        let (legendItems, colour) = seriesColours(kept.map { series?[safe: $0] ?? nil })
        for (i, p) in pts.enumerated() {
            svg += "<circle class=\"mark\" cx=\"\(f(px(Double(p.category), xs)))\" cy=\"\(f(py(p.y, ys)))\" r=\"5\" fill=\"\(series == nil ? palette[i % palette.count] : colour(i))\" fill-opacity=\"0.8\"><title>\(escape(p.label)): \(yFormat.text(p.y))</title></circle>\n"
        }
        return svg + legend(legendItems) + "</svg>\n"
    }

    /// Group means with their 95 % intervals as whiskers (one column per group).
    public static func intervals(id: String, title: String, xLabel: String, yLabel: String,
                                 groups: [(label: String, mean: Double, low: Double, high: Double, count: Int)],
                                 yFormat: Format = .plain) -> String {
        let gs = groups.filter { $0.mean.isFinite && $0.low.isFinite && $0.high.isFinite }
        guard !gs.isEmpty else { return empty(id: id, title: title, message: "no data") }
        let ys = axis(gs.flatMap { [$0.low, $0.high] }, includeZero: false, minimumSpan: yFormat.minimumSpan)
        let xs = Axis(min: -0.5, max: Double(gs.count) - 0.5, ticks: [], log: false)
        var svg = open(id: id, title: title)
        svg += frame(x: xs, y: ys, xLabel: xLabel, yLabel: yLabel, xFormat: .plain, yFormat: yFormat)
        for (i, g) in gs.enumerated() {
            let x = px(Double(i), xs)
            svg += "<text x=\"\(f(x))\" y=\"\(f(height - margin.bottom + 16))\" text-anchor=\"middle\" font-size=\"11\">\(escape(g.label))</text>\n"
            svg += "<path class=\"interval\" d=\"M\(f(x)),\(f(py(g.low, ys))) L\(f(x)),\(f(py(g.high, ys))) M\(f(x - 6)),\(f(py(g.low, ys))) L\(f(x + 6)),\(f(py(g.low, ys))) M\(f(x - 6)),\(f(py(g.high, ys))) L\(f(x + 6)),\(f(py(g.high, ys)))\" stroke=\"#555\" stroke-width=\"1.5\" fill=\"none\"/>\n"
            svg += "<circle class=\"mark\" cx=\"\(f(x))\" cy=\"\(f(py(g.mean, ys)))\" r=\"5\" fill=\"\(palette[i % palette.count])\"><title>\(escape(g.label)): mean \(yFormat.text(g.mean)) over \(g.count) seeds, 95 % interval \(yFormat.text(g.low)) – \(yFormat.text(g.high))</title></circle>\n"
        }
        return svg + "</svg>\n"
    }

    // MARK: pieces

    struct Axis {
        var min: Double, max: Double, ticks: [Double], log: Bool
    }

    /// A padded range with "nice" ticks (1, 2, 5 × 10^k); decades on a log axis.
    /// `minimumSpan` keeps a tiny spread from filling the plot (a few images out of
    /// thousands is not a cliff): the range is widened around its middle.
    static func axis(_ values: [Double], includeZero: Bool, log: Bool = false, minimumSpan: Double = 0) -> Axis {
        var lo = values.min() ?? 0, hi = values.max() ?? 1
        if !log, hi - lo < minimumSpan {
            let mid = (lo + hi) / 2
            (lo, hi) = (mid - minimumSpan / 2, mid + minimumSpan / 2)
            // Fractions stay within 0…1.
            if hi > 1, (values.max() ?? 0) <= 1 { lo -= hi - 1; hi = 1 }
            if lo < 0, (values.min() ?? 0) >= 0 { hi -= lo; lo = 0 }
        }
        if log {
            let a = floor(log10(lo)), b = ceil(log10(hi))
            let top = b == a ? a + 1 : b
            return Axis(min: pow(10, a), max: pow(10, top), ticks: stride(from: a, through: top, by: 1).map { pow(10, $0) }, log: true)
        }
        if includeZero { lo = Swift.min(lo, 0) }
        if hi == lo { let d = hi == 0 ? 1 : abs(hi) * 0.1; lo -= d; hi += d }
        let span = hi - lo
        let raw = span / 5, mag = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? mag * 10
        let a = floor(lo / step) * step, b = ceil(hi / step) * step
        let count = Int(((b - a) / step).rounded())
        let ticks = (0...count).map { i -> Double in
            let t = a + Double(i) * step
            return Double(String(format: "%.10g", t)) ?? t   // 0.6, not 0.6000000000000001
        }
        return Axis(min: a, max: b, ticks: ticks, log: false)
    }

    static func px(_ x: Double, _ a: Axis) -> Double {
        let t = a.log ? (log10(x) - log10(a.min)) / (log10(a.max) - log10(a.min)) : (x - a.min) / (a.max - a.min)
        return margin.left + t * (width - margin.left - margin.right)
    }

    static func py(_ y: Double, _ a: Axis) -> Double {
        let t = (y - a.min) / (a.max - a.min)
        return height - margin.bottom - t * (height - margin.top - margin.bottom)
    }

    static func open(id: String, title: String, width w: Double = width, height h: Double = height) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" data-chart=\"\(escape(id))\" role=\"img\" viewBox=\"0 0 \(f(w)) \(f(h))\" width=\"\(f(w))\" height=\"\(f(h))\" font-family=\"sans-serif\">\n"
            + "<title>\(escape(title))</title>\n"
            + "<text x=\"\(f(w / 2))\" y=\"20\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">\(escape(title))</text>\n"
    }

    static func empty(id: String, title: String, message: String) -> String {
        open(id: id, title: title) + "<text x=\"\(f(width / 2))\" y=\"\(f(height / 2))\" text-anchor=\"middle\" fill=\"#888\">\(escape(message))</text>\n</svg>\n"
    }

    static func yAxis(_ ys: Axis, label: String, format: Format) -> String {
        var svg = "<line x1=\"\(margin.left)\" y1=\"\(margin.top)\" x2=\"\(margin.left)\" y2=\"\(height - margin.bottom)\" stroke=\"#333\"/>\n"
        for t in ys.ticks {
            let y = py(t, ys)
            svg += "<line x1=\"\(margin.left)\" y1=\"\(f(y))\" x2=\"\(width - margin.right)\" y2=\"\(f(y))\" stroke=\"#e5e5e5\"/>\n"
            svg += "<text x=\"\(f(margin.left - 6))\" y=\"\(f(y + 4))\" text-anchor=\"end\" font-size=\"11\">\(escape(format.text(t)))</text>\n"
        }
        let cy = margin.top + (height - margin.top - margin.bottom) / 2
        svg += "<text class=\"axis-label\" x=\"16\" y=\"\(f(cy))\" text-anchor=\"middle\" font-size=\"12\" transform=\"rotate(-90 16 \(f(cy)))\">\(escape(label))</text>\n"
        return svg
    }

    static func frame(x xs: Axis, y ys: Axis, xLabel: String, yLabel: String, xFormat: Format, yFormat: Format) -> String {
        var svg = yAxis(ys, label: yLabel, format: yFormat)
        let bottom = height - margin.bottom
        svg += "<line x1=\"\(margin.left)\" y1=\"\(bottom)\" x2=\"\(width - margin.right)\" y2=\"\(bottom)\" stroke=\"#333\"/>\n"
        var ticks = xs.ticks
        if xFormat == .integer { ticks = ticks.filter { $0 == $0.rounded() } }
        for t in ticks {
            let x = px(t, xs)
            svg += "<line x1=\"\(f(x))\" y1=\"\(bottom)\" x2=\"\(f(x))\" y2=\"\(bottom + 5)\" stroke=\"#333\"/>\n"
            svg += "<text x=\"\(f(x))\" y=\"\(bottom + 18)\" text-anchor=\"middle\" font-size=\"11\">\(escape(xs.log ? scientific(t) : xFormat.text(t)))</text>\n"
        }
        svg += "<text class=\"axis-label\" x=\"\(f(margin.left + (width - margin.left - margin.right) / 2))\" y=\"\(f(height - 14))\" text-anchor=\"middle\" font-size=\"12\">\(escape(xLabel))</text>\n"
        return svg
    }

    static func legend(_ items: [(String, String, Bool)]) -> String {
        var svg = "", x = margin.left + 10
        for (name, color, dashed) in items {
            svg += "<line x1=\"\(f(x))\" y1=\"\(margin.top - 14)\" x2=\"\(f(x + 20))\" y2=\"\(margin.top - 14)\" stroke=\"\(color)\" stroke-width=\"3\"\(dashed ? " stroke-dasharray=\"6 4\"" : "")/>"
            svg += "<text x=\"\(f(x + 24))\" y=\"\(margin.top - 10)\" font-size=\"11\">\(escape(name))</text>\n"
            x += 34 + Double(name.count) * 6.5
        }
        return svg
    }

    /// White (0) to dark blue (1).
    static func blue(_ v: Double) -> String {
        let t = max(0, min(1, v.isFinite ? v : 0))
        let r = Int(247 - t * (247 - 8)), g = Int(251 - t * (251 - 48)), b = Int(255 - t * (255 - 107))
        return String(format: "#%02x%02x%02x", r, g, b)
    }

    static func f(_ v: Double) -> String { String(format: "%.1f", v) }

    static func trim(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e12 { return String(Int(v)) }
        var s = String(format: "%.4g", v)
        if s.contains("e") { return s }
        while s.contains(".") && (s.hasSuffix("0") || s.hasSuffix(".")) { s.removeLast() }
        return s
    }

    static func scientific(_ v: Double) -> String {
        let e = Int(log10(v).rounded())
        return abs(log10(v) - Double(e)) < 1e-9 ? (e >= 0 && e <= 4 ? trim(v) : "1e\(e)") : trim(v)
    }

    /// Text for SVG and HTML.
    public static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }
}
