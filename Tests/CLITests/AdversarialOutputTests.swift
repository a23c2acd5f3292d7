// Hostile inputs are answered in words: whatever a command is given — a garbled
// plan.json or metrics.json, truncated weights, a bad csv row, a device to extend,
// an empty output root, a NaN in a cache entry — no raw Swift or Foundation error
// text (NSError, DecodingError, EncodingError, "Error Domain", Swift. type names)
// reaches the user, nothing crashes, and the exit code is 1 or 2 (0 for `ls` and
// `gc`, which go on past a broken run folder).
import Foundation
import Testing
import TestSupport

@Suite struct AdversarialOutputTests {
    static let forbidden = ["NSError", "DecodingError", "EncodingError", "Error Domain", "dataCorrupted", "keyNotFound",
                            "typeMismatch", "valueNotFound", "Swift.", "Fatal error", "Program crashed"]

    @Test func noRawErrorTextReachesTheUser() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-adversary-\(UUID().uuidString)").path
        let out = dir + "/Outputs"
        let run = out + "/x/20260101-000000-aaaa"
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        try "{garbage".write(toFile: run + "/plan.json", atomically: true, encoding: .utf8)
        try #"{"test.accuracy": "x", "variants": 3}"#.write(toFile: run + "/metrics.json", atomically: true, encoding: .utf8)
        func write(_ name: String, _ text: String) throws { try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8) }
        try write("trunc.safetensors", "\u{10}\0\0\0\0\0\0\0{\"a\":")
        try write("a.yaml", "tlc: 1\nname: a\ndata: {classes: [5, 6]}\nbackbone: {arch: lenet5, weights: file:trunc.safetensors}\n")
        try write("bad.csv", "a,label\n1,0\n1,2,3\n")
        try write("b.yaml", "tlc: 1\nname: b\ndata: {dataset: csv:bad.csv, classes: [0, 1], input_shape: [1, 1, 1]}\nbackbone: {arch: mlp}\ntraining: {epochs: 1}\n")
        try write("c.yaml", "tlc: 1\nname: c\nextends: /dev/null\n")
        try write("d.yaml", "tlc: 1\nname: d\nseed: -1\noptimizer: {lr: .nan}\ndata: {classes: [0, 1]}\n")
        let commands: [[String]] = [
            ["show", run, "--output", out], ["verify", run, "--output", out], ["report", run, "--output", out],
            ["diff", run, run, "--output", out], ["ls", "--output", out], ["gc", "--dry-run", "--output", out],
            ["exec-stage", run + "/plan.json", "abcdefabcdef", "--output", out],
            ["run", dir + "/a.yaml", "--output", out], ["run", dir + "/b.yaml", "--output", out],
            ["validate", dir + "/c.yaml"], ["validate", dir + "/d.yaml"], ["plan", dir + "/nowhere.yaml"],
            ["run", dir + "/b.yaml", "--output", ""],
        ]
        for args in commands {
            let r = Shell.run(TLCBinary.path, args)
            let text = r.out + r.err
            // Listing and collecting go on past a broken run folder; everything else refuses it.
            let expected: Set<Int32> = ["ls", "gc"].contains(args[0]) ? [0] : [1, 2]
            #expect(expected.contains(r.status), "\(args): exit \(r.status)")
            for word in Self.forbidden { #expect(!text.contains(word), "\(args) printed '\(word)': \(text.suffix(600))") }
        }
    }
}
