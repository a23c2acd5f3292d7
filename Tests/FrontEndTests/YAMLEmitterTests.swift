// Tests of YAMLEmitter: exact output for a small tree, round trips of a
// realistic experiment and of strings that need quoting.

import Foundation
import Testing
@testable import FrontEnd

private func roundTrip(_ node: YAMLNode, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws -> String {
    let text = YAMLEmitter.emit(node)
    let reparsed = try YAMLParser.parse(text, file: "emitted.yaml")
    #expect(canonical(reparsed) == canonical(node), "emitted:\n\(text)", sourceLocation: sourceLocation)
    return text
}

@Test func emitsBlockStyleWithShortFlowSequences() throws {
    let source = """
        tlc: 1
        name: demo
        data: {classes: [5, 6], split: ~}
        head:
          layers: [{dense: 128}, relu, {dropout: 0.3}]
        compression:
          - prune: {method: magnitude}
          - [a, b]
          - - c
            - {d: [1]}
        flags: {}
        none: []

        """
    let text = try roundTrip(try YAMLParser.parse(source, file: "demo.yaml"))
    #expect(text == """
        tlc: 1
        name: demo
        data:
          classes: [5, 6]
          split: null
        head:
          layers: [{dense: 128}, relu, {dropout: 0.3}]
        compression:
          - prune:
              method: magnitude
          - [a, b]
          - - c
            - d: [1]
        flags: {}
        none: []

        """)
}

@Test func realisticExperimentRoundTrips() throws {
    let original = try YAMLParser.parse(fileAt: Fixtures.yamlPath("valid/experiment.yaml"))
    let text = try roundTrip(original)
    // Emitting is stable: the emitted text emits to itself.
    #expect(YAMLEmitter.emit(try YAMLParser.parse(text, file: "again.yaml")) == text)
    // Spot checks of the quoting decisions.
    #expect(text.contains("\n  path: 'data: raw'\n"))
    #expect(text.contains("\n  classes: [5, 6, 7, 8, 9]\n"))
    #expect(text.contains("\n  layers: [{dense: 128}, relu, {dropout: 0.3}]\n"))
    #expect(text.contains("\n  lr: 1e-3\n"))
    #expect(text.contains("\n  weights: run:fashion-pretrain\n"))
    #expect(text.contains("\n    '123': integer-looking key\n"))
    #expect(text.contains("\n  notes: \"first line\\nsecond line\\twith a tab\\n\"\n"))
}

/// Strings that a careless emitter would turn into something else.
private let trickyStrings = [
    "", " ", "true", "False", "null", "~", "1", "-1", "0x1F", "1e3", "3e-4", ".5", ".inf", ".nan",
    "yes", "No", "on", "OFF", "y", "n", "a: b", "a:", ":a", "- x", "-", "--- x", "---", "...", "#c", "x #y", "x#y",
    "it's", "\"quoted\"", "multi\nline", "tab\there", "bell\u{7}", "nul\u{0}", "  lead", "trail ", "é", "日本語",
    "[", "]", "{", "}", ",", "a,b", "*a", "&a", "!t", "%p", "@x", "`x", "|", ">", "?", "? q", "<<", "<x",
    "run:pretrain", "val.accuracy", "./data/x.csv", "C:\\path", "\u{2028}", "\u{FEFF}x", "\u{85}", "\u{1F600}",
    String(repeating: "long key ", count: 200), String(repeating: "é", count: 900),
]

@Test func trickyStringsRoundTripAsValuesKeysAndFlowItems() throws {
    for text in trickyStrings {
        let location = SourceLocation(file: "t.yaml", line: 1, column: 1)
        let string = YAMLNode(.scalar(YAMLScalar(text, style: .doubleQuoted)), at: location)
        let other = YAMLNode(.scalar(YAMLScalar("v")), at: location)
        let tree = YAMLNode(.mapping([
            YAMLPair(key: YAMLNode(.scalar(YAMLScalar("value")), at: location), value: string),
            YAMLPair(key: string, value: other),
            YAMLPair(key: YAMLNode(.scalar(YAMLScalar("list")), at: location),
                     value: YAMLNode(.sequence([string, other]), at: location)),
            YAMLPair(key: YAMLNode(.scalar(YAMLScalar("items")), at: location),
                     value: YAMLNode(.sequence([YAMLNode(.mapping([YAMLPair(key: string, value: string)]), at: location)]),
                                     at: location)),
        ]), at: location)
        _ = try roundTrip(tree)
    }
}

@Test func plainScalarsKeepTheirResolvedValue() throws {
    let location = SourceLocation(file: "t.yaml", line: 1, column: 1)
    func plain(_ text: String) -> YAMLNode { YAMLNode(.scalar(YAMLScalar(text)), at: location) }
    // Plain scalars built by hand (e.g. from `--set`) whose text is not valid plain YAML.
    let values = ["1e-3", "0o17", "-.inf", "~", "", "TRUE", "a: b", "#x", "x\ny", "[1]"].map(plain)
    let text = try roundTrip(YAMLNode(.sequence(values), at: location))
    #expect(text == """
        - 1e-3
        - 0o17
        - -.inf
        - null
        - null
        - TRUE
        - 'a: b'
        - '#x'
        - "x\\ny"
        - '[1]'

        """)
}

@Test func scalarAndEmptyRoots() throws {
    let location = SourceLocation(file: "t.yaml", line: 1, column: 1)
    #expect(YAMLEmitter.emit(YAMLNode(.scalar(YAMLScalar("hello")), at: location)) == "hello\n")
    #expect(YAMLEmitter.emit(YAMLNode(.scalar(YAMLScalar("")), at: location)) == "null\n")
    #expect(YAMLEmitter.emit(YAMLNode(.mapping([]), at: location)) == "{}\n")
    #expect(YAMLEmitter.emit(YAMLNode(.sequence([]), at: location)) == "[]\n")
}

@Test func longSequencesFallBackToBlockStyle() throws {
    let items = (0..<40).map { "item\($0)" }.joined(separator: ", ")
    let text = try roundTrip(try YAMLParser.parse("list: [\(items)]\n", file: "l.yaml"))
    #expect(text.hasPrefix("list:\n  - item0\n  - item1\n"))
}
