// `tlc run` writes report.md and report.html; `tlc report`, `tlc diff` and
// `tlc init` from the command line: exit codes (0 ok, 2 a bad reference, template,
// spec or usage) and the files they write. Every starter validates and plans; the
// default one runs.
import Foundation
import Testing
import Reporting
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
        #expect(board.contains("## Is the difference more than noise?") && board.contains("cannot tell: 2 seeds can never give p < 0.05"), "\(board)")
        let html = try String(contentsOfFile: sweep + "/report.html", encoding: .utf8)
        #expect(html.contains("id=\"seed-groups\"") && html.contains("data-chart=\"sweep-1\"") && html.contains("id=\"ensembles\""))
        #expect(html.contains("data-chart=\"seed-intervals\"") && html.contains("id=\"comparisons\""))
        let point = try String(contentsOfFile: sweep + "/lr=1e-3,init=1/report.md", encoding: .utf8)
        #expect(point.hasPrefix("# seeds — lr=1e-3,init=1\n"))
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
