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

    public var description: String {
        switch self {
        case let .shapeMismatch(layer, message): return "layer '\(layer)': \(message)"
        case let .invalidArgument(message): return message
        case let .dataFile(path, message): return "\(path): \(message)"
        case let .checkpoint(path, message): return "\(path): \(message)"
        }
    }
}
