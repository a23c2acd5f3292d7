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
