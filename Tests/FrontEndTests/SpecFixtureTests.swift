// Malformed experiment files, each with its expected diagnostics (a golden
// `.expected` file next to it: every error, located, in order).
import Foundation
import Testing
@testable import FrontEnd

enum Fixtures {
    static var root: URL { Bundle.module.url(forResource: "Fixtures", withExtension: nil)! }
    static var specs: URL { root.appendingPathComponent("specs") }
    static func specFiles() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: specs.path)) ?? [])
            .filter { $0.hasSuffix(".yaml") }.sorted()
    }
}

@Suite struct SpecFixtureTests {
    @Test func thereAreAtLeastFortyMalformedSpecs() {
        #expect(Fixtures.specFiles().count >= 40)
    }

    @Test(arguments: Fixtures.specFiles())
    func fixtureGivesItsLocatedErrors(_ name: String) throws {
        let dir = Fixtures.specs.path + "/"
        let path = dir + name
        let expected = try String(contentsOfFile: path.replacingOccurrences(of: ".yaml", with: ".expected"), encoding: .utf8)
        do {
            _ = try ExperimentLoader().load(path: path)
            Issue.record("\(name) loaded without errors")
        } catch {
            let text = error.diagnostics.map(\.description).joined(separator: "\n").replacingOccurrences(of: dir, with: "")
            #expect(text == expected.trimmingCharacters(in: .newlines))
            #expect(error.diagnostics.contains { $0.severity == .error && $0.location != nil })
        }
    }
}

@Suite struct OverrideTests {
    func write(_ text: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let file = dir.appendingPathComponent("exp.yaml").path
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    @Test func overridesSetFieldsLikeTheFile() throws {
        let file = try write("tlc: 1\nname: o\noptimizer: {lr: 1e-3}\n")
        let loaded = try ExperimentLoader().load(path: file, overrides: ["optimizer.lr=3e-4", "training.epochs=2", "head.layers=[{dense: 64}, relu]"])
        #expect(loaded.base.optimizer.lr == 3e-4)
        #expect(loaded.base.training.epochs == 2)
        #expect(loaded.base.head.layers == [.dense(64), .relu])
    }

    @Test func overrideErrorsPointAtTheOverride() throws {
        let file = try write("tlc: 1\nname: o\n")
        #expect {
            try ExperimentLoader().load(path: file, overrides: ["training.epochs=2", "optimizer.lr=fast"])
        } throws: { error in
            (error as? DiagnosticError)?.diagnostics.first?.description == "--set:2:14: error: optimizer.lr must be a number, not 'fast'"
        }
        #expect {
            try ExperimentLoader().load(path: file, overrides: ["optimizer.lrr=1"])
        } throws: { error in
            (error as? DiagnosticError)?.diagnostics.first?.description == "--set:1:1: error: override 'optimizer.lrr': 'optimizer' has no field 'lrr'; did you mean 'lr'?"
        }
        #expect(throws: DiagnosticError.self) { try ExperimentLoader().load(path: file, overrides: ["no-equals-sign"]) }
    }

    @Test func extendsDeepMergesAndNullDeletes() throws {
        let file = try write("tlc: 1\nname: child\nextends: base.yaml\noptimizer: {lr: 3e-4}\nhead: null\ndata: {classes: [1, 2]}\n")
        let dir = (file as NSString).deletingLastPathComponent
        try "tlc: 1\nname: base\nseed: 9\noptimizer: {kind: sgd, lr: 0.1, momentum: 0.5}\nhead: {layers: [relu]}\ndata: {classes: [0, 1, 2, 3], validation: 0.2}\n"
            .write(toFile: dir + "/base.yaml", atomically: true, encoding: .utf8)
        let spec = try ExperimentLoader().load(path: file).base
        #expect(spec.name == "child")
        #expect(spec.seed == 9)
        #expect(spec.optimizer.kind == .sgd && spec.optimizer.lr == 3e-4 && spec.optimizer.momentum == 0.5)
        #expect(spec.head.layers == nil)             // null deleted the inherited head
        #expect(spec.data.classes == [1, 2])         // lists replace
        #expect(spec.data.validation == 0.2)
    }

    @Test func errorsInABaseFilePointIntoTheBaseFile() throws {
        let file = try write("tlc: 1\nname: child\nextends: base.yaml\n")
        let dir = (file as NSString).deletingLastPathComponent
        try "tlc: 1\nname: base\ntraining: {epochs: 0}\n".write(toFile: dir + "/base.yaml", atomically: true, encoding: .utf8)
        #expect {
            try ExperimentLoader().load(path: file)
        } throws: { error in
            let d = (error as? DiagnosticError)?.diagnostics.first
            return d?.location?.file.hasSuffix("base.yaml") == true && d?.location?.line == 3
        }
    }

    @Test func hostileInputsAreErrorsNotCrashes() throws {
        let dir = FileManager.default.temporaryDirectory.path
        #expect(throws: DiagnosticError.self) { try ExperimentLoader().load(path: dir) }             // a directory
        #expect(throws: DiagnosticError.self) { try ExperimentLoader().load(path: "/nonexistent/x.yaml") }
        let deep = try write(String(repeating: "[", count: 100_000))
        #expect(throws: DiagnosticError.self) { try ExperimentLoader().load(path: deep) }
        let binary = try write(String(decoding: (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31) }, as: UTF8.self))
        #expect(throws: DiagnosticError.self) { try ExperimentLoader().load(path: binary) }
        let huge = try write("tlc: 1\nname: h\ndescription: \"" + String(repeating: "x", count: 9 << 20) + "\"\n")
        #expect(throws: DiagnosticError.self) { try ExperimentLoader().load(path: huge) }
    }
}
