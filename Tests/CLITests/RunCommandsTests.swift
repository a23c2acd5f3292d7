// `tlc ls`, `tlc show`, `tlc gc` and `tlc verify` on a small real run: exit codes
// (0 ok, 1 a failed check, 2 a bad reference) and their effect on the files.
import Foundation
import Testing
@testable import TLCCommands

@Suite(.serialized) struct RunCommandsTests {
    static let small = """
        tlc: 1
        name: clitiny
        seed: 3
        data: {classes: [0, 1], train_per_class: 40, test_per_class: 20}
        backbone: {arch: mlp, options: {widths: [8]}}
        training: {epochs: 1, batch_size: 32}

        """

    @Test func runCommandsWorkOnARealRun() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let file = dir + "/clitiny.yaml", out = dir + "/Outputs"
        try Self.small.write(toFile: file, atomically: true, encoding: .utf8)

        #expect(TLC.run(["ls", "--output", out]) == 0)               // nothing yet is fine
        #expect(TLC.run(["run", file, "--output", out]) == 0)
        #expect(TLC.run(["ls", "--output", out]) == 0)
        #expect(TLC.run(["ls", "clitiny", "--output", out]) == 0)
        #expect(TLC.run(["ls", "nothere", "--output", out]) == 2)
        #expect(TLC.run(["show", "clitiny@latest", "--output", out]) == 0)
        #expect(TLC.run(["show", "clitiny@0", "--output", out]) == 0)
        #expect(TLC.run(["show", "clitiny@1", "--output", out]) == 2)
        #expect(TLC.run(["show", "nothere@latest", "--output", out]) == 2)
        #expect(TLC.run(["show", "--output", out]) == 2)             // missing argument

        let cache = out + "/.cache"
        let before = try FileManager.default.contentsOfDirectory(atPath: cache).sorted()
        #expect(TLC.run(["gc", "--dry-run", "--output", out]) == 0)
        #expect(TLC.run(["gc", "--output", out]) == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache).sorted() == before)   // all referenced

        #expect(TLC.run(["verify", "clitiny@latest", "--output", out]) == 0)
        #expect(TLC.run(["verify", "nothere@latest", "--output", out]) == 2)
        let runDir = try FileManager.default.destinationOfSymbolicLink(atPath: out + "/clitiny/latest")
        let model = out + "/clitiny/" + runDir + "/model.safetensors"
        var bytes = try #require(FileManager.default.contents(atPath: model))
        bytes[bytes.count - 1] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: model))
        #expect(TLC.run(["verify", out + "/clitiny/" + runDir]) == 1)
    }
}
