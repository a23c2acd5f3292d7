// `tlc zoo` — the model zoo as a user sees it: every architecture with its parameter
// and FLOP counts, and for one architecture its layers and checkpoint tensors with
// PyTorch's names and layouts (what a `file:` backbone must contain).
import ArgumentParser
import Foundation
import ModelZoo

struct ZooCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zoo",
        abstract: "List the model zoo, or show one architecture's layers and checkpoint tensors.")
    enum Format: String, ExpressibleByArgument, CaseIterable { case text, md, json }
    @Argument(help: "An architecture name (omit to list them all).") var arch: String?
    @Option(help: "Number of classes of the output layer.") var classes = 10
    @Option(help: "Input shape CxHxW.") var input = "1x28x28"
    @Option(help: "text, md or json.") var format: Format = .text
    @Flag(help: "Markdown tensor tables of every architecture (the generated part of docs/pytorch.md).") var allTensors = false

    func run() throws {
        let parts = input.lowercased().split(separator: "x").compactMap { Int($0) }
        guard parts.count == 3, parts.allSatisfy({ $0 >= 1 }) else {
            Output.err("error: --input must be CxHxW with positive numbers, e.g. 1x28x28")
            throw CommandFailure(code: 2)
        }
        let shape = FeatureShape(channels: parts[0], height: parts[1], width: parts[2])
        if allTensors { Output.out(Self.tensorTables(input: shape, classes: classes)); return }
        guard let arch else {
            var out = "architecture      params    MFLOPs  summary\n"
            for info in Zoo.catalog {
                guard let s = try? Zoo.architecture(info.name, input: shape, classes: classes).analyze() else { continue }
                out += info.name.padding(toLength: 16, withPad: " ", startingAt: 0) + "  "
                    + String(s.parameters).leftPad(8) + "  " + String(format: "%8.2f", Double(s.forwardFLOPs) / 1e6) + "  " + info.summary + "\n"
            }
            Output.out(out + "\n(tlc zoo NAME shows the layers and checkpoint tensors of one)")
            return
        }
        let summary: ArchitectureSummary
        do { summary = try Zoo.architecture(arch, input: shape, classes: classes).analyze() } catch {
            Output.err("error: \(error)")
            throw CommandFailure(code: 2)
        }
        switch format {
        case .text: Output.out(Self.text(arch, summary))
        case .md: Output.out(Self.markdown(arch, summary))
        case .json:
            let tensors = summary.stateTensors(backboneOnly: false).map { t -> [String: Any] in
                ["name": t.name, "shape": t.shape, "buffer": t.isBuffer,
                 "part": summary.layers.first { $0.stateTensors.contains(t) }?.inBackbone == true ? "backbone" : "head"]
            }
            let layers = summary.layers.map { l -> [String: Any] in
                ["path": l.path, "kind": l.kind, "output": [l.output.channels, l.output.height, l.output.width],
                 "params": l.parameters, "group": l.isGroup, "part": l.inBackbone ? "backbone" : "head"]
            }
            let object: [String: Any] = ["arch": arch, "params": summary.parameters, "flops": summary.forwardFLOPs,
                                         "layers": layers, "tensors": tensors]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            Output.out(String(decoding: data, as: UTF8.self))
        }
    }

    static func text(_ arch: String, _ s: ArchitectureSummary) -> String {
        var out = "\(arch): \(s.parameters) parameters (backbone \(s.backboneParameters), head \(s.headParameters)), \(String(format: "%.2f", Double(s.forwardFLOPs) / 1e6)) MFLOPs per image\n\n"
        out += "layer                          kind            output        params\n"
        for l in s.layers {
            let depth = l.path.split(separator: ".").count - 1
            out += (String(repeating: "  ", count: depth) + l.path).padding(toLength: 30, withPad: " ", startingAt: 0) + " "
                + l.kind.padding(toLength: 15, withPad: " ", startingAt: 0) + " " + l.output.description.padding(toLength: 12, withPad: " ", startingAt: 0)
                + String(l.parameters).leftPad(8) + "\n"
        }
        out += "\ncheckpoint tensors (PyTorch state_dict names and layouts):\n"
        for l in s.layers where !l.isGroup {
            for t in l.stateTensors {
                out += "  " + t.name.padding(toLength: 40, withPad: " ", startingAt: 0) + " " + "\(t.shape)".padding(toLength: 18, withPad: " ", startingAt: 0)
                    + (l.inBackbone ? "backbone" : "head") + (t.isBuffer ? ", buffer" : "") + "\n"
            }
        }
        return out
    }

    static func markdown(_ arch: String, _ s: ArchitectureSummary) -> String {
        var out = "### \(arch)\n\n\(s.parameters) parameters (backbone \(s.backboneParameters), head \(s.headParameters)).\n\n"
        out += "| tensor | shape | part | PyTorch module |\n| --- | --- | --- | --- |\n"
        for l in s.layers where !l.isGroup {
            let module: String = switch l.kind {
            case "dense": "`nn.Linear(\(l.input.count), \(l.output.count))`"
            case "conv2d": "`nn.Conv2d(\(l.input.channels), \(l.output.channels), \(l.stateTensors.first?.shape.last ?? 0), …)`"
            case "batchnorm": l.input.isFlat ? "`nn.BatchNorm1d(\(l.input.channels))`" : "`nn.BatchNorm2d(\(l.input.channels))`"
            default: ""
            }
            for (i, t) in l.stateTensors.enumerated() {
                out += "| `\(t.name)` | \(t.shape.map(String.init).joined(separator: "×")) | \(l.inBackbone ? "backbone" : "head")\(t.isBuffer ? " (buffer)" : "") | \(i == 0 ? module : "") |\n"
            }
        }
        return out
    }

    /// Every architecture's tensor table, with the zoo's defaults.
    static func tensorTables(input: FeatureShape, classes: Int) -> String {
        Zoo.catalog.compactMap { info in
            (try? Zoo.architecture(info.name, input: input, classes: classes).analyze()).map { markdown(info.name, $0) }
        }.joined(separator: "\n")
    }
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
