// Selection on validation: the default report.target is a validation metric, and
// ranking a sweep (or choosing {top: K} members) by a test metric is a located warning.
import Foundation
import Testing
@testable import FrontEnd

@Suite struct SelectionTests {
    func load(_ body: String) throws -> LoadedExperiment {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-select-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let file = dir.appendingPathComponent("s.yaml").path
        try ("tlc: 1\nname: s\nbackbone: {arch: mlp}\n" + body).write(toFile: file, atomically: true, encoding: .utf8)
        return try ExperimentLoader().load(path: file)
    }

    @Test func theDefaultTargetIsAValidationMetric() throws {
        #expect(try load("").base.report.target == "val.accuracy")
        #expect(try load("data: {validation: 0}\n").base.report.target == "test.accuracy")
        #expect(throws: DiagnosticError.self) { try load("data: {validation: 0}\nreport: {target: val.loss}\n") }
    }

    @Test func aTestMetricThatSelectsIsALocatedWarning() throws {
        let sweep = try load("report: {target: test.accuracy}\nsweep: {grid: {optimizer.lr: [1e-3, 3e-3]}}\n")
        let warning = try #require(sweep.warnings.first { $0.message.contains("on the test set") })
        #expect(warning.location?.line == 4 && warning.notes.contains { $0.contains("val.accuracy") })
        // A single run selects nothing; a validation target on a sweep is fine.
        #expect(try load("report: {target: test.accuracy}\n").warnings.allSatisfy { !$0.message.contains("test set") })
        #expect(try load("sweep: {grid: {optimizer.lr: [1e-3, 3e-3]}}\n").warnings.allSatisfy { !$0.message.contains("test set") })
        let top = try load("report: {target: test.loss}\nsweep: {grid: {seeds.init: [1, 2]}}\nensemble: {members: {top: 2}}\n")
        #expect(top.warnings.contains { $0.message.contains("chooses the ensemble's members on the test set") })
    }
}
