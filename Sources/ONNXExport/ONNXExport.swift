// ONNXExport — a run's model as an ONNX file that onnxruntime and onnx.checker accept:
// float networks (every zoo and torchvision architecture), int8 networks as integer
// operators, and ensembles as one graph. By default the input normalization is folded
// in, so the model takes what the run's data held before normalization: raw pixel
// values 0–255 for images and Fashion-MNIST, the file's values for csv and npy.
// Input `input` is N×C×H×W (N×F for flat inputs) float32 with a dynamic batch;
// outputs are `logits` and `probabilities` (an ensemble: `probabilities`). The
// run's metadata goes into the model's metadata properties.
//
// Owns the graph's assembly (normalization prefix, members, ensemble combination,
// model header); FloatLowering and Int8Lowering own the networks' layers.
import Engine
import Foundation
import ModelZoo
import ONNXProto
import SwiftProtobuf

/// An export that cannot be done (an operator ONNX lacks, a damaged model): one line for the user.
public struct ExportError: Error, CustomStringConvertible {
    public var description: String
    public init(_ message: String) { description = message }
}

/// One model of the exported graph and the normalization its input gets.
public struct ExportMember {
    public var model: InferenceModel
    public var normalization: Normalization
    public init(model: InferenceModel, normalization: Normalization) { self.model = model; self.normalization = normalization }
}

public struct ONNXExportOptions {
    /// Fold each member's input normalization (and the pixel scaling) into the graph.
    public var foldNormalization = true
    /// The run's inputs were pixels scaled to [0, 1] before normalization (Fashion-MNIST,
    /// image folders): the exported model takes 0–255 and divides by 255 itself.
    public var pixelInput = true
    /// Name/value pairs for the model's metadata properties, in this order.
    public var metadata: [(String, String)] = []
    /// The graph's name.
    public var name = "tlc"
    public init() {}
}

public enum ONNXExporter {
    /// The operator set the graphs use (onnxruntime has supported it since 1.13).
    public static let opset: Int64 = 17
    static let irVersion: Int64 = 8

    /// One model: outputs `logits` and `probabilities`.
    public static func export(_ member: ExportMember, options: ONNXExportOptions) throws(ExportError) -> Data {
        try export(members: [member], ensemble: nil, options: options)
    }

    /// Several members combined as tlc's ensemble `method` combines their probabilities
    /// (`weights` for `weighted`): output `probabilities`. Without `ensemble`, exactly one member.
    public static func export(members: [ExportMember], ensemble: (method: EnsembleMethod, weights: [Double]?)?,
                              options: ONNXExportOptions) throws(ExportError) -> Data {
        guard let first = members.first, ensemble != nil || members.count == 1 else { throw ExportError("nothing to export") }
        let input = try inputShape(first.model)
        for m in members.dropFirst() where try inputShape(m.model) != input || m.model.outputs != first.model.outputs {
            throw ExportError("the ensemble's members take different inputs or give different numbers of classes")
        }
        var graph = GraphBuilder()
        graph.reserve("input")
        var logits: [String] = []
        for (i, member) in members.enumerated() {
            let scope = members.count > 1 ? "member\(i + 1)/" : ""
            var x = "input"
            if options.foldNormalization { x = normalize(x, member.normalization, input: input, pixels: options.pixelInput, scope: scope, graph: &graph) }
            logits.append(try lower(member.model, input: x, shape: input, scope: scope, graph: &graph))
        }
        let outputs: [Onnx_ValueInfoProto]
        let classes = first.model.outputs
        if let ensemble {
            let probabilities = members.indices.map { i in
                graph.node("Softmax", [logits[i]], name: "member\(i + 1)/softmax", attributes: [.int("axis", -1)])
            }
            combine(probabilities, method: ensemble.method, weights: ensemble.weights, classes: classes, graph: &graph)
            outputs = [GraphBuilder.valueInfo("probabilities", dims: [classes])]
        } else {
            graph.node("Identity", [logits[0]], name: "logits", output: "logits")
            graph.node("Softmax", [logits[0]], name: "softmax", attributes: [.int("axis", -1)], output: "probabilities")
            outputs = [GraphBuilder.valueInfo("logits", dims: [classes]), GraphBuilder.valueInfo("probabilities", dims: [classes])]
        }
        var g = Onnx_GraphProto()
        g.name = options.name
        g.node = graph.nodes
        g.initializer = graph.initializers
        g.input = [GraphBuilder.valueInfo("input", dims: input.isFlat ? [input.channels] : [input.channels, input.height, input.width])]
        g.output = outputs
        var model = Onnx_ModelProto()
        model.irVersion = irVersion
        var operatorSet = Onnx_OperatorSetIdProto()
        operatorSet.domain = ""
        operatorSet.version = Self.opset
        model.opsetImport = [operatorSet]
        model.producerName = "tlc"
        model.graph = g
        model.metadataProps = options.metadata.map { key, value in
            var p = Onnx_StringStringEntryProto()
            p.key = key; p.value = value
            return p
        }
        do { return try model.serializedData() } catch { throw ExportError("could not encode the ONNX model: \(error)") }
    }

    static func inputShape(_ model: InferenceModel) throws(ExportError) -> FeatureShape {
        if case .ensemble = model { throw ExportError("an ensemble inside an ensemble cannot be exported") }
        guard let input = model.input else { throw ExportError("the model has no input shape") }
        return input
    }

    static func lower(_ model: InferenceModel, input: String, shape: FeatureShape, scope: String, graph: inout GraphBuilder) throws(ExportError) -> String {
        switch model {
        case .float(let network):
            var lowering = FloatLowering(graph: graph, network: network, scope: scope)
            let out = try lowering.lower(network.architecture.layers, prefix: "", input: .init(name: input, isImage: !shape.isFlat))
            graph = lowering.graph
            return out.isImage ? graph.node("Flatten", [out.name], name: scope + "output.flatten", attributes: [.int("axis", 1)]) : out.name
        case .int8(let network):
            var lowering = Int8Lowering(graph: graph, network: network, scope: scope)
            let out = try lowering.lower(input)
            graph = lowering.graph
            return out
        case .ensemble: throw ExportError("an ensemble inside an ensemble cannot be exported")
        }
    }

    /// `(x · 1/255 − shift) · (1 / scale)` per channel, as tlc computes it.
    static func normalize(_ x: String, _ n: Normalization, input: FeatureShape, pixels: Bool, scope: String, graph: inout GraphBuilder) -> String {
        var v = x
        if pixels {
            v = graph.node("Mul", [v, graph.constant(scope + "pixels.scale", floats: [Float(1) / 255], dims: [])], name: scope + "pixels.scale")
        }
        guard n.kind != .none, n.shift.count == input.channels else { return v }
        let dims = FloatLowering.channelDims(input.channels, image: !input.isFlat)
        v = graph.node("Sub", [v, graph.constant(scope + "normalization.shift", floats: n.shift, dims: dims)], name: scope + "normalization.shift")
        let inverse = n.scale.map { 1 / $0 }
        return graph.node("Mul", [v, graph.constant(scope + "normalization.scale", floats: inverse, dims: dims)], name: scope + "normalization.scale")
    }

    /// tlc's EnsembleCombiner as nodes: the (weighted) mean of the members' probabilities,
    /// and for `vote` 0.99 · vote share + 0.01 · mean.
    static func combine(_ probabilities: [String], method: EnsembleMethod, weights: [Double]?, classes: Int, graph: inout GraphBuilder) {
        let m = probabilities.count
        let w: [Double] = method == .weighted ? (weights ?? []) : [Double](repeating: 1 / Double(m), count: m)
        var mean = ""
        for (j, p) in probabilities.enumerated() {
            let term = graph.node("Mul", [p, graph.constant("ensemble.weight_\(j + 1)", floats: [Float(w[j])], dims: [])], name: "ensemble.weight_\(j + 1)")
            mean = j == 0 ? term : graph.node("Add", [mean, term], name: "ensemble.sum_\(j + 1)")
        }
        guard method == .vote else {
            graph.node("Identity", [mean], name: "probabilities", output: "probabilities")
            return
        }
        let depth = graph.constant("ensemble.classes", int64: [Int64(classes)], dims: [])
        let onOff = graph.constant("ensemble.one_hot_values", floats: [0, 1], dims: [2])
        var votes = ""
        for (j, p) in probabilities.enumerated() {
            let choice = graph.node("ArgMax", [p], name: "member\(j + 1)/vote", attributes: [.int("axis", 1), .int("keepdims", 0)])
            let oneHot = graph.node("OneHot", [choice, depth, onOff], name: "member\(j + 1)/one_hot", attributes: [.int("axis", -1)])
            votes = j == 0 ? oneHot : graph.node("Add", [votes, oneHot], name: "ensemble.votes_\(j + 1)")
        }
        let share = graph.node("Mul", [votes, graph.constant("ensemble.vote_weight", floats: [Float(0.99) / Float(m)], dims: [])], name: "ensemble.vote_share")
        let rest = graph.node("Mul", [mean, graph.constant("ensemble.mean_weight", floats: [0.01], dims: [])], name: "ensemble.mean_share")
        graph.node("Add", [share, rest], name: "probabilities", output: "probabilities")
    }
}
