// Reports from hand-kept run directories (Fixtures/Outputs: two single runs that
// differ only in the learning rate, a sweep, a run with compression variants):
// every chart and table is there, user templates override the built-in ones, a
// broken template names its file and line, and the built-in templates compiled
// into the binary are the files in Templates/.
import Foundation
import Testing
@testable import FrontEnd
@testable import Reporting
@testable import Runtime

/// A fresh copy of the fixture Outputs folder (reports are written into it).
func fixtureOutputs() throws -> String {
    let source = try #require(Bundle.module.resourcePath) + "/Fixtures/Outputs"
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-reporting-\(UUID().uuidString)").path
    try FileManager.default.copyItem(atPath: source, toPath: dir)
    return dir
}

/// The repository's top folder (for Templates/ and golden files).
let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

let runA = "small/20261129-010000-aaaa", runB = "small/20261129-010100-bbbb"
let sweepRun = "smallsweep/20261129-010200-cccc", compressedRun = "compressed/20261129-010300-dddd"

@Suite struct ReportTests {
    @Test func builtInTemplatesAreTheFilesInTemplates() throws {
        let dir = repositoryRoot + "/Templates"
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".mustache") }
        #expect(Set(files) == Set(EmbeddedTemplates.files.keys), "run `make templates` after adding a template")
        for f in files {
            let text = try String(contentsOfFile: dir + "/" + f, encoding: .utf8)
            #expect(EmbeddedTemplates.files[f] == text, "Templates/\(f) changed: run `make templates` (Templates/embed.sh)")
        }
        let starters = try FileManager.default.contentsOfDirectory(atPath: dir + "/init").filter { $0.hasSuffix(".yaml") }
        for f in starters {
            let text = try String(contentsOfFile: dir + "/init/" + f, encoding: .utf8)
            #expect(EmbeddedTemplates.starters[String(f.dropLast(5))] == text, "Templates/init/\(f) changed: run `make templates`")
        }
    }

    @Test func aPointReportHasItsTablesAndCharts() throws {
        let out = try fixtureOutputs()
        let dir = out + "/" + runA
        try ReportWriter().writePointReport(pointDir: dir)
        let md = try String(contentsOfFile: dir + "/report.md", encoding: .utf8)
        #expect(md.hasPrefix("# small\n"))
        #expect(md.contains("| test.accuracy | 78.40% |"))
        #expect(md.contains("## Training") && md.contains("| 3 | 0.5856 | 79.89% |"))
        #expect(md.contains("| Trouser | 97.87% | 92.00% | 94.85% |"))
        #expect(md.contains("| 0 T-shirt/top | 82 | 0 | 0 | 4 |"))
        #expect(!md.contains("{{") && !md.contains("&amp;"))
        #expect(!md.contains("<svg"))
        let html = try String(contentsOfFile: dir + "/report.html", encoding: .utf8)
        for chart in ["loss", "accuracy", "confusion", "per-class"] {
            #expect(html.contains("data-chart=\"\(chart)\""), "\(chart)")
        }
        #expect(html.contains("T-shirt/top"))
        #expect(html.contains("cross-entropy loss (nats)") && html.contains("accuracy (%)") && html.contains("predicted class"))
        #expect(html.components(separatedBy: "class=\"cell\"").count - 1 == 100)    // 10 × 10 heat map
        // Self-contained: no scripts, no external resources (the SVG namespace is not a fetch).
        #expect(!html.contains("<script") && !html.contains("<link"))
        #expect(!html.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "").contains("http"))
    }

    @Test func variantsGetATableAndAnAccuracyAgainstSizeChart() throws {
        let out = try fixtureOutputs()
        let dir = out + "/" + compressedRun
        try ReportWriter().writePointReport(pointDir: dir)
        let html = try String(contentsOfFile: dir + "/report.html", encoding: .utf8)
        #expect(html.contains("data-chart=\"variants\""))
        #expect(html.contains("model size (KB)") && html.contains("test accuracy (%)"))
        for v in ["baseline", "pruned", "int8", "distilled", "ensemble"] { #expect(html.contains("<td>\(v)</td>"), "\(v)") }
        #expect(html.components(separatedBy: "class=\"mark\"").count - 1 == 5)
        let md = try String(contentsOfFile: dir + "/report.md", encoding: .utf8)
        #expect(md.contains("## Variants"))
        #expect(md.contains("| variant | test.accuracy | bytes | params | sparsity | latency.per_image_ms |"))
        #expect(md.contains("| pruned | 77.20% | 63.8 KB | 50890 | 80.0% |"))
        // compression.md: every variant against the baseline (no compression.json: no detail sections).
        let compression = try String(contentsOfFile: dir + "/compression.md", encoding: .utf8)
        #expect(compression.contains("| variant | test acc | Δ vs baseline |"))
        #expect(compression.contains("| pruned | 77.20% |") && !compression.contains("Sparsity per layer"))
    }

    @Test func aSweepReportPlotsTheTargetAgainstEachSweptParameter() throws {
        let out = try fixtureOutputs()
        let dir = out + "/" + sweepRun
        let written = try ReportWriter().rewrite(runDir: dir)
        #expect(written.count == 8 * 2 + 2)
        let html = try String(contentsOfFile: dir + "/report.html", encoding: .utf8)
        #expect(html.contains("data-chart=\"sweep-0\"") && html.contains("data-chart=\"sweep-1\""))
        #expect(html.contains("optimizer.lr (log scale)"))
        #expect(html.contains("test.accuracy against optimizer.kind"))
        #expect(html.contains("href=\"lr=3e-3,kind=adam/report.html\""))
        let board = try String(contentsOfFile: dir + "/leaderboard.md", encoding: .utf8)
        #expect(board.contains("| 1 | lr=3e-3,kind=adam | succeeded | 73.20% |"))
        #expect(board.contains("swept: optimizer.lr, optimizer.kind"))
    }

    @Test func aUserTemplateOverridesOnlyItsOwnFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-tpl-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "{{% CONTENT_TYPE: TEXT}}\nRun {{experiment}}: {{target}} = {{target_value}}\n{{#metrics}}- {{name}}\n{{/metrics}}"
            .write(toFile: dir + "/report.md.mustache", atomically: true, encoding: .utf8)
        let templates = try ReportTemplates(directory: dir)
        #expect(templates.sources["report.md"] == dir + "/report.md.mustache")
        #expect(templates.sources["report.html"] == "built-in")
        let out = try fixtureOutputs()
        try ReportWriter(templates: templates).writePointReport(pointDir: out + "/" + runA)
        let md = try String(contentsOfFile: out + "/" + runA + "/report.md", encoding: .utf8)
        #expect(md.hasPrefix("Run small: test.accuracy = 78.40%\n- latency.per_batch_ms\n"))
        #expect(try String(contentsOfFile: out + "/" + runA + "/report.html", encoding: .utf8).contains("data-chart=\"loss\""))
    }

    @Test func aBrokenTemplateNamesItsFileAndLine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-tpl-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "<h1>{{experiment}}</h1>\n<ul>\n{{#metrics}}<li>{{name}}</li>{{/metric}}\n</ul>\n"
            .write(toFile: dir + "/report.html.mustache", atomically: true, encoding: .utf8)
        #expect {
            try ReportTemplates(directory: dir)
        } throws: { error in
            let text = (error as? ReportError)?.description ?? ""
            return text.hasPrefix(dir + "/report.html.mustache:3:") && text.contains("does not match the section")
        }
        try "<p>\n  {{#metrics}}\n{{name}}\n".write(toFile: dir + "/report.html.mustache", atomically: true, encoding: .utf8)
        #expect {
            try ReportTemplates(directory: dir)
        } throws: { error in
            ((error as? ReportError)?.description ?? "").hasPrefix(dir + "/report.html.mustache:2:3: error: the section {{#metrics}} opened here is never closed")
        }
        try "Hello {{name\n".write(toFile: dir + "/report.html.mustache", atomically: true, encoding: .utf8)
        #expect {
            try ReportTemplates(directory: dir)
        } throws: { error in
            ((error as? ReportError)?.description ?? "").contains("report.html.mustache:1:") 
        }
        #expect(throws: ReportError.self) { try ReportTemplates(directory: dir + "/missing") }
        let empty = dir + "/empty"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        #expect(throws: ReportError.self) { try ReportTemplates(directory: empty) }
    }

    @Test func aFolderThatIsNotARunIsAnErrorNotACrash() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-notrun-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        #expect(throws: ReportError.self) { try PointData.read(dir) }
        #expect(throws: ReportError.self) { try SweepData.read(dir) }
        #expect(throws: ReportError.self) { try ReportWriter().rewrite(runDir: dir) }
        // Damaged files give empty parts, not a crash.
        let out = try fixtureOutputs()
        let run = out + "/" + runA
        try "{not json".write(toFile: run + "/evaluation.json", atomically: true, encoding: .utf8)
        try "garbage\n{\"epoch\": \"x\"}\n".write(toFile: run + "/history.jsonl", atomically: true, encoding: .utf8)
        try ReportWriter().writePointReport(pointDir: run)
        #expect(try String(contentsOfFile: run + "/report.html", encoding: .utf8).contains("</html>"))
    }
}

@Suite struct ChartTests {
    @Test func crowdedScattersAreColouredBySeriesWithoutOverlappingLabels() {
        let marks = (0..<30).map { i in Chart.Mark(x: Double(i % 3 + 1) * 10, y: 0.5 + Double(i) / 100, label: "point \(i)",
                                                   series: ["a", "b", "c"][i % 3]) }
        let svg = Chart.scatter(id: "s", title: "t", xLabel: "x", yLabel: "y", marks: marks)
        #expect(!svg.contains(">point 3</text>"), "no text labels beyond \(Chart.maxLabelledMarks) marks")
        #expect(svg.contains("<title>point 3: "), "tooltips stay")
        #expect(svg.contains(">a</text>") && svg.contains(">c</text>"), "a legend entry per series")
        let few = Chart.scatter(id: "s", title: "t", xLabel: "x", yLabel: "y", marks: Array(marks.prefix(4)))
        #expect(few.contains(">point 3</text>"))
    }

    @Test func axesHaveNiceTicks() {
        let a = Chart.axis([0.12, 0.87], includeZero: false)
        #expect(a.min == 0 && a.max == 1 && a.ticks == [0, 0.2, 0.4, 0.6, 0.8, 1.0])
        let l = Chart.axis([3e-4, 1e-2], includeZero: false, log: true)
        #expect(l.log && l.ticks.count == 3 && abs(l.min - 1e-4) < 1e-12 && abs(l.max - 1e-2) < 1e-12)
        let flat = Chart.axis([5, 5], includeZero: false)
        #expect(flat.min < 5 && flat.max > 5)
        // Accuracies 88.1 % and 88.5 % (four test images apart) do not fill the plot:
        // the axis spans at least 4 percentage points, and a fraction axis stays in 0…1.
        let close = Chart.axis([0.881, 0.885], includeZero: false, minimumSpan: Chart.Format.percent.minimumSpan)
        #expect(close.max - close.min >= 0.04)
        let top = Chart.axis([0.995, 1.0], includeZero: false, minimumSpan: Chart.Format.percent.minimumSpan)
        #expect(top.max <= 1.0 && top.max - top.min >= 0.04)
    }

    @Test func textIsEscapedAndEmptyDataSaysSo() {
        let svg = Chart.bars(id: "x", title: "a <b> & \"c\"", categories: ["<T>"], series: [("p", [0.5])], yLabel: "score (%)")
        #expect(svg.contains("a &lt;b&gt; &amp; &quot;c&quot;") && svg.contains("&lt;T&gt;") && !svg.contains("<T>"))
        #expect(Chart.lines(id: "l", title: "t", xLabel: "epoch", yLabel: "y", series: []).contains("no data"))
        #expect(Chart.heatMap(id: "h", title: "t", classes: [], matrix: []).contains("no confusion matrix"))
        let nan = Chart.lines(id: "l", title: "t", xLabel: "epoch", yLabel: "y",
                              series: [.init(name: "s", points: [(1, .nan), (2, 0.5), (3, .infinity)])])
        #expect(!nan.contains("nan") && !nan.contains("inf"))
    }
}

@Suite struct SeedAxisTests {
    @Test func seedsArePlottedAsCategoriesNotQuantities() {
        func point(_ seed: Int, _ acc: Double) -> SweepData.Point {
            SweepData.Point(label: "seed=\(seed)", folder: "seed=\(seed)", status: "succeeded", rank: nil,
                            metrics: ["val.accuracy": acc], assignments: ["seed": .int(seed)], error: nil)
        }
        let data = SweepData(dir: "/x", experiment: "e", target: "val.accuracy", higherIsBetter: true, sweptPaths: ["seed"],
                             points: [point(2, 0.885), point(1, 0.88)], planOrder: ["seed=1", "seed=2"])
        let svg = ReportContext.sweepCharts(data)[0]
        // Two categories, labelled 1 and 2, and no continuous ticks in between.
        #expect(svg.contains(">1</text>") && svg.contains(">2</text>"))
        #expect(!svg.contains(">1.5</text>") && !svg.contains(">1.2</text>"))
        // In the seeds' order, though the better seed 2 comes first in the ranking.
        let one = svg.range(of: ">1</text>")!.lowerBound, two = svg.range(of: ">2</text>")!.lowerBound
        #expect(one < two)
    }
}

@Suite struct CountTests {
    @Test func testAccuraciesShowTheImagesBehindThem() {
        var a = SweepData.Point(label: "lr=1e-3", folder: "a", status: "succeeded", rank: 1, metrics: ["test.accuracy": 0.88],
                                assignments: ["optimizer.lr": .double(1e-3)], error: nil)
        a.testCount = 50
        var b = a
        (b.label, b.metrics, b.assignments) = ("lr=3e-3", ["test.accuracy": 0.9], ["optimizer.lr": .double(3e-3)])
        let data = SweepData(dir: "/x", experiment: "e", target: "test.accuracy", higherIsBetter: true, sweptPaths: ["optimizer.lr"],
                             points: [b, a], planOrder: ["lr=1e-3", "lr=3e-3"])
        let svg = ReportContext.sweepCharts(data)[0]
        #expect(svg.contains("(44/50)") && svg.contains("(45/50)"), "\(svg)")
    }
}
