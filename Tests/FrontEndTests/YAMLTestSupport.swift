// Helpers shared by the YAML tests: fixture paths, diagnostics as comparable
// text, and a canonical form of a tree that ignores locations and styles.

import Foundation
import Testing
@testable import FrontEnd

enum Fixtures {
    /// The copied `Fixtures/yaml` directory inside the test bundle.
    static var yamlDirectory: URL {
        Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("yaml")
    }

    static func yamlPath(_ name: String) -> String {
        yamlDirectory.appendingPathComponent(name).path
    }
}

/// Runs `body`, expecting a `DiagnosticError`, and returns its diagnostics.
func diagnostics(_ body: () throws -> YAMLNode, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> [Diagnostic] {
    do {
        let node = try body()
        Issue.record("expected a DiagnosticError, got a \(node.kindName)", sourceLocation: sourceLocation)
        return []
    } catch let error as DiagnosticError {
        #expect(!error.diagnostics.isEmpty, sourceLocation: sourceLocation)
        return error.diagnostics
    } catch {
        Issue.record("expected a DiagnosticError, got \(error)", sourceLocation: sourceLocation)
        return []
    }
}

/// "NAME.yaml:L:C: error: message" with the file reduced to its path below the
/// fixtures directory, and without notes.
func headline(_ diagnostic: Diagnostic) -> String {
    var text = ""
    if let location = diagnostic.location {
        let prefix = Fixtures.yamlDirectory.path + "/"
        let file = location.file.hasPrefix(prefix) ? String(location.file.dropFirst(prefix.count)) : location.file
        text = "\(file):\(location.line):\(location.column): "
    }
    return text + "\(diagnostic.severity.rawValue): \(diagnostic.message)"
}

/// A canonical rendering of the resolved tree: what a consumer would see,
/// ignoring locations and scalar styles.
func canonical(_ node: YAMLNode) -> String {
    switch node.kind {
    case .mapping(let pairs):
        return "{" + pairs.map { "\(($0.key.scalar?.text ?? canonical($0.key)).debugDescription)=\(canonical($0.value))" }
            .joined(separator: ",") + "}"
    case .sequence(let items):
        return "[" + items.map(canonical).joined(separator: ",") + "]"
    case .scalar(let scalar):
        if scalar.isNull { return "null" }
        if let b = scalar.bool { return "bool:\(b)" }
        if let i = scalar.int { return "int:\(i)" }
        if let d = scalar.double { return "double:\(d)" }
        return "string:" + scalar.text.debugDescription
    }
}
