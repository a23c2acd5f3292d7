// Tests of YAMLParser: locations, scalar resolution, malformed fixtures, limits
// and hostile files.

import Foundation
import Testing
@testable import FrontEnd

// MARK: - Locations

@Test func locationsOfScalarsMappingsAndSequences() throws {
    let text = """
        tlc: 1
        name: demo
        data:
          classes: [5, 6]
          split: {train: 0.9}
        layers:
          - dense: 128
          - relu

        """
    let root = try YAMLParser.parse(text, file: "demo.yaml")
    func at(_ node: YAMLNode?) -> String { node.map { "\($0.location)" } ?? "missing" }

    #expect(at(root) == "demo.yaml:1:1")
    #expect(at(root.mapping?.first?.key) == "demo.yaml:1:1")
    #expect(at(root["tlc"]) == "demo.yaml:1:6")
    #expect(at(root["name"]) == "demo.yaml:2:7")
    #expect(at(root["data"]) == "demo.yaml:4:3")
    #expect(at(root["data"]?["classes"]) == "demo.yaml:4:12")
    #expect(at(root["data"]?["classes"]?.sequence?[0]) == "demo.yaml:4:13")
    #expect(at(root["data"]?["classes"]?.sequence?[1]) == "demo.yaml:4:16")
    #expect(at(root["data"]?["split"]) == "demo.yaml:5:10")
    #expect(at(root["data"]?["split"]?["train"]) == "demo.yaml:5:18")
    #expect(at(root["layers"]) == "demo.yaml:7:3")
    #expect(at(root["layers"]?.sequence?[0]) == "demo.yaml:7:5")
    #expect(at(root["layers"]?.sequence?[0]["dense"]) == "demo.yaml:7:12")
    #expect(at(root["layers"]?.sequence?[1]) == "demo.yaml:8:5")

    #expect(root["data"]?["split"]?["train"]?.scalar?.double == 0.9)
    #expect(root["layers"]?.sequence?.count == 2)
    #expect(root.mapping?.map { $0.key.scalar?.text } == ["tlc", "name", "data", "layers"])
    #expect(root["missing"] == nil)
    #expect(root["tlc"]?["anything"] == nil)
}

@Test func locationsCountCharactersAndCRLF() throws {
    let root = try YAMLParser.parse("é: ü\r\nnext: [x]\r\n", file: "w.yaml")
    #expect(root["é"]?.location == SourceLocation(file: "w.yaml", line: 1, column: 4))
    #expect(root["next"]?.sequence?.first?.location == SourceLocation(file: "w.yaml", line: 2, column: 8))
}

@Test func kindNames() throws {
    let root = try YAMLParser.parse("m: {}\ns: []\nt: text\nn: 1.5\nb: false\nz: ~\nq: '1'\n", file: "k.yaml")
    let names = root.mapping?.map { "\($0.key.scalar!.text)=\($0.value.kindName)" }
    #expect(names == ["m=mapping", "s=sequence", "t=string", "n=number", "b=boolean", "z=null", "q=string"])
    #expect(root["z"]?.isNull == true)
    #expect(root["q"]?.isNull == false)
}

// MARK: - Scalars

struct Resolution: Sendable, CustomTestStringConvertible {
    var yaml: String
    var expected: String  // canonical() of the value
    var testDescription: String { "\(yaml) → \(expected)" }
}

@Test(arguments: [
    Resolution(yaml: "0", expected: "int:0"),
    Resolution(yaml: "-12", expected: "int:-12"),
    Resolution(yaml: "+7", expected: "int:7"),
    Resolution(yaml: "0x1F", expected: "int:31"),
    Resolution(yaml: "0o17", expected: "int:15"),
    Resolution(yaml: "-0x10", expected: "int:-16"),
    Resolution(yaml: "0777", expected: "int:777"),
    Resolution(yaml: "9223372036854775807", expected: "int:9223372036854775807"),
    Resolution(yaml: "9223372036854775808", expected: "double:9.223372036854776e+18"),
    Resolution(yaml: "0x", expected: "string:\"0x\""),
    Resolution(yaml: "0o8", expected: "string:\"0o8\""),
    Resolution(yaml: "1_000", expected: "string:\"1_000\""),
    Resolution(yaml: "1.5", expected: "double:1.5"),
    Resolution(yaml: "1e-3", expected: "double:0.001"),
    Resolution(yaml: "3e-4", expected: "double:0.0003"),
    Resolution(yaml: "3E+4", expected: "double:30000.0"),
    Resolution(yaml: "1e3", expected: "double:1000.0"),
    Resolution(yaml: ".5", expected: "double:0.5"),
    Resolution(yaml: "-.5", expected: "double:-0.5"),
    Resolution(yaml: "2.", expected: "double:2.0"),
    Resolution(yaml: ".inf", expected: "double:inf"),
    Resolution(yaml: "-.Inf", expected: "double:-inf"),
    Resolution(yaml: ".NaN", expected: "double:nan"),
    Resolution(yaml: "1e", expected: "string:\"1e\""),
    Resolution(yaml: ".", expected: "string:\".\""),
    Resolution(yaml: "1.2.3", expected: "string:\"1.2.3\""),
    Resolution(yaml: "true", expected: "bool:true"),
    Resolution(yaml: "True", expected: "bool:true"),
    Resolution(yaml: "FALSE", expected: "bool:false"),
    Resolution(yaml: "yes", expected: "string:\"yes\""),
    Resolution(yaml: "off", expected: "string:\"off\""),
    Resolution(yaml: "tRUE", expected: "string:\"tRUE\""),
    Resolution(yaml: "~", expected: "null"),
    Resolution(yaml: "null", expected: "null"),
    Resolution(yaml: "NULL", expected: "null"),
    Resolution(yaml: "", expected: "null"),
    Resolution(yaml: "nil", expected: "string:\"nil\""),
    Resolution(yaml: "'1'", expected: "string:\"1\""),
    Resolution(yaml: "\"1e-3\"", expected: "string:\"1e-3\""),
    Resolution(yaml: "'true'", expected: "string:\"true\""),
    Resolution(yaml: "''", expected: "string:\"\""),
    Resolution(yaml: "\"null\"", expected: "string:\"null\""),
    Resolution(yaml: "!!str 123", expected: "string:\"123\""),
    Resolution(yaml: "!!str true", expected: "string:\"true\""),
    Resolution(yaml: "! 12", expected: "string:\"12\""),
    Resolution(yaml: "!!int \"42\"", expected: "int:42"),
    Resolution(yaml: "!!float 1", expected: "int:1"),
    Resolution(yaml: "!!bool 'false'", expected: "bool:false"),
    Resolution(yaml: "!!null ''", expected: "null"),
    Resolution(yaml: "|\n  two\n  lines\n", expected: "string:\"two\\nlines\\n\""),
    Resolution(yaml: ">-\n  folded\n  text\n", expected: "string:\"folded text\""),
    Resolution(yaml: "\"tab\\there\"", expected: "string:\"tab\\there\""),
    Resolution(yaml: "run:fashion-pretrain", expected: "string:\"run:fashion-pretrain\""),
])
func scalarResolution(_ row: Resolution) throws {
    let root = try YAMLParser.parse("value: \(row.yaml)\n", file: "s.yaml")
    let value = try #require(root["value"])
    #expect(canonical(value) == row.expected)
}

@Test func scalarAccessorsDirectly() {
    #expect(YAMLScalar("12").int == 12)
    #expect(YAMLScalar("12").double == 12)
    #expect(YAMLScalar("12", style: .singleQuoted).int == nil)
    #expect(YAMLScalar("12", style: .doubleQuoted).double == nil)
    #expect(YAMLScalar("null", style: .literal).isNull == false)
    #expect(YAMLScalar("1.5").int == nil)
    #expect(YAMLScalar("-9223372036854775808").int == Int.min)
    #expect(YAMLScalar("-9223372036854775809").int == nil)
    #expect(YAMLScalar("0x8000000000000000").int == nil)
    #expect(YAMLScalar("hello").string == "hello")
    #expect(YAMLScalar("1e400").double == .infinity)
}

// MARK: - Malformed fixtures

struct MalformedFixture: Sendable, CustomTestStringConvertible {
    var name: String
    var firstDiagnostic: String
    var testDescription: String { name }
}

@Test(arguments: [
    MalformedFixture(name: "bad-indentation.yaml",
                     firstDiagnostic: "bad-indentation.yaml:5:14: error: mapping values are not allowed in this context"),
    MalformedFixture(name: "unclosed-flow-sequence.yaml",
                     firstDiagnostic: "unclosed-flow-sequence.yaml:4:18: error: did not find expected ',' or ']'"),
    MalformedFixture(name: "tab-indentation.yaml",
                     firstDiagnostic: "tab-indentation.yaml:3:1: error: found character that cannot start any token"),
    MalformedFixture(name: "duplicate-key.yaml",
                     firstDiagnostic: "duplicate-key.yaml:4:1: error: duplicate key 'name'"),
    MalformedFixture(name: "duplicate-key-nested.yaml",
                     firstDiagnostic: "duplicate-key-nested.yaml:6:3: error: duplicate key 'epochs'"),
    MalformedFixture(name: "two-documents.yaml",
                     firstDiagnostic: "two-documents.yaml:3:1: error: expected a single document; found a second one"),
    MalformedFixture(name: "unknown-tag.yaml",
                     firstDiagnostic: "unknown-tag.yaml:3:7: error: unknown tag '!random'"),
    MalformedFixture(name: "tag-mismatch.yaml",
                     firstDiagnostic: "tag-mismatch.yaml:2:7: error: 'seven' is not a valid !!int"),
    MalformedFixture(name: "billion-laughs.yaml",
                     firstDiagnostic: "billion-laughs.yaml:7:8: error: alias expansion exceeds the limit of 1000000 nodes (a 'billion laughs' document?)"),
    MalformedFixture(name: "undefined-alias.yaml",
                     firstDiagnostic: "undefined-alias.yaml:5:11: error: found undefined alias '*bsae'"),
    MalformedFixture(name: "recursive-alias.yaml",
                     firstDiagnostic: "recursive-alias.yaml:4:5: error: alias '*loop' refers to a node that contains it; recursive aliases are not supported"),
    MalformedFixture(name: "merge-key.yaml",
                     firstDiagnostic: "merge-key.yaml:6:3: error: merge keys ('<<') are not supported; use 'extends' instead"),
    MalformedFixture(name: "non-scalar-key.yaml",
                     firstDiagnostic: "non-scalar-key.yaml:3:3: error: a mapping key must be a scalar, not a sequence"),
    MalformedFixture(name: "nul-byte.yaml",
                     firstDiagnostic: "nul-byte.yaml:2:10: error: the input contains a NUL byte; it looks like a binary file, not YAML"),
    MalformedFixture(name: "invalid-utf8.yaml",
                     firstDiagnostic: "invalid-utf8.yaml:2:10: error: invalid UTF-8 (byte 0xE9); YAML files must be UTF-8 text"),
    MalformedFixture(name: "unterminated-string.yaml",
                     // A 3-line file: the end of input is the end of line 3, never a line 4.
                     firstDiagnostic: "unterminated-string.yaml:3:8: error: found unexpected end of stream"),
    MalformedFixture(name: "colon-in-plain-value.yaml",
                     firstDiagnostic: "colon-in-plain-value.yaml:2:12: error: mapping values are not allowed in this context"),
])
func malformedFixture(_ fixture: MalformedFixture) {
    let found = diagnostics { try YAMLParser.parse(fileAt: Fixtures.yamlPath(fixture.name)) }
    #expect(found.first.map(headline) == fixture.firstDiagnostic)
}

@Test func malformedFixturesAllHaveACase() throws {
    // Every *.yaml at the top of Fixtures/yaml is malformed and must fail.
    let names = try FileManager.default.contentsOfDirectory(atPath: Fixtures.yamlDirectory.path)
        .filter { $0.hasSuffix(".yaml") }
    #expect(names.count >= 12)
    for name in names {
        let found = diagnostics { try YAMLParser.parse(fileAt: Fixtures.yamlPath(name)) }
        #expect(found.allSatisfy { $0.location?.file.hasSuffix(name) == true }, "\(name)")
    }
}

@Test func notesExplainTheFirstDefinitionAndContext() {
    let duplicate = diagnostics { try YAMLParser.parse(fileAt: Fixtures.yamlPath("duplicate-key-nested.yaml")) }
    #expect(duplicate.first?.notes == ["'epochs' is first defined at line 4, column 3"])

    let unclosed = diagnostics { try YAMLParser.parse(fileAt: Fixtures.yamlPath("unclosed-flow-sequence.yaml")) }
    #expect(unclosed.first?.notes == ["while parsing a flow sequence starting at line 3, column 12"])

    let tabs = diagnostics { try YAMLParser.parse(fileAt: Fixtures.yamlPath("tab-indentation.yaml")) }
    #expect(tabs.first?.notes.last == "YAML does not allow tabs for indentation; indent with spaces")

    let alias = diagnostics { try YAMLParser.parse(fileAt: Fixtures.yamlPath("undefined-alias.yaml")) }
    #expect(alias.first?.notes == ["did you mean '*base'?"])
}

@Test func everyProblemInOnePass() {
    let text = """
        name: a
        seed: !seed 7
        training:
          epochs: 1
          epochs: 2
        <<: {x: 1}
        name: b

        """
    let found = diagnostics { try YAMLParser.parse(text, file: "many.yaml") }
    #expect(found.map(headline) == [
        "many.yaml:2:7: error: unknown tag '!seed'",
        "many.yaml:5:3: error: duplicate key 'epochs'",
        "many.yaml:6:1: error: merge keys ('<<') are not supported; use 'extends' instead",
        "many.yaml:7:1: error: duplicate key 'name'",
    ])
}

@Test func tagsOnCollections() throws {
    let ok = try YAMLParser.parse("a: !!map {x: 1}\nb: !!seq [1]\n", file: "t.yaml")
    #expect(canonical(ok) == "{\"a\"={\"x\"=int:1},\"b\"=[int:1]}")
    let found = diagnostics { try YAMLParser.parse("a: !!seq {x: 1}\nb: !thing [1]\nc: !!map 3\n", file: "t.yaml") }
    #expect(found.map(headline) == [
        "t.yaml:1:4: error: tag '!!seq' cannot be applied to a mapping",
        "t.yaml:2:4: error: unknown tag '!thing'",
        "t.yaml:3:4: error: tag '!!map' cannot be applied to a scalar",
    ])
}

// MARK: - Aliases

@Test func aliasesExpandToCopies() throws {
    let text = """
        defaults: &base
          lr: 0.1
          layers: [a, b]
        first: *base
        second: *base

        """
    let root = try YAMLParser.parse(text, file: "a.yaml")
    let base = try #require(root["defaults"])
    #expect(canonical(try #require(root["first"])) == canonical(base))
    #expect(canonical(try #require(root["second"])) == canonical(base))
    // The copy's root is at the alias; its insides are where they were written.
    #expect(root["first"]?.location == SourceLocation(file: "a.yaml", line: 4, column: 8))
    #expect(root["second"]?["lr"]?.location == SourceLocation(file: "a.yaml", line: 2, column: 7))
}

@Test func billionLaughsFailsWithoutExpanding() {
    // Ten levels of nine: 10⁹ nodes if expanded. Must fail at once.
    var lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    for level in 1...10 {
        let refs = Array(repeating: "*l\(level - 1)", count: 9).joined(separator: ", ")
        lines.append("l\(level): &l\(level) [\(refs)]")
    }
    let found = diagnostics { try YAMLParser.parse(lines.joined(separator: "\n"), file: "lol.yaml") }
    #expect(found.count == 1)
    #expect(found.first?.message == "alias expansion exceeds the limit of 1000000 nodes (a 'billion laughs' document?)")
    #expect(found.first?.location?.line == 7)
}

@Test func nodeBudgetCountsExpansions() throws {
    let limits = YAMLParser.Limits(maxNodes: 12)
    // root + key + seq + 3 items = 6, then key + alias(4) = 11: fits.
    let fits = "a: &a [1, 2, 3]\nb: *a\n"
    #expect(try YAMLParser.parse(fits, file: "n.yaml", limits: limits)["b"]?.sequence?.count == 3)
    let over = diagnostics { try YAMLParser.parse(fits + "c: *a\n", file: "n.yaml", limits: limits) }
    #expect(over.map(headline) == [
        "n.yaml:3:4: error: alias expansion exceeds the limit of 12 nodes (a 'billion laughs' document?)",
    ])
    let plain = diagnostics { try YAMLParser.parse("[1, 2, 3, 4, 5]", file: "n.yaml", limits: YAMLParser.Limits(maxNodes: 3)) }
    #expect(plain.map(headline) == ["n.yaml:1:8: error: the document has more than 3 nodes"])
}

// MARK: - Depth

@Test func deepFlowNestingIsRejectedWithoutRecursion() {
    let text = String(repeating: "[", count: 100_000)
    let found = diagnostics { try YAMLParser.parse(text, file: "deep.yaml") }
    #expect(found.map(headline) == ["deep.yaml:1:129: error: nesting is deeper than the limit of 128 levels"])

    let mappings = String(repeating: "{a: ", count: 100_000)
    let foundMappings = diagnostics { try YAMLParser.parse(mappings, file: "deep.yaml") }
    #expect(foundMappings.first?.message == "nesting is deeper than the limit of 128 levels")
}

@Test func deepBlockNestingIsRejected() {
    let text = (0..<200).map { String(repeating: " ", count: $0) + "k\($0):" }.joined(separator: "\n") + " leaf\n"
    let found = diagnostics { try YAMLParser.parse(text, file: "deep.yaml") }
    #expect(found.map(headline) == ["deep.yaml:129:129: error: nesting is deeper than the limit of 128 levels"])
}

@Test func nestingAtTheLimitIsAccepted() throws {
    let depth = YAMLParser.Limits.default.maxDepth
    let text = String(repeating: "[", count: depth) + "x" + String(repeating: "]", count: depth)
    var node = try YAMLParser.parse(text, file: "ok.yaml")
    for _ in 0..<depth { node = try #require(node.sequence?.first) }
    #expect(node.scalar?.text == "x")
}

// MARK: - Documents and empty input

@Test func emptyInputIsANullScalarAtTheStart() throws {
    for text in ["", "# only a comment\n", "\n\n   \n"] {
        let node = try YAMLParser.parse(text, file: "e.yaml")
        #expect(node.isNull)
        #expect(node.location == SourceLocation(file: "e.yaml", line: 1, column: 1))
    }
    let explicit = try YAMLParser.parse("---\n...\n", file: "e.yaml")
    #expect(explicit.isNull)
}

@Test func oneExplicitDocumentIsFine() throws {
    let root = try YAMLParser.parse("%YAML 1.2\n---\na: 1\n...\n", file: "d.yaml")
    #expect(root["a"]?.scalar?.int == 1)
    let found = diagnostics { try YAMLParser.parse("a: 1\n...\n---\nb: 2\n", file: "d.yaml") }
    #expect(found.map(headline) == ["d.yaml:3:1: error: expected a single document; found a second one"])
    // libyaml 0.2.5 wants an explicit '---' after '...'; its own error is reported as is.
    let bare = diagnostics { try YAMLParser.parse("a: 1\n...\nb: 2\n", file: "d.yaml") }
    #expect(bare.map(headline) == ["d.yaml:3:1: error: did not find expected <document start>"])
}

// MARK: - Hostile bytes and files

@Test func binaryAndEncodingProblems() {
    let utf16 = diagnostics { try YAMLParser.parse(bytes: [0xFF, 0xFE, 0x61, 0x00], file: "u.yaml") }
    #expect(utf16.map(headline) == ["u.yaml:1:1: error: the input is UTF-16 or UTF-32 encoded; tlc reads UTF-8 only"])

    let control = diagnostics { try YAMLParser.parse(bytes: Array("a: b\u{1}c\n".utf8), file: "c.yaml") }
    #expect(control.first.map(headline) == "c.yaml:1:5: error: control characters are not allowed (#x1)")

    let truncated = diagnostics { try YAMLParser.parse(bytes: Array("a: é".utf8).dropLast(), file: "t.yaml") }
    #expect(truncated.first.map(headline) == "t.yaml:1:4: error: invalid UTF-8 (byte 0xC3); YAML files must be UTF-8 text")

    let surrogate = diagnostics { try YAMLParser.parse(bytes: [0x61, 0x3A, 0x20, 0xED, 0xA0, 0x80], file: "s.yaml") }
    #expect(surrogate.first?.message == "invalid UTF-8 (byte 0xED); YAML files must be UTF-8 text")

    // Random bytes: whatever the verdict, it is a diagnostic, not a crash.
    var generator = SystemRandomNumberGenerator()
    for _ in 0..<50 {
        let bytes = (0..<256).map { _ in UInt8.random(in: 0...255, using: &generator) }
        _ = try? YAMLParser.parse(bytes: bytes, file: "r.yaml")
    }
}

@Test func aUTF8ByteOrderMarkIsAccepted() throws {
    let root = try YAMLParser.parse(bytes: [0xEF, 0xBB, 0xBF] + Array("a: 1\n".utf8), file: "bom.yaml")
    #expect(root["a"]?.scalar?.int == 1)
}

@Test func inputOverTheByteLimit() {
    let found = diagnostics {
        try YAMLParser.parse(String(repeating: "a", count: 100), file: "big.yaml", limits: YAMLParser.Limits(maxBytes: 10))
    }
    #expect(found.map(headline) == ["big.yaml:1:1: error: the input is 100 bytes, over the limit of 10 bytes"])
}

@Test func filesThatAreNotYAMLFiles() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-yaml-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }

    let missing = diagnostics { try YAMLParser.parse(fileAt: directory.appendingPathComponent("nope.yaml").path) }
    #expect(missing.first?.location?.file.hasSuffix("nope.yaml") == true)
    #expect(missing.first?.message.hasPrefix("cannot open '") == true)
    #expect(missing.first?.message.hasSuffix("nope.yaml': no such file or directory") == true)

    let isDirectory = diagnostics { try YAMLParser.parse(fileAt: directory.path) }
    #expect(isDirectory.map(\.description) == ["\(directory.path):1:1: error: '\(directory.path)' is a directory, not a YAML file"])

    // A 50 MB (sparse) file is refused from its size, without reading it.
    let huge = directory.appendingPathComponent("huge.yaml")
    #expect(FileManager.default.createFile(atPath: huge.path, contents: nil))
    let handle = try FileHandle(forWritingTo: huge)
    try handle.truncate(atOffset: 50 << 20)
    try handle.close()
    let tooBig = diagnostics { try YAMLParser.parse(fileAt: huge.path) }
    #expect(tooBig.map(\.description) == ["\(huge.path):1:1: error: '\(huge.path)' is 52428800 bytes, over the limit of 8388608 bytes"])

    let empty = try YAMLParser.parse(fileAt: "/dev/null")
    #expect(empty.isNull)
    #expect(empty.location == SourceLocation(file: "/dev/null", line: 1, column: 1))

    // A device with endless data stops at the byte limit.
    let endless = diagnostics { try YAMLParser.parse(fileAt: "/dev/zero", limits: YAMLParser.Limits(maxBytes: 1 << 16)) }
    #expect(endless.map(\.description) == ["/dev/zero:1:1: error: '/dev/zero' is over the limit of 65536 bytes"])
}

@Test func theValidExperimentFixtureParses() throws {
    let root = try YAMLParser.parse(fileAt: Fixtures.yamlPath("valid/experiment.yaml"))
    #expect(root["name"]?.scalar?.text == "fashion-transfer")
    #expect(root["optimizer"]?["lr"]?.scalar?.double == 1e-3)
    #expect(root["head"]?["layers"]?.sequence?.count == 3)
    #expect(root["data"]?["tags"]?.sequence?.map(\.kindName)
            == ["string", "string", "string", "null", "string", "string", "string", "string", "string", "string"])
}
