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
        // Foreign and malformed files where a spec, data or weights belong.
        try Data([0x00, 0xFF, 0xFE, 0x80, 0x0A, 0x7B]).write(to: URL(fileURLWithPath: dir + "/binary.yaml"))
        try write("passwd.csv", "root:x:0:0:root:/root:/bin/bash\nbin:x:1:1::/:/usr/sbin/nologin\n")
        try write("e.yaml", "tlc: 1\nname: e\ndata: {dataset: csv:passwd.csv, classes: [0, 1], input_shape: [1, 1, 1]}\n")
        try write("x.npy", "\u{93}NUMPY\u{1}\0v\0{'descr': '>f8', 'fortran_order': False, 'shape': (2, 1), }")
        try FileManager.default.createDirectory(atPath: dir + "/npy", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: dir + "/x.npy", toPath: dir + "/npy/x.npy")
        try FileManager.default.copyItem(atPath: dir + "/x.npy", toPath: dir + "/npy/y.npy")
        try write("f.yaml", "tlc: 1\nname: f\ndata: {dataset: npy:npy, classes: [0, 1], input_shape: [1, 1, 1]}\n")
        try FileManager.default.createDirectory(atPath: dir + "/weights.safetensors", withIntermediateDirectories: true)
        try write("g.yaml", "tlc: 1\nname: g\ndata: {classes: [0, 1]}\nbackbone: {arch: lenet5, weights: file:weights.safetensors}\n")
        try write("h.yaml", "tlc: 1\nname: h\ndata: {classes: [0, 1]}\ntraining: {epochs: 1e400, batch_size: -0}\n")
        try write("i.yaml", "tlc: 1\nname: i\ndata: {classes: [0, 1]}\nsweep: {grid: {optimizer.lr: []}}\n")
        let stagePlan = run + "/../20260101-000000-bbbb"
        try FileManager.default.createDirectory(atPath: stagePlan, withIntermediateDirectories: true)
        try #"{"stages": 5, "points": "none", "format": 2}"#.write(toFile: stagePlan + "/plan.json", atomically: true, encoding: .utf8)
        try #"{"test.accuracy": NaN}"#.write(toFile: stagePlan + "/metrics.json", atomically: true, encoding: .utf8)
        let commands: [[String]] = [
            ["show", run, "--output", out], ["verify", run, "--output", out], ["report", run, "--output", out],
            ["diff", run, run, "--output", out], ["ls", "--output", out], ["gc", "--dry-run", "--output", out],
            ["exec-stage", run + "/plan.json", "abcdefabcdef", "--output", out],
            ["run", dir + "/a.yaml", "--output", out], ["run", dir + "/b.yaml", "--output", out],
            ["validate", dir + "/c.yaml"], ["validate", dir + "/d.yaml"], ["plan", dir + "/nowhere.yaml"],
            ["run", dir + "/b.yaml", "--output", ""],
            ["validate", dir + "/binary.yaml"], ["run", dir + "/e.yaml", "--output", out], ["validate", dir + "/e.yaml"],
            ["run", dir + "/f.yaml", "--output", out], ["validate", dir + "/g.yaml"], ["validate", dir + "/h.yaml"],
            ["validate", dir + "/i.yaml"], ["validate", dir + "/a.yaml", "--set", "optimizer={lr: [1,"],
            ["validate", dir + "/a.yaml", "--set", "=3"], ["run", dir + "/a.yaml", "--output", out, "--max-memory", "1K"],
            ["exec-stage", stagePlan + "/plan.json", "abcdefabcdef", "--output", out], ["show", stagePlan, "--output", out],
            ["report", stagePlan, "--output", out], ["diff", run, stagePlan, "--output", out],
            ["show", "nothing@latest", "--output", out], ["zoo", "nonexistent"], ["zoo", "cnn", "--input", "0x0x0"],
        ]
        for args in commands {
            let r = Shell.run(TLCBinary.path, args)
            let text = r.out + r.err
            // Listing and collecting go on past a broken run folder; everything else refuses it.
            let expected: Set<Int32> = ["ls", "gc"].contains(args[0]) ? [0] : [1, 2]
            #expect(expected.contains(r.status), "\(args): exit \(r.status)")
            for word in Self.forbidden { #expect(!text.contains(word), "\(args) printed '\(word)': \(text.suffix(600))") }
            for secret in ["root:x:0", "/bin/bash"] { #expect(!text.contains(secret), "\(args) quoted a foreign file: \(text.suffix(600))") }
        }
    }

    /// A full disk: the stage that could not write its cache entry fails naming the
    /// file, the run is marked failed with its logs kept, and no half-written entry
    /// or unfinished-looking folder is left. Needs a small tmpfs (root).
    @Test(.enabled(if: getuid() == 0)) func aFullDiskIsReportedInWordsAndKeepsTheLogs() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-full-\(UUID().uuidString)").path
        let mount = dir + "/disk"
        try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: true)
        let mounted = Shell.run("/bin/mount", ["-t", "tmpfs", "-o", "size=400k", "tmpfs", mount])
        try #require(mounted.status == 0, "cannot mount a tmpfs: \(mounted.err)")
        defer { _ = Shell.run("/bin/umount", [mount]); try? FileManager.default.removeItem(atPath: dir) }
        var csv = "a,b,c,d,label\n"
        for i in 0..<90 { csv += "\(i % 7),\(i % 5),\(i % 3),\(i % 2),\(i % 3)\n" }
        try csv.write(toFile: dir + "/d.csv", atomically: true, encoding: .utf8)
        // 4·4096 + 4096·3 weights: 115 KB a copy; the cache entry does not fit beside the rest.
        try "tlc: 1\nname: full\ndata: {dataset: csv:d.csv, classes: [0, 1, 2], input_shape: [1, 2, 2]}\nbackbone: {arch: mlp, options: {widths: [4096, 16]}}\ntraining: {epochs: 1}\n"
            .write(toFile: dir + "/full.yaml", atomically: true, encoding: .utf8)
        let r = Shell.run(TLCBinary.path, ["run", dir + "/full.yaml", "--output", mount + "/out"])
        let text = r.out + r.err
        #expect(r.status == 1, "\(text)")
        #expect(text.contains("no space left on device while writing " + mount + "/out/.cache/"), "\(text)")
        for word in Self.forbidden + ["The operation could not be completed"] { #expect(!text.contains(word), "\(text)") }
        let runs = try FileManager.default.contentsOfDirectory(atPath: mount + "/out/full")
        #expect(runs.count == 1 && runs[0].hasSuffix(".failed"), "\(runs)")
        #expect(FileManager.default.fileExists(atPath: mount + "/out/full/" + runs[0] + "/log.txt"))
        let cache = try FileManager.default.contentsOfDirectory(atPath: mount + "/out/.cache")
        #expect(!cache.contains { $0.hasPrefix(".tmp-") }, "a half-written cache entry was left: \(cache)")
    }
}
