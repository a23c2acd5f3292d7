// Foreign files answered cleanly: `extends:` of something that is not a tlc
// experiment (a device, a plain text file, a YAML mapping without `tlc: 1`) is one
// error that prints nothing of the file; locations never point past its end.
import Foundation
import Testing
@testable import FrontEnd

@Suite struct ForeignFileTests {
    func diagnostics(_ files: [String: String], load name: String) throws -> [Diagnostic] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-foreign-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (f, text) in files { try text.write(toFile: dir + "/" + f, atomically: true, encoding: .utf8) }
        do { _ = try ExperimentLoader().load(path: dir + "/" + name); return [] } catch { return error.diagnostics }
    }

    @Test func extendingSomethingElseIsOneErrorThatShowsNothingOfIt() throws {
        let device = try diagnostics(["a.yaml": "tlc: 1\nname: a\nextends: /dev/null\n"], load: "a.yaml")
        #expect(device.count == 1 && device[0].message == "extends: '/dev/null' is not a regular file")
        let secrets = "user: root\npassword: hunter2\nhome: /root\n"
        let mapping = try diagnostics(["b.yaml": "tlc: 1\nname: b\nextends: s.yaml\n", "s.yaml": secrets], load: "b.yaml")
        #expect(mapping.count == 1 && mapping[0].message.contains("is not a tlc experiment (no 'tlc: 1' at its top)"))
        #expect(!mapping.map(\.description).joined().contains("hunter2") && !mapping.map(\.description).joined().contains("password"))
        let text = try diagnostics(["c.yaml": "tlc: 1\nname: c\nextends: t.txt\n", "t.txt": "just some words\n"], load: "c.yaml")
        #expect(text.count == 1 && text[0].message.contains("its top level is not a mapping") && !text[0].description.contains("words"))
    }

    @Test func locationsStayInsideTheFile() throws {
        // Three lines, a final line break: the error at the end of input is on line 3.
        let d = try diagnostics(["d.yaml": "tlc: 1\nname: d\nbad:*:1\n"], load: "d.yaml")
        let lines = d.compactMap(\.location?.line)
        #expect(!lines.isEmpty && lines.allSatisfy { $0 <= 3 }, "\(d)")
    }
}

@Suite struct DataWidthTests {
    @Test func validateReadsTheWidthOfCSVAndNPYData() throws {
        let t = ForeignFileTests()
        // 3 feature columns against an input shape of 4×4096×4096: caught before anything runs.
        let csv = try t.diagnostics(["d.csv": "a,b,c,label\n1,2,3,0\n4,5,6,1\n",
                                     "w.yaml": "tlc: 1\nname: w\ndata: {dataset: csv:d.csv, classes: [0, 1], input_shape: [4, 4096, 4096]}\nbackbone: {arch: mlp}\n"],
                                    load: "w.yaml")
        #expect(csv.contains { $0.message == "csv data 'd.csv' has 3 values per sample, but data.input_shape [4, 4096, 4096] needs 67108864" && $0.location?.line == 3 })
        let noLabel = try t.diagnostics(["e.csv": "root:x:0\n", "v.yaml": "tlc: 1\nname: v\ndata: {dataset: csv:e.csv, classes: [0, 1], input_shape: [1, 1, 1]}\nbackbone: {arch: mlp}\n"],
                                        load: "v.yaml")
        #expect(noLabel.contains { $0.message.contains("has no 'label' column") && !$0.message.contains("root") }, "\(noLabel)")
        // An npy x of shape (2, 3, 4): 12 values per sample.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-npy-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/n", withIntermediateDirectories: true)
        func npy(_ shape: String, _ count: Int) -> Data {
            var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }"
            while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
            header += "\n"
            var d = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xff), UInt8(header.utf8.count >> 8)])
            d.append(Data(header.utf8))
            d.append(Data(repeating: 0, count: count * 4))
            return d
        }
        try npy("(2, 3, 4)", 24).write(to: URL(fileURLWithPath: dir + "/n/x.npy"))
        try npy("(2,)", 2).write(to: URL(fileURLWithPath: dir + "/n/y.npy"))
        try "tlc: 1\nname: n\ndata: {dataset: npy:n, classes: [0, 1], input_shape: [1, 4, 4]}\nbackbone: {arch: mlp}\n"
            .write(toFile: dir + "/n.yaml", atomically: true, encoding: .utf8)
        do { _ = try ExperimentLoader().load(path: dir + "/n.yaml"); Issue.record("a wrong npy width validated") } catch {
            #expect(error.diagnostics.contains { $0.message.contains("has 12 values per sample") }, "\(error.diagnostics)")
        }
        try "tlc: 1\nname: n\ndata: {dataset: npy:n, classes: [0, 1], input_shape: [3, 2, 2]}\nbackbone: {arch: mlp}\n"
            .write(toFile: dir + "/n.yaml", atomically: true, encoding: .utf8)
        _ = try ExperimentLoader().load(path: dir + "/n.yaml")
    }
}
