// report.html in a real browser: headless Chromium (Debian's `chromium`, which
// `make deps` installs) renders the reports of the fixture runs to PNG and dumps
// the DOM it built. The page must load with no console or network errors (the
// network is made unreachable, so anything fetched from outside would fail), and
// every chart must be in the rendered DOM. The PNGs are kept in
// $TLC_SCREENSHOTS (default: a temporary folder) for people to look at.
// Without chromium the test is skipped, unless TLC_REQUIRE_CHROMIUM is set (as
// `make test` does): then a missing browser fails.
import Foundation
import Testing
@testable import Reporting
import Runtime

let chromium: String? = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
    .first { FileManager.default.isExecutableFile(atPath: $0) }
let requireChromium = ProcessInfo.processInfo.environment["TLC_REQUIRE_CHROMIUM"] != nil

@Suite(.serialized, .enabled(if: chromium != nil || requireChromium, "chromium is not installed (make deps installs it)"))
struct BrowserTests {
    /// Runs chromium headless on a file; returns (exit code, stdout, stderr).
    func browse(_ args: [String], _ file: String) throws -> (Int32, String, String) {
        let browser = try #require(chromium, "chromium is not installed: make deps (apt-get install chromium)")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-chromium-\(UUID().uuidString)").path
        p.arguments = ["120", browser, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
                       "--user-data-dir=\(profile)", "--host-resolver-rules=MAP * ~NOTFOUND"] + args + ["file://" + file]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // Read both pipes while the browser runs (a full pipe would block it).
        nonisolated(unsafe) var errData = Data()
        let reader = Thread { errData = err.fileHandleForReading.readDataToEndOfFile() }
        reader.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        while !reader.isFinished { usleep(10_000) }
        try? FileManager.default.removeItem(atPath: profile)
        return (p.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }

    /// Console messages and failed loads in chromium's log (dbus noise aside).
    func pageErrors(_ log: String) -> [String] {
        log.split(separator: "\n").map(String.init).filter { line in
            line.contains("CONSOLE") || line.contains("net::ERR") || line.contains("Uncaught")
                || line.contains("Failed to load") || line.contains("Not allowed to load")
        }
    }

    @Test(arguments: [
        (runA, ["loss", "accuracy", "confusion", "per-class"]),
        (compressedRun, ["loss", "accuracy", "confusion", "per-class", "variants"]),
        (sweepRun, ["sweep-0", "sweep-1"]),
    ])
    func reportRendersInChromium(run: String, charts: [String]) throws {
        let out = try fixtureOutputs()
        try ReportWriter().rewrite(runDir: out + "/" + run)
        let html = out + "/" + run + "/report.html"
        let shots = ProcessInfo.processInfo.environment["TLC_SCREENSHOTS"]
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("tlc-screenshots").path
        try FileManager.default.createDirectory(atPath: shots, withIntermediateDirectories: true)
        let png = shots + "/" + run.split(separator: "/")[0] + ".png"
        try? FileManager.default.removeItem(atPath: png)

        let (code, _, log) = try browse(["--screenshot=\(png)", "--window-size=1400,2400", "--hide-scrollbars"], html)
        #expect(code == 0, "chromium exited with \(code): \(log.suffix(2000))")
        #expect(pageErrors(log).isEmpty, "errors while loading \(html): \(pageErrors(log))")
        let bytes = try #require(FileManager.default.contents(atPath: png), "no screenshot written")
        #expect(bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]))        // a PNG
        #expect(bytes.count > 30_000, "a nearly empty screenshot (\(bytes.count) bytes)")
        print("screenshot: \(png)")

        let (code2, dom, log2) = try browse(["--dump-dom"], html)
        #expect(code2 == 0)
        #expect(pageErrors(log2).isEmpty, "\(pageErrors(log2))")
        #expect(dom.contains("</footer>"))                               // the whole page was parsed
        for chart in charts { #expect(dom.contains("data-chart=\"\(chart)\""), "chart \(chart) missing from the rendered DOM") }
        #expect(dom.components(separatedBy: "<svg").count - 1 == charts.count)
        #expect(!dom.contains("parsererror"))
    }

    /// At 1280 px wide, a wide table scrolls inside itself: the page does not overflow.
    @Test(arguments: [sweepRun, compressedRun])
    func pagesFitA1280PixelWindow(run: String) throws {
        let out = try fixtureOutputs()
        try ReportWriter().rewrite(runDir: out + "/" + run)
        let page = try String(contentsOfFile: out + "/" + run + "/report.html", encoding: .utf8)
        // A measuring copy with one more table, wider than any window (a sweep with many
        // metric columns): after layout, the page's own width goes into the DOM.
        let probe = out + "/" + run + "/width-probe.html"
        let wide = "<table><tr>" + String(repeating: "<td>a-long-metric-column-value</td>", count: 40) + "</tr></table>"
        try page.replacingOccurrences(of: "</body>", with: wide + """
            <script>document.body.setAttribute('data-scroll-width', String(document.documentElement.scrollWidth));</script></body>
            """).write(toFile: probe, atomically: true, encoding: .utf8)
        let (code, dom, log) = try browse(["--dump-dom", "--window-size=1280,900"], probe)
        #expect(code == 0 && pageErrors(log).isEmpty, "\(pageErrors(log))")
        let width = try #require(dom.range(of: #"data-scroll-width="(\d+)""#, options: .regularExpression).map {
            Int(dom[$0].dropFirst("data-scroll-width=\"".count).dropLast())!
        })
        #expect(width <= 1280, "\(run): the page is \(width) px wide at 1280")
    }

    /// Outputs/index.html: it renders without errors, the header click sorts the runs
    /// (driven through the page's own address state, `#sort=KEY` clicks that column's
    /// header, `-KEY` twice), the text box and the status menu filter them, and every
    /// link is a report that exists.
    @Test func theIndexSortsAndFiltersInChromium() throws {
        let out = try indexFixture()
        try IndexPage(store: RunStore(outputRoot: out)).write()
        let html = out + "/index.html"
        let shots = ProcessInfo.processInfo.environment["TLC_SCREENSHOTS"]
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("tlc-screenshots").path
        try FileManager.default.createDirectory(atPath: shots, withIntermediateDirectories: true)
        let png = shots + "/index.png"
        try? FileManager.default.removeItem(atPath: png)
        let (code, _, log) = try browse(["--screenshot=\(png)", "--window-size=1400,1200", "--hide-scrollbars"], html + "#q=3e-3")
        #expect(code == 0 && pageErrors(log).isEmpty, "\(pageErrors(log))")
        #expect((FileManager.default.contents(atPath: png)?.count ?? 0) > 30_000, "a nearly empty screenshot")
        print("screenshot: \(png)")

        /// The run rows in DOM order once the page's script ran, and whether each is shown.
        func rows(_ fragment: String) throws -> (rows: [(id: String, shown: Bool)], dom: String) {
            let (code, dom, log) = try browse(["--dump-dom"], html + fragment)
            #expect(code == 0 && pageErrors(log).isEmpty, "\(fragment): \(pageErrors(log))")
            #expect(dom.contains("</footer>"))
            let rows = dom.matches(of: #/<tbody class="run"[^>]*>/#).map { m in
                (id: m.0.firstMatch(of: #/data-run="([^"]+)"/#).map { String($0.1) } ?? "", shown: !m.0.contains(#/ hidden=""/#))
            }
            return (rows, dom)
        }
        let plain = try rows("")
        #expect(plain.rows.map(\.id) == indexRunIDs && plain.rows.allSatisfy(\.shown))
        #expect(plain.dom.contains("<input id=\"filter\" type=\"search\"") && plain.dom.contains("<select id=\"status\""))
        for href in plain.dom.matches(of: #/href="([^"]+)"/#).map({ String($0.1) }) {
            #expect(FileManager.default.fileExists(atPath: out + "/" + (href.removingPercentEncoding ?? href)), "\(href)")
        }
        for id in indexRunIDs.dropLast() { #expect(plain.dom.contains("<a href=\"\(id)/report.html\"") || plain.dom.contains("/\(id)/report.html\">\(id)</a>"), "\(id) is linked") }

        // One click on "date": oldest first.
        #expect(try rows("#sort=date").rows.map(\.id) == indexRunIDs.reversed())
        // Two clicks on test.accuracy: highest first, as metrics.json says (ties keep newest first; no value last).
        let records = RunStore(outputRoot: out).allRuns()
        let accuracy = Dictionary(uniqueKeysWithValues: records.map { ($0.id, IndexPage.bestPoint($0)?.metrics["test.accuracy"]) })
        let byAccuracy = indexRunIDs.enumerated().sorted { x, y in
            switch (accuracy[x.element] ?? nil, accuracy[y.element] ?? nil) {
            case let (a?, b?): return a != b ? a > b : x.offset < y.offset
            case (.some, nil): return true
            case (nil, .some): return false
            case (nil, nil): return x.offset < y.offset
            }
        }.map(\.element)
        #expect(byAccuracy != indexRunIDs, "the fixture's order must differ for the sort to show")
        #expect(try rows("#sort=-test.accuracy").rows.map(\.id) == byAccuracy)
        // The text box (a point label matches its sweep) and the status menu.
        let sgd = try rows("#q=kind%3Dsgd")
        #expect(sgd.rows.filter(\.shown).map(\.id) == ["20261129-010200-cccc"])
        #expect(sgd.dom.contains("<details open=\"\">") && sgd.dom.contains("<tr class=\"point match\" data-label=\"lr=0.01,kind=sgd\">"))
        #expect(try rows("#status=failed").rows.filter(\.shown).map(\.id) == ["20261128-230000-ffff"])
        #expect(try rows("#q=small&status=succeeded").rows.filter(\.shown).map(\.id)
                == ["20261129-010200-cccc", "20261129-010100-bbbb", "20261129-010000-aaaa"])
    }

    /// The check above can fail: a page with a script error is caught.
    @Test func aBrokenPageIsCaught() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-bad-\(UUID().uuidString).html").path
        try "<html><body><script>console.error('boom'); undefinedFunction();</script><p>hi</p></body></html>"
            .write(toFile: file, atomically: true, encoding: .utf8)
        let (_, dom, log) = try browse(["--dump-dom"], file)
        #expect(dom.contains("<p>hi</p>"))
        #expect(pageErrors(log).count >= 2, "\(log)")
    }
}
