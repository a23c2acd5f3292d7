// TLCCommands — the command line (swift-argument-parser). Thin: argument
// handling and exit codes only; the work lives in the layers below.
import ArgumentParser

public struct TLC: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "tlc",
        abstract: "A compiler for declarative transfer-learning experiments.",
        version: "0.1.0")
    public init() {}
}
