// `tlc run` writes report.md and report.html; `tlc report`, `tlc diff` and
// `tlc init` from the command line: exit codes (0 ok, 2 a bad reference, template,
// spec or usage) and the files they write. Every starter validates and plans; the
// default one runs.
import Foundation
import Testing
import Reporting
import Runtime
import TestSupport
@testable import TLCCommands

@Suite(.serialized) struct ReportCommandsTests {
    func temp() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-cli-rep-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    static let small = """
        tlc: 1
        name: repcli
        seed: 3
        data: {classes: [0, 1, 9], train_per_class: 40, test_per_class: 20}
        backbone: {arch: mlp, options: {widths: [8]}}
        optimizer: {lr: 1e-3}
        training: {epochs: 2, batch_size: 32}

        """

    @Test func runWritesReportsAndDiffComparesRuns() throws {
        let dir = try temp()
        let file = dir + "/repcli.yaml", out = dir + "/Outputs"
        try Self.small.write(toFile: file, atomically: true, encoding: .utf8)
        #expect(TLC.run(["run", file, "--output", out]) == 0)
        #expect(TLC.run(["run", file, "--output", out, "--set", "optimizer.lr=3e-3"]) == 0)
        let latest = try FileManager.default.destinationOfSymbolicLink(atPath: out + "/repcli/latest")
        let run = out + "/repcli/" + latest
        for f in ["report.md", "report.html", "evaluation.json"] {
            #expect(FileManager.default.fileExists(atPath: run + "/" + f), "\(f)")
        }
        let html = try String(contentsOfFile: run + "/report.html", encoding: .utf8)
        #expect(html.contains("data-chart=\"confusion\"") && html.contains("Ankle boot"))

        #expect(TLC.run(["diff", "repcli@1", "repcli@latest", "--output", out]) == 0)
        #expect(TLC.run(["diff", "repcli@1", "repcli@latest", "--output", out, "--format", "md"]) == 0)
        #expect(TLC.run(["diff", "repcli@1", "repcli@latest", "--output", out, "--format", "json"]) == 0)
        #expect(TLC.run(["diff", "repcli@1", "nothere@latest", "--output", out]) == 2)
        #expect(TLC.run(["diff", "repcli@latest", "--output", out]) == 2)          // one run: nothing to compare
        #expect(TLC.run(["diff", "--output", out]) == 2)
        #expect(TLC.run(["diff", "repcli@1", "repcli@0", "--format", "html", "--output", out]) == 2)
        #expect(TLC.run(["diff", "--plan", file, "--output", out]) == 2)          // --plan takes two files
        #expect(TLC.run(["diff", "--plan", file, file, "--output", out]) == 0)
        #expect(TLC.run(["diff", "--plan", file, file, "--set", "optimizer.lr=3e-4", "--output", out, "--format", "json"]) == 0)
        #expect(TLC.run(["diff", "--plan", file, file, "--set", "optimizer.lr=-1", "--output", out]) == 2)
        #expect(TLC.run(["diff", "repcli@1", "repcli@0", "--set", "optimizer.lr=3e-4", "--output", out]) == 2)
        #expect(TLC.run(["diff", "--plan", file, dir + "/none.yaml", "--output", out]) == 2)

        // Re-rendering with a user's template; a broken one is exit code 2 and leaves the report alone.
        let templates = dir + "/tpl"
        try FileManager.default.createDirectory(atPath: templates, withIntermediateDirectories: true)
        try "{{% CONTENT_TYPE: TEXT}}\nmine: {{experiment}} {{target_value}}\n".write(toFile: templates + "/report.md.mustache", atomically: true, encoding: .utf8)
        // --into keeps the run's own reports and writes the new ones elsewhere.
        let own = try String(contentsOfFile: run + "/report.md", encoding: .utf8)
        #expect(TLC.run(["report", "repcli@latest", "--output", out, "--template", templates, "--into", dir + "/mine"]) == 0)
        #expect(try String(contentsOfFile: dir + "/mine/report.md", encoding: .utf8).hasPrefix("mine: repcli "))
        #expect(try String(contentsOfFile: run + "/report.md", encoding: .utf8) == own)
        #expect(TLC.run(["report", "repcli@latest", "--output", out, "--template", templates]) == 0)
        #expect(try String(contentsOfFile: run + "/report.md", encoding: .utf8).hasPrefix("mine: repcli "))
        try "{{#metrics}}oops\n".write(toFile: templates + "/report.md.mustache", atomically: true, encoding: .utf8)
        #expect(TLC.run(["report", "repcli@latest", "--output", out, "--template", templates]) == 2)
        #expect(try String(contentsOfFile: run + "/report.md", encoding: .utf8).hasPrefix("mine: repcli "))
        #expect(TLC.run(["report", "nothere@latest", "--output", out]) == 2)
        // A broken template stops `tlc run` before anything runs.
        let runs = try FileManager.default.contentsOfDirectory(atPath: out + "/repcli").count
        #expect(TLC.run(["run", file, "--output", out, "--template", templates]) == 2)
        #expect(TLC.run(["run", file, "--output", out, "--template", dir + "/missing"]) == 2)
        #expect(try FileManager.default.contentsOfDirectory(atPath: out + "/repcli").count == runs)
    }

    /// Runs a command in-process; returns its exit code and what it printed on stdout.
    func captured(_ arguments: [String]) -> (code: Int32, out: String) {
        let capture = Output.Capture()
        let code = Output.$capture.withValue(capture) { TLC.run(arguments) }
        return (code, capture.text)
    }

    @Test func twoSweepsAreComparedPointByPoint() throws {
        let dir = try temp()
        let file = dir + "/tinydiff.yaml", out = dir + "/Outputs"
        try TestSpecs.tinySweep(name: "tinydiff").write(toFile: file, atomically: true, encoding: .utf8)
        #expect(TLC.run(["run", file, "--output", out]) == 0)
        #expect(TLC.run(["run", file, "--output", out, "--set", "seed=6"]) == 0)
        let runs = RunStore(outputRoot: out).runs(of: "tinydiff")
        try #require(runs.count == 2)
        let (a, b) = (runs[1], runs[0])                       // newest first: tinydiff@1 is A, @latest is B
        let labels = a.points.map(\.label)
        #expect(labels.count == 4 && Set(labels) == Set(b.points.map(\.label)))
        let target = a.target                                 // the sweep's report.target (val.accuracy by default)
        #expect(target.hasSuffix("accuracy") && b.target == target)
        /// A metric of a point, read straight from its metrics.json.
        func metric(_ run: RunRecord, _ label: String, _ name: String) throws -> Double {
            let point = try #require(run.points.first { $0.label == label })
            let data = try Data(contentsOf: URL(fileURLWithPath: point.path + "/metrics.json"))
            return try #require((try JSONSerialization.jsonObject(with: data) as? [String: Any])?[name] as? Double)
        }
        func percent(_ v: Double) -> String { String(format: "%.2f%%", v * 100) }
        /// The delta as the tables write it: percentage points, a real minus sign, the verdict.
        func delta(_ d: Double) -> String {
            d == 0 ? "=" : (d > 0 ? "+" : "−") + String(format: "%.2f pp", abs(d) * 100) + (d > 0 ? " ↑ better" : " ↓ worse")
        }

        let text = captured(["diff", "tinydiff@1", "tinydiff@latest", "--output", out])
        #expect(text.code == 0)
        #expect(text.out.contains(a.id) && text.out.contains(b.id) && a.id != b.id)
        #expect(text.out.contains("seed  5  →  6"), "the configuration part names the changed seed")
        var changed = 0
        for label in labels {
            let lines = text.out.split(separator: "\n").filter { $0.hasPrefix("  \(label) ") }
            #expect(lines.count == 1, "\(label) should have one row: \(text.out)")
            // Columns are two or more spaces apart: point, in, then the target's A, B and Δ.
            let cells = lines.first.map { $0.split(separator: #/  +/#).map(String.init) } ?? []
            let (va, vb) = (try metric(a, label, target), try metric(b, label, target))
            #expect(Array(cells.prefix(5)) == [label, "both", percent(va), percent(vb), delta(vb - va)], "\(cells)")
            if vb != va { changed += 1 }
        }
        #expect(changed > 0, "another seed changes some \(target)")

        let md = captured(["diff", "tinydiff@1", "tinydiff@latest", "--output", out, "--format", "md"])
        #expect(md.code == 0 && md.out.contains("`\(a.id)`") && md.out.contains("`\(b.id)`"))
        for label in labels {
            let rows = md.out.split(separator: "\n").filter { $0.hasPrefix("| \(label) | both | ") }
            #expect(rows.count == 1)
            let (va, vb) = (try metric(a, label, target), try metric(b, label, target))
            #expect(rows.first?.hasPrefix("| \(label) | both | \(percent(va)) | \(percent(vb)) | \(delta(vb - va)) |") == true, "\(rows)")
        }

        let json = captured(["diff", a.path, b.id, "--output", out, "--format", "json"])
        #expect(json.code == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any])
        #expect((object["sweeps"] as? [[String: Any]])?.map { $0["run_id"] as? String } == [a.id, b.id])
        #expect(object["target"] as? String == target)
        let rows = try #require(object["points"] as? [[String: Any]])
        #expect(rows.compactMap { $0["label"] as? String }.sorted() == labels.sorted())
        for row in rows {
            let label = try #require(row["label"] as? String)
            let metrics = try #require(row["metrics"] as? [[String: Any]])
            #expect(metrics.first?["name"] as? String == target)
            for name in [target, "test.accuracy", "test.loss"] {
                let m = try #require(metrics.first { $0["name"] as? String == name }, "\(name)")
                let (va, vb) = (try metric(a, label, name), try metric(b, label, name))
                #expect(m["values"] as? [Double] == [va, vb])
                #expect(abs(try #require(m["delta"] as? Double) - (vb - va)) < 1e-12)
                #expect(m["better"] as? Bool == (vb == va ? nil : name == "test.loss" ? vb < va : vb > va))
            }
            let seconds = try #require(metrics.first { $0["name"] as? String == "time.train_seconds" })
            #expect(seconds["better"] is NSNull && seconds["higher_is_better"] is NSNull)
        }

        // One sweep and one run, an unknown run, a sweep that is not there: exit code 2.
        try Self.small.write(toFile: dir + "/repcli.yaml", atomically: true, encoding: .utf8)
        #expect(TLC.run(["run", dir + "/repcli.yaml", "--output", out]) == 0)
        #expect(captured(["diff", "tinydiff@latest", "repcli@latest", "--output", out]).code == 2)
        #expect(captured(["diff", "tinydiff@latest", "nothere", "--output", out]).code == 2)
        #expect(captured(["diff", "tinydiff@latest", "tinydiff@5", "--output", out]).code == 2)

        // Every `tlc run` rewrote Outputs/index.html: both sweeps and the single run, each linking its report.
        let index = try String(contentsOfFile: out + "/index.html", encoding: .utf8)
        let all = RunStore(outputRoot: out).allRuns()
        #expect(all.count == 3)
        for run in all {
            #expect(index.contains("<a href=\"\(run.experiment)/\(run.id)/report.html\">\(run.id)</a>"), "\(run.id)")
            #expect(FileManager.default.fileExists(atPath: run.path + "/report.html"))
        }
        #expect(index.contains("<details><summary>4 points, ranked by \(target)"))
        // `tlc report --index` with the columns asked for; bad uses are exit code 2.
        #expect(captured(["report", "--index", "--metrics", "test.accuracy, val.accuracy", "--output", out]).code == 0)
        let custom = try String(contentsOfFile: out + "/index.html", encoding: .utf8)
        #expect(custom.contains("<th data-key=\"test.accuracy\"") && custom.contains("<th data-key=\"val.accuracy\"")
                && !custom.contains("<th data-key=\"target\""))
        #expect(TLC.run(["report", "--metrics", "test.accuracy", "--output", out]) == 2)     // --metrics is for --index
        #expect(TLC.run(["report", "--index", "--metrics", ",", "--output", out]) == 2)
        #expect(TLC.run(["report", "--output", out]) == 2)                                   // neither a run nor --index
        #expect(TLC.run(["report", "--index", "--output", dir + "/missing"]) == 2)
    }

    @Test func reportTemplateInTheSpecIsRelativeToTheSpec() throws {
        let dir = try temp()
        try FileManager.default.createDirectory(atPath: dir + "/exp/tpl", withIntermediateDirectories: true)
        try "{{% CONTENT_TYPE: TEXT}}\nspec template: {{experiment}}\n".write(toFile: dir + "/exp/tpl/report.md.mustache", atomically: true, encoding: .utf8)
        let file = dir + "/exp/repcli.yaml", out = dir + "/Outputs"
        try (Self.small + "report: {template: tpl}\n").write(toFile: file, atomically: true, encoding: .utf8)
        #expect(TLC.run(["run", file, "--output", out]) == 0)
        let latest = try FileManager.default.destinationOfSymbolicLink(atPath: out + "/repcli/latest")
        #expect(try String(contentsOfFile: out + "/repcli/" + latest + "/report.md", encoding: .utf8) == "spec template: repcli\n")
    }

    @Test func aSweepOverSeedsReportsMeanAndSpread() throws {
        let dir = try temp()
        let file = dir + "/seeds.yaml", out = dir + "/Outputs"
        // Over the initialization seed the data stay fixed, so the top two points can be ensembled.
        try (Self.small.replacingOccurrences(of: "name: repcli", with: "name: seeds")
             + "sweep: {grid: {optimizer.lr: [1e-3, 3e-3], seeds.init: [1, 2]}}\nensemble: {members: {top: 2}}\n")
            .write(toFile: file, atomically: true, encoding: .utf8)
        #expect(TLC.run(["run", file, "--output", out]) == 0)
        let sweep = out + "/seeds/" + (try FileManager.default.destinationOfSymbolicLink(atPath: out + "/seeds/latest"))
        let board = try String(contentsOfFile: sweep + "/leaderboard.md", encoding: .utf8)
        #expect(board.contains("## Mean over seeds") && board.contains("| lr=1e-3 | 2 |") && board.contains(" ± "))
        // The ensemble is the sweep's own row, with its members by label.
        #expect(board.contains("## Ensembles of the sweep's points") && board.contains("| the top 2 points by val.accuracy, mean_probs | succeeded |"), "\(board)")
        #expect(board.contains("lr=") && board.contains(",init="))
        // The two learning rates share their seeds: compared seed by seed, honestly.
        #expect(board.contains("## Is the difference more than noise?") && board.contains("cannot tell: 2 seeds can never give p below 0.05"), "\(board)")
        let html = try String(contentsOfFile: sweep + "/report.html", encoding: .utf8)
        #expect(html.contains("id=\"seed-groups\"") && html.contains("data-chart=\"sweep-1\"") && html.contains("id=\"ensembles\""))
        #expect(html.contains("data-chart=\"seed-intervals\"") && html.contains("id=\"comparisons\""))
        let point = try String(contentsOfFile: sweep + "/lr=1e-3,init=1/report.md", encoding: .utf8)
        #expect(point.hasPrefix("# seeds — lr=1e-3,init=1\n"))
        // {{best}} and {{cells}} alone read as text, not as Swift dictionaries.
        try FileManager.default.createDirectory(atPath: dir + "/tpl2", withIntermediateDirectories: true)
        try "{{% CONTENT_TYPE: TEXT}}\nbest: {{best}}\n{{#points}}{{label}}: {{cells}}\n{{/points}}"
            .write(toFile: dir + "/tpl2/leaderboard.md.mustache", atomically: true, encoding: .utf8)
        #expect(TLC.run(["report", "seeds@latest", "--output", out, "--template", dir + "/tpl2", "--into", dir + "/tpl2-out"]) == 0)
        let custom = try String(contentsOfFile: dir + "/tpl2-out/leaderboard.md", encoding: .utf8)
        #expect(custom.hasPrefix("best: lr=") && custom.contains("(val.accuracy ") && custom.contains(" | "), "\(custom)")
        #expect(!custom.contains("[\"") && !custom.contains("\"value\":"), "\(custom)")
        #expect(!FileManager.default.fileExists(atPath: sweep + "/lr=1e-3,init=1/compression.md"), "the ensemble is no point's variant")
        // Each point against a baseline point, by label.
        #expect(TLC.run(["diff", "seeds@latest", "--baseline", "lr=3e-3,init=2", "--output", out]) == 0)
        #expect(TLC.run(["diff", "seeds@latest/lr=1e-3,init=1", "lr=1e-3,init=2", "--output", out, "--format", "md"]) == 0)
        // Over `seed`, which also chooses the data, the same ensemble is refused before anything runs.
        try (Self.small.replacingOccurrences(of: "name: repcli", with: "name: seeds2")
             + "sweep: {grid: {seed: [1, 2]}}\nensemble: {members: {top: 2}}\n").write(toFile: dir + "/seeds2.yaml", atomically: true, encoding: .utf8)
        #expect(TLC.run(["validate", dir + "/seeds2.yaml"]) == 2)
    }

    @Test func everyStarterValidatesAndPlans() throws {
        let dir = try temp()
        #expect(Set(Starters.names) == ["basic", "sweep", "cnn", "transfer"])
        for starter in ["basic", "sweep", "cnn", "transfer"] {
            let file = dir + "/Experiments/\(starter)-start.yaml"
            #expect(TLC.run(["init", "--template", starter, file]) == 0)
            let text = try String(contentsOfFile: file, encoding: .utf8)
            #expect(text.contains("name: \(starter)-start") && text.hasPrefix("#"))
            #expect(TLC.run(["validate", file]) == 0, "\(starter)")
            #expect(TLC.run(["plan", file]) == 0, "\(starter)")
        }
        // The transfer starter writes its source experiment next to it, and plans it as a dependency.
        let pretrain = try String(contentsOfFile: dir + "/Experiments/transfer-start-pretrain.yaml", encoding: .utf8)
        #expect(pretrain.contains("name: transfer-start-pretrain"))
        let basic = try String(contentsOfFile: dir + "/Experiments/basic-start.yaml", encoding: .utf8)
        #expect(basic.contains("rmsprop") && !basic.contains("sgd, momentum") && basic.contains("`tlc zoo` lists"))
        #expect(TLC.run(["init", dir + "/Experiments/basic-start.yaml"]) == 2)                // exists
        #expect(TLC.run(["init", "--force", dir + "/Experiments/basic-start.yaml"]) == 0)
        #expect(TLC.run(["init", "--template", "nope", dir + "/x.yaml"]) == 2)
        #expect(!FileManager.default.fileExists(atPath: dir + "/x.yaml"))
    }

    @Test func theDefaultStarterRuns() throws {
        let dir = try temp()
        let file = dir + "/first.yaml"
        #expect(TLC.run(["init", file]) == 0)
        #expect(TLC.run(["run", file, "--output", dir + "/Outputs", "--set", "training.epochs=1"]) == 0)
        #expect(FileManager.default.fileExists(atPath: dir + "/Outputs/first/latest/report.html"))
    }
}

@Suite(.serialized) struct MarkdownEscapeTests {
    @Test func valuesCannotBreakMarkdownTables() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-md-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let file = dir + "/md.yaml", out = dir + "/Outputs"
        try (TestSpecs.tinySweep(name: "mdesc").components(separatedBy: "sweep:")[0]
             + "sweep:\n  cases:\n    \"a|b\": {description: x}\n    \"<script>x</script>\": {description: y}\n")
            .write(toFile: file, atomically: true, encoding: .utf8)
        #expect(TLC.run(["run", file, "--output", out]) == 0)
        let sweep = out + "/mdesc/" + (try FileManager.default.destinationOfSymbolicLink(atPath: out + "/mdesc/latest"))
        let board = try String(contentsOfFile: sweep + "/leaderboard.md", encoding: .utf8)
        #expect(!board.contains("<script>") && board.contains("&lt;script&gt;"), "\(board)")
        #expect(board.contains("case=a\\|b"), "\(board)")
        // Every row of the points table has as many cells as its header.
        let table = board.components(separatedBy: "| rank | point |")[1].split(separator: "\n").dropFirst().prefix(3)
        let cells = table.map { row in row.replacingOccurrences(of: "\\|", with: "").filter { $0 == "|" }.count }
        #expect(Set(cells).count == 1, "\(table)")
    }
}
