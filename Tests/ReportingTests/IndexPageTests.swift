// Outputs/index.html from the fixture runs (two single runs, a sweep, a run with
// variants, and a failed run added here): every run listed newest first, every
// link pointing at a report that exists, the metric columns asked for with the
// numbers of metrics.json to sort by, each sweep's points and charts, nothing
// fetched from elsewhere. BrowserTests checks the same page in Chromium.
import Foundation
import Testing
@testable import Reporting
@testable import Runtime

/// The run ids of the index fixture, newest first.
let indexRunIDs = ["20261129-010300-dddd", "20261129-010200-cccc", "20261129-010100-bbbb", "20261129-010000-aaaa", "20261128-230000-ffff"]

/// The fixture Outputs with every report written, plus a failed single run
/// (`small/20261128-230000-ffff.failed`: no metrics, no report).
func indexFixture() throws -> String {
    let out = try fixtureOutputs()
    for run in [runA, runB, sweepRun, compressedRun] { try ReportWriter().rewrite(runDir: out + "/" + run) }
    let failed = out + "/small/20261128-230000-ffff.failed"
    try FileManager.default.copyItem(atPath: out + "/" + runA, toPath: failed)
    for file in ["metrics.json", "report.md", "report.html"] { try FileManager.default.removeItem(atPath: failed + "/" + file) }
    return out
}

/// The `<tbody class="run">` of one run in a page (up to the next run's, or the footer).
func runBody(_ html: String, _ id: String) throws -> Substring {
    let start = try #require(html.range(of: "data-run=\"\(id)\""), "no row for \(id)")
    let end = html.range(of: "<tbody class=\"run\"", range: start.upperBound..<html.endIndex)
        ?? html.range(of: "<footer", range: start.upperBound..<html.endIndex)
    return html[start.lowerBound..<(end?.lowerBound ?? html.endIndex)]
}

@Suite struct IndexPageTests {
    @Test func everyRunIsListedNewestFirstWithLinksThatExist() throws {
        let out = try indexFixture()
        let page = try IndexPage(store: RunStore(outputRoot: out))
        #expect(try page.write() == out + "/index.html")
        let html = try String(contentsOfFile: out + "/index.html", encoding: .utf8)
        let positions = try indexRunIDs.map { id in try #require(html.range(of: "data-run=\"\(id)\"")).lowerBound }
        #expect(positions == positions.sorted(), "newest first")
        #expect(html.contains("5 runs of 3 experiments"))
        // Every link is a report that exists: the four finished runs and the sweep's eight points.
        let hrefs = html.matches(of: #/href="([^"]+)"/#).map { String($0.1) }
        #expect(hrefs.count == 4 + 8)
        for href in hrefs {
            let file = out + "/" + (href.removingPercentEncoding ?? href)
            #expect(href.hasSuffix("/report.html") && FileManager.default.fileExists(atPath: file), "\(href)")
        }
        #expect(hrefs.contains("smallsweep/20261129-010200-cccc/report.html"))
        #expect(hrefs.contains("smallsweep/20261129-010200-cccc/lr=3e-3,kind=adam/report.html"))
        // The failed run is there with its status, and without a link (it has no report).
        let failed = try runBody(html, "20261128-230000-ffff")
        #expect(failed.contains("data-status=\"failed\"") && !failed.contains("href="))
        #expect(html.contains("<option value=\"failed\">failed</option>"))
        // Default columns: each run's target and test.accuracy; cells sort by metrics.json's numbers.
        #expect(html.contains("<th data-key=\"target\"") && html.contains("<th data-key=\"test.accuracy\""))
        let a = try runBody(html, "20261129-010000-aaaa")
        #expect(a.contains("<td data-value=\"0.784\" title=\"\">78.40% <span class=\"metric\">test.accuracy</span></td>"), "\(a)")
        // A sweep: its best point's values, its points and one chart per swept parameter, collapsed.
        let sweep = try runBody(html, "20261129-010200-cccc")
        #expect(sweep.contains("<td data-value=\"0.732\" title=\"best point: lr=3e-3,kind=adam\">73.20%"))
        #expect(sweep.contains("<details><summary>8 points, ranked by test.accuracy"))
        #expect(sweep.components(separatedBy: "<tr class=\"point\"").count - 1 == 8)
        #expect(sweep.contains("data-chart=\"smallsweep/20261129-010200-cccc-0\"") && sweep.contains("data-chart=\"smallsweep/20261129-010200-cccc-1\""))
        #expect(sweep.contains("optimizer.lr (log scale)"))
        #expect(sweep.contains("data-search=\"smallsweep 20261129-010200-cccc lr=0.01,kind=adam"))
        // Self-contained: one inline script, nothing loaded from elsewhere.
        #expect(html.components(separatedBy: "<script").count - 1 == 1 && !html.contains("<script src"))
        #expect(!html.contains("<link") && !html.contains(" src="))
        #expect(!html.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "").contains("http"))
    }

    @Test func theColumnsAreTheMetricsAskedFor() throws {
        let out = try indexFixture()
        let page = try IndexPage(store: RunStore(outputRoot: out), metrics: ["val.accuracy", "model.bytes", "nope"])
        #expect(page.unknownMetrics == ["nope"])
        try page.write()
        let html = try String(contentsOfFile: page.file, encoding: .utf8)
        #expect(!html.contains("<th data-key=\"target\""))
        #expect(html.contains("<th data-key=\"val.accuracy\" data-type=\"num\" tabindex=\"0\" title=\"val.accuracy\">val.accuracy</th><th data-key=\"model.bytes\""))
        let a = try runBody(html, "20261129-010000-aaaa")
        #expect(a.contains("<td data-value=\"0.81\" title=\"\">81.00%</td><td data-value=\"204088\" title=\"\">199.3 KB</td><td data-value=\"\" title=\"\">–</td>"), "\(a)")
        #expect(try IndexPage(store: RunStore(outputRoot: out), metrics: []).metrics == IndexPage.defaultMetrics)
    }

    @Test func aMissingRootIsAnErrorAndAnEmptyOneAPage() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-index-\(UUID().uuidString)").path
        #expect(throws: ReportError.self) { try IndexPage(store: RunStore(outputRoot: dir)) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try IndexPage(store: RunStore(outputRoot: dir)).write()
        let html = try String(contentsOfFile: dir + "/index.html", encoding: .utf8)
        #expect(html.contains("No finished runs yet") && !html.contains("<table id=\"runs\""))
    }

    @Test func aUserTemplateCanReplaceThePage() throws {
        let out = try indexFixture()
        let dir = out + "/tpl"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "{{#runs}}{{experiment}} {{run}} {{status}}\n{{/runs}}".write(toFile: dir + "/index.html.mustache", atomically: true, encoding: .utf8)
        try IndexPage(store: RunStore(outputRoot: out)).write(templates: ReportTemplates(directory: dir))
        let text = try String(contentsOfFile: out + "/index.html", encoding: .utf8)
        #expect(text.hasPrefix("compressed 20261129-010300-dddd succeeded\nsmallsweep 20261129-010200-cccc succeeded\n"))
    }
}
