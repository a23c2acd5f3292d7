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
    @Option(help: "Input shape CxHxW (default: the architecture's own, 1x28x28 or torchvision's 3x224x224).") var input: String?
    @Option(help: "text, md or json.") var format: Format = .text
    @Flag(help: "Show a torchvision architecture with its own classifier as the output layer (head.classifier: keep).") var keepClassifier = false
    @Flag(help: "Markdown tensor tables of every architecture (the generated part of docs/pytorch.md).") var allTensors = false

    func run() throws {
        var given: FeatureShape?
        if let input {
            let parts = input.lowercased().split(separator: "x").compactMap { Int($0) }
            guard parts.count == 3, parts.allSatisfy({ $0 >= 1 }) else {
                Output.err("error: --input must be CxHxW with positive numbers, e.g. 1x28x28")
                throw CommandFailure(code: 2)
            }
            given = FeatureShape(channels: parts[0], height: parts[1], width: parts[2])
        }
        func shape(_ name: String) -> FeatureShape { given ?? Zoo.info(name)?.defaultInput ?? FeatureShape(channels: 1, height: 28, width: 28) }
        if allTensors { Output.out(Self.tensorTables(input: given, classes: classes)); return }
        guard let arch else {
            var out = "architecture      input         params     MFLOPs  summary\n"
            for info in Zoo.catalog {
                let s: ArchitectureSummary
                do { s = try Zoo.architecture(info.name, input: shape(info.name), classes: classes).analyze() } catch {
                    out += info.name.padding(toLength: 16, withPad: " ", startingAt: 0) + "  " + shape(info.name).description.padding(toLength: 12, withPad: " ", startingAt: 0)
                        + "  (does not fit this input: \(error))\n"
                    continue
                }
                out += info.name.padding(toLength: 16, withPad: " ", startingAt: 0) + "  " + shape(info.name).description.padding(toLength: 12, withPad: " ", startingAt: 0)
                    + String(s.parameters).leftPad(10) + "  " + String(format: "%9.2f", Double(s.forwardFLOPs) / 1e6) + "  " + info.summary + "\n"
            }
            Output.out(out + "\n(tlc zoo NAME shows the layers and checkpoint tensors of one)")
            return
        }
        let summary: ArchitectureSummary
        do { summary = try Zoo.architecture(arch, input: shape(arch), classes: classes, keepClassifier: keepClassifier).analyze() } catch {
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
        func indented(_ l: LayerInfo) -> String { String(repeating: "  ", count: l.path.split(separator: ".").count - 1) + l.path }
        let width = max(30, (s.layers.map { indented($0).count }.max() ?? 0) + 1)
        let kindWidth = max(15, s.layers.map(\.kind.count).max() ?? 0)
        out += "layer".padding(toLength: width, withPad: " ", startingAt: 0) + " " + "kind".padding(toLength: kindWidth, withPad: " ", startingAt: 0)
            + " output        params\n"
        for l in s.layers {
            out += indented(l).padding(toLength: width, withPad: " ", startingAt: 0) + " "
                + l.kind.padding(toLength: kindWidth, withPad: " ", startingAt: 0) + " " + l.output.description.padding(toLength: 12, withPad: " ", startingAt: 0)
                + String(l.parameters).leftPad(8) + "\n"
        }
        out += "\ncheckpoint tensors (PyTorch state_dict names and layouts):\n"
        for l in s.layers where !l.isGroup {
            for t in l.stateTensors {
                out += "  " + t.name.padding(toLength: max(40, (s.layers.flatMap(\.stateTensors).map(\.name.count).max() ?? 0) + 1), withPad: " ", startingAt: 0) + " " + "\(t.shape)".padding(toLength: 18, withPad: " ", startingAt: 0)
                    + (l.inBackbone ? "backbone" : "head") + (t.isBuffer ? ", buffer" : "") + "\n"
            }
        }
        return out
    }

    static func markdown(_ arch: String, _ s: ArchitectureSummary) -> String {
        let input = s.layers.first?.input
        let at = input == nil || input == FeatureShape(channels: 1, height: 28, width: 28) ? "" : " at input \(input!)"
        var out = "### \(arch)\n\n\(s.parameters) parameters (backbone \(s.backboneParameters), head \(s.headParameters))\(at).\n\n"
        out += "| tensor | shape | part | PyTorch module |\n| --- | --- | --- | --- |\n"
        for l in s.layers where !l.isGroup {
            let module: String = switch l.kind {
            case "dense": "`nn.Linear(\(l.input.count), \(l.output.count))`"
            case "conv2d": convModule(l)
            case "batchnorm": l.input.isFlat ? "`nn.BatchNorm1d(\(l.input.channels))`" : "`nn.BatchNorm2d(\(l.input.channels))`"
            default: ""
            }
            for (i, t) in l.stateTensors.enumerated() {
                out += "| `\(t.name)` | \(t.shape.map(String.init).joined(separator: "×")) | \(l.inBackbone ? "backbone" : "head")\(t.isBuffer ? " (buffer)" : "") | \(i == 0 ? module : "") |\n"
            }
        }
        return out
    }

    /// `nn.Conv2d(in, out, k, …)`, with `groups=` and `bias=False` when they apply.
    static func convModule(_ l: LayerInfo) -> String {
        let w = l.stateTensors.first?.shape ?? [0, 1, 0, 0]
        let groups = w.count == 4 && w[1] > 0 ? l.input.channels / w[1] : 1
        return "`nn.Conv2d(\(l.input.channels), \(l.output.channels), \(w.last ?? 0), …"
            + (groups > 1 ? ", groups=\(groups)" : "") + (l.stateTensors.count < 2 ? ", bias=False" : "") + ")`"
    }

    /// Every architecture's tensor table, with the zoo's defaults (each architecture's own
    /// input unless one is given).
    static func tensorTables(input: FeatureShape?, classes: Int) -> String {
        Zoo.catalog.compactMap { info in
            (try? Zoo.architecture(info.name, input: input ?? info.defaultInput, classes: classes).analyze()).map { markdown(info.name, $0) }
        }.joined(separator: "\n")
    }
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
