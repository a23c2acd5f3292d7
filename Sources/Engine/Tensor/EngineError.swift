// EngineError — the one error type the engine throws. Every message is written for
// people and names the layer, file or parameter that is at fault.

/// An error raised by the engine: bad shapes, bad data files, bad checkpoints, bad settings.
public enum EngineError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A tensor had the wrong shape for a layer or operation (`layer` names it).
    case shapeMismatch(layer: String, message: String)
    /// A setting or argument is out of range or inconsistent.
    case invalidArgument(String)
    /// A data file is missing, truncated or malformed.
    case dataFile(path: String, message: String)
    /// A checkpoint file is missing, malformed or does not match the network.
    case checkpoint(path: String, message: String)
    /// A file could not be written (`reason` from ``FileSystemErrors/writing(_:_:)``).
    case fileWrite(reason: String)

    public var description: String {
        switch self {
        case let .shapeMismatch(layer, message): return "layer '\(layer)': \(message)"
        case let .invalidArgument(message): return message
        case let .dataFile(path, message): return "\(path): \(message)"
        case let .checkpoint(path, message): return "\(path): \(message)"
        case let .fileWrite(reason): return reason
        }
    }
}

extension EngineError {
    /// A short, printable excerpt of text read from a user's file, for a message:
    /// at most `limit` characters (then `…`), control characters written as `\u{1B}`,
    /// so a foreign file can neither flood a message nor act on a terminal.
    public static func excerpt(_ text: some StringProtocol, limit: Int = 24) -> String {
        var out = ""
        var count = 0
        for scalar in text.unicodeScalars {
            if count == limit { out += "…"; break }
            if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
                out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            } else {
                out.unicodeScalars.append(scalar)
            }
            count += 1
        }
        return out
    }
}
