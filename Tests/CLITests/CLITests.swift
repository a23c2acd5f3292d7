// The command line: exit codes (0 ok, 2 spec or usage error) and that every
// committed experiment validates and plans.
import Foundation
import Testing
import FrontEnd
import TestSupport
@testable import TLCCommands

enum Repo {
    /// The package root, found from this file's path.
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
        }
        return FileManager.default.currentDirectoryPath
    }()
    static func experiments() -> [String] {
        let dir = root + "/Experiments"
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
            .filter { $0.hasSuffix(".yaml") }.sorted().map { dir + "/" + $0 }
    }
}

@Suite(.serialized) struct CLITests {
    @Test func everyCommittedExperimentValidates() throws {
        // The image experiments read Data/ (scripts/example-data.sh makes it when missing).
        try ExampleData.prepare()
        let files = Repo.experiments()
        #expect(files.count >= 5)
        #expect(TLC.run(["validate", "--quiet"] + files) == 0)
    }

    @Test func everyCommittedExperimentPlans() throws {
        try ExampleData.prepare()
        for file in Repo.experiments() {
            #expect(TLC.run(["plan", file, "--format", "json"]) == 0, "\(file)")
        }
    }

    @Test func specErrorsExitWithTwo() {
        let broken = Repo.root + "/Tests/FrontEndTests/Fixtures/specs/several-errors.yaml"
        #expect(TLC.run(["validate", broken]) == 2)
        #expect(TLC.run(["plan", broken]) == 2)
        #expect(TLC.run(["validate", Repo.root + "/Experiments/quickstart.yaml", "--set", "optimizer.lr=-1"]) == 2)
        #expect(TLC.run(["validate", "/nonexistent.yaml"]) == 2)
    }

    @Test func usageErrorsExitWithTwo() {
        #expect(TLC.run(["frobnicate"]) == 2)
        #expect(TLC.run(["plan"]) == 2)
        #expect(TLC.run(["plan", Repo.root + "/Experiments/quickstart.yaml", "--format", "xml"]) == 2)
    }

    @Test func helpAndVersionExitWithZero() {
        #expect(TLC.run(["--version"]) == 0)
        #expect(TLC.run(["--help"]) == 0)
        #expect(TLC.run(["plan", "--help"]) == 0)
    }

    @Test func schemaIsJSONSchemaForEverySection() throws {
        let data = Data(SpecSchema.jsonSchema().utf8)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let properties = try #require(object["properties"] as? [String: Any])
        for section in ["tlc", "name", "description", "seed", "extends", "data", "normalization", "backbone", "head",
                        "optimizer", "training", "compression", "ensemble", "sweep", "report"] {
            #expect(properties[section] != nil, "\(section)")
        }
        #expect((object["required"] as? [String]) == ["tlc", "name"])
        #expect(TLC.run(["schema"]) == 0)
    }
}
