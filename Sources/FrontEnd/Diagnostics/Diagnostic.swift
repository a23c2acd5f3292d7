// Diagnostics — the one way the front end talks about bad input: a located
// message for people (`file:line:col: error: …`), the error that carries every
// diagnostic found in one pass, and the engine that collects them. Knows nothing
// about YAML or the spec; every other front-end pass reports through these types.

/// A position in a source file. `line` and `column` are 1-based; columns count
/// Unicode scalars (characters as libyaml counts them), not bytes.
public struct SourceLocation: Hashable, Sendable, Codable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// `file:line:col`, the form editors and terminals turn into links.
    public var description: String { "\(file):\(line):\(column)" }
}

/// One message about the input, with where it applies and optional notes.
public struct Diagnostic: Hashable, Sendable, Codable, CustomStringConvertible {
    public enum Severity: String, Hashable, Sendable, Codable {
        case error, warning, note
    }

    public var severity: Severity
    /// Where the problem is; nil for problems with no place in a file (e.g. a missing file).
    public var location: SourceLocation?
    /// One line, lower-case start, no trailing period, e.g. "duplicate key 'epochs'".
    public var message: String
    /// Extra lines printed under the message ("first defined at line 3, column 3").
    public var notes: [String]

    public init(_ severity: Severity = .error, _ message: String, at location: SourceLocation?, notes: [String] = []) {
        self.severity = severity
        self.location = location
        self.message = message
        self.notes = notes
    }

    public static func error(_ message: String, at location: SourceLocation?, notes: [String] = []) -> Diagnostic {
        Diagnostic(.error, message, at: location, notes: notes)
    }

    public static func warning(_ message: String, at location: SourceLocation?, notes: [String] = []) -> Diagnostic {
        Diagnostic(.warning, message, at: location, notes: notes)
    }

    /// `FILE:LINE:COL: error: message`, then `  note: …` on its own line per note.
    /// Without a location: `error: message`.
    public var description: String {
        var text = location.map { "\($0): " } ?? ""
        text += "\(severity.rawValue): \(message)"
        for note in notes {
            text += "\n  note: \(note)"
        }
        return text
    }
}

/// Thrown when input is wrong; carries every diagnostic found in one pass.
public struct DiagnosticError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]

    public init(_ diagnostics: [Diagnostic]) {
        self.diagnostics = diagnostics
    }

    /// One diagnostic per line (notes follow their diagnostic, indented).
    public var description: String {
        diagnostics.map(\.description).joined(separator: "\n")
    }
}

/// Collects diagnostics during a pass. Not thread-safe: one engine per pass.
public final class DiagnosticEngine {
    public private(set) var diagnostics: [Diagnostic] = []

    public init() {}

    public func emit(_ d: Diagnostic) {
        diagnostics.append(d)
    }

    public var hasErrors: Bool {
        diagnostics.contains { $0.severity == .error }
    }
}
