// Shape inference, parameter and FLOP counts over a LayerDescription tree.
// Rules (PyTorch's): conv/pool output = floor((in + 2·pad − k) / stride) + 1;
// `dense` flattens its input; a residual's body and shortcut must agree;
// concat branches must agree on height and width; ceil-mode max pooling and
// adaptive pooling as PyTorch sizes them.

/// A shape that does not work, naming the layer path.
public struct ShapeError: Error, Hashable, Sendable, CustomStringConvertible {
    public var layer: String
    public var message: String
    public init(layer: String, message: String) { self.layer = layer; self.message = message }
    public var description: String { "layer '\(layer)': \(message)" }
}

/// One layer (or group) after shape inference.
public struct LayerInfo: Hashable, Sendable {
    public var path: String
    public var kind: String
    public var input: FeatureShape
    public var output: FeatureShape
    /// Trainable parameters of this layer alone (a group: its whole subtree).
    public var parameters: Int
    /// Forward FLOPs per sample (multiply-add = 2), subtree total for groups.
    public var flops: Int
    /// Parameter tensor names (`path.weight`, …); empty for groups.
    public var parameterNames: [String]
    public var isGroup: Bool
    /// True when this layer belongs to the backbone.
    public var inBackbone: Bool
    /// Every tensor a checkpoint holds for this layer (parameters, then buffers such as
    /// batch-norm running statistics), with PyTorch's layouts: dense `[out, in]`, conv
    /// `[out, in, kh, kw]`.
    public var stateTensors: [StateTensor] = []
}

/// A named tensor of a checkpoint and its shape.
public struct StateTensor: Hashable, Sendable {
    public var name: String
    public var shape: [Int]
    /// Running statistics rather than a trainable parameter.
    public var isBuffer: Bool
    public init(name: String, shape: [Int], isBuffer: Bool = false) { self.name = name; self.shape = shape; self.isBuffer = isBuffer }
}

/// The result of analysing an architecture.
public struct ArchitectureSummary: Hashable, Sendable {
    /// Every layer and group, in forward (pre-order) order.
    public var layers: [LayerInfo]
    public var backboneOutput: FeatureShape
    public var output: FeatureShape
    public var backboneParameters: Int
    public var headParameters: Int
    public var parameters: Int { backboneParameters + headParameters }
    /// Forward FLOPs per sample.
    public var forwardFLOPs: Int
    /// Training FLOPs per sample (forward + backward ≈ 3× forward).
    public var trainingFLOPs: Int { 3 * forwardFLOPs }

    /// Every checkpoint tensor of the backbone (or of the whole network), in forward order.
    public func stateTensors(backboneOnly: Bool) -> [StateTensor] {
        layers.filter { !$0.isGroup && (!backboneOnly || $0.inBackbone) }.flatMap(\.stateTensors)
    }

    /// Paths of every layer and group (what `freeze` may name).
    public var layerPaths: [String] { layers.map(\.path) }
    public func layer(_ path: String) -> LayerInfo? { layers.first { $0.path == path } }
}

extension Architecture {
    /// Infers shapes and counts; throws the first shape that does not fit.
    public func analyze() throws(ShapeError) -> ArchitectureSummary {
        var infos: [LayerInfo] = []
        let backboneOut = try Self.walk(backbone, prefix: "", input: input, inBackbone: true, into: &infos)
        let backboneParams = infos.filter { !$0.isGroup }.reduce(0) { $0 + $1.parameters }
        let out = try Self.walk(head, prefix: "", input: backboneOut, inBackbone: false, into: &infos)
        let leaves = infos.filter { !$0.isGroup }
        let total = leaves.reduce(0) { $0 + $1.parameters }
        return ArchitectureSummary(layers: infos, backboneOutput: backboneOut, output: out,
                                   backboneParameters: backboneParams, headParameters: total - backboneParams,
                                   forwardFLOPs: leaves.reduce(0) { $0 + $1.flops })
    }

    private static func walk(_ layers: [LayerDescription], prefix: String, input: FeatureShape,
                             inBackbone: Bool, into infos: inout [LayerInfo]) throws(ShapeError) -> FeatureShape {
        var shape = input
        for layer in layers {
            shape = try visit(layer, prefix: prefix, input: shape, inBackbone: inBackbone, into: &infos)
        }
        return shape
    }

    private static func visit(_ layer: LayerDescription, prefix: String, input: FeatureShape,
                              inBackbone: Bool, into infos: inout [LayerInfo]) throws(ShapeError) -> FeatureShape {
        let path = prefix.isEmpty ? layer.name : "\(prefix).\(layer.name)"
        func leaf(_ output: FeatureShape, params: Int = 0, flops: Int = 0, names: [String] = [], tensors: [StateTensor] = []) -> FeatureShape {
            infos.append(LayerInfo(path: path, kind: layer.kindName, input: input, output: output, parameters: params,
                                   flops: flops, parameterNames: names, isGroup: false, inBackbone: inBackbone, stateTensors: tensors))
            return output
        }
        func spatial(_ k: Int, _ s: Int, _ p: Int, what: String) throws(ShapeError) -> (Int, Int) {
            guard k >= 1, s >= 1, p >= 0 else {
                throw ShapeError(layer: path, message: "\(what) needs size ≥ 1, stride ≥ 1 and padding ≥ 0")
            }
            let h = (input.height + 2 * p - k) / s + 1, w = (input.width + 2 * p - k) / s + 1
            guard input.height + 2 * p >= k, input.width + 2 * p >= k, h >= 1, w >= 1 else {
                throw ShapeError(layer: path, message: "input \(input) is too small for a \(k)×\(k) \(what)")
            }
            return (h, w)
        }
        switch layer {
        case .dense(_, let units):
            guard units >= 1 else { throw ShapeError(layer: path, message: "dense needs at least 1 unit") }
            let n = input.count
            return leaf(.flat(units), params: n * units + units, flops: 2 * n * units,
                        names: ["\(path).weight", "\(path).bias"],
                        tensors: [StateTensor(name: "\(path).weight", shape: [units, n]), StateTensor(name: "\(path).bias", shape: [units])])
        case .conv2d(_, let filters, let k, let s, let p):
            guard filters >= 1 else { throw ShapeError(layer: path, message: "conv2d needs at least 1 filter") }
            let (h, w) = try spatial(k, s, p, what: "kernel")
            let perOut = input.channels * k * k
            return leaf(FeatureShape(channels: filters, height: h, width: w), params: filters * perOut + filters,
                        flops: 2 * perOut * filters * h * w, names: ["\(path).weight", "\(path).bias"],
                        tensors: [StateTensor(name: "\(path).weight", shape: [filters, input.channels, k, k]),
                                  StateTensor(name: "\(path).bias", shape: [filters])])
        case .maxPool(_, let size, let s, let p), .avgPool(_, let size, let s, let p):
            let (h, w) = try spatial(size, s, p, what: "pooling window")
            return leaf(FeatureShape(channels: input.channels, height: h, width: w), flops: input.channels * h * w * size * size)
        case .globalAvgPool:
            return leaf(.flat(input.channels), flops: input.count)
        case .batchNorm:
            let c = [input.channels]
            return leaf(input, params: 2 * input.channels, flops: 2 * input.count,
                        names: ["\(path).weight", "\(path).bias"],
                        tensors: [StateTensor(name: "\(path).weight", shape: c), StateTensor(name: "\(path).bias", shape: c),
                                  StateTensor(name: "\(path).running_mean", shape: c, isBuffer: true),
                                  StateTensor(name: "\(path).running_var", shape: c, isBuffer: true)])
        case .relu:
            return leaf(input, flops: input.count)
        case .dropout(_, let rate):
            guard rate >= 0, rate < 1 else { throw ShapeError(layer: path, message: "dropout rate must be in [0, 1)") }
            return leaf(input, flops: input.count)
        case .flatten:
            return leaf(.flat(input.count))
        case .conv(_, let filters, let k, let s, let p, let groups, let bias):
            guard filters >= 1, groups >= 1, input.channels % groups == 0, filters % groups == 0 else {
                throw ShapeError(layer: path, message: "conv2d with \(groups) groups needs input channels (\(input.channels)) and filters (\(filters)) divisible by the groups")
            }
            let (h, w) = try spatial(k, s, p, what: "kernel")
            let perOut = input.channels / groups * k * k
            var tensors = [StateTensor(name: "\(path).weight", shape: [filters, input.channels / groups, k, k])]
            if bias { tensors.append(StateTensor(name: "\(path).bias", shape: [filters])) }
            return leaf(FeatureShape(channels: filters, height: h, width: w), params: filters * perOut + (bias ? filters : 0),
                        flops: 2 * perOut * filters * h * w, names: tensors.map(\.name), tensors: tensors)
        case .batchNormWith:
            let c = [input.channels]
            return leaf(input, params: 2 * input.channels, flops: 2 * input.count,
                        names: ["\(path).weight", "\(path).bias"],
                        tensors: [StateTensor(name: "\(path).weight", shape: c), StateTensor(name: "\(path).bias", shape: c),
                                  StateTensor(name: "\(path).running_mean", shape: c, isBuffer: true),
                                  StateTensor(name: "\(path).running_var", shape: c, isBuffer: true)])
        case .relu6, .silu, .sigmoid, .channelAffine:
            if case .channelAffine(_, let scale, let shift) = layer, scale.count != input.channels || shift.count != input.channels {
                throw ShapeError(layer: path, message: "a channel affine of \(scale.count) channels cannot take input \(input)")
            }
            return leaf(input, flops: input.count)
        case .stochasticDepth(_, let rate):
            guard rate >= 0, rate < 1 else { throw ShapeError(layer: path, message: "stochastic depth rate must be in [0, 1)") }
            return leaf(input, flops: input.count)
        case .maxPoolCeil(_, let size, let s, let p):
            guard size >= 1, s >= 1, p >= 0, 2 * p <= size else {
                throw ShapeError(layer: path, message: "pooling window needs size ≥ 1, stride ≥ 1 and 0 ≤ padding ≤ size / 2")
            }
            let h = ceilPoolSize(input.height, size, s, p), w = ceilPoolSize(input.width, size, s, p)
            guard h >= 1, w >= 1 else {
                throw ShapeError(layer: path, message: "input \(input) is too small for a \(size)×\(size) pooling window with stride \(s)")
            }
            return leaf(FeatureShape(channels: input.channels, height: h, width: w), flops: input.channels * h * w * size * size)
        case .adaptiveAvgPool(_, let h, let w):
            guard h >= 1, w >= 1 else { throw ShapeError(layer: path, message: "adaptive pooling needs an output of at least 1×1") }
            return leaf(FeatureShape(channels: input.channels, height: h, width: w), flops: input.count + input.channels * h * w)
        case .sum(_, let body, let shortcut, let after):
            let index = infos.count
            infos.append(LayerInfo(path: path, kind: layer.kindName, input: input, output: input, parameters: 0,
                                   flops: 0, parameterNames: [], isGroup: true, inBackbone: inBackbone))
            let a = try walk(body, prefix: path, input: input, inBackbone: inBackbone, into: &infos)
            let b = try walk(shortcut, prefix: path, input: input, inBackbone: inBackbone, into: &infos)
            guard a == b else {
                throw ShapeError(layer: path, message: "residual body gives \(a) but the shortcut gives \(b)")
            }
            let out = try walk(after, prefix: path, input: a, inBackbone: inBackbone, into: &infos)
            finishGroup(at: index, output: out, extraFLOPs: a.count, infos: &infos)
            return out
        case .branches(_, let branches):
            guard !branches.isEmpty else { throw ShapeError(layer: path, message: "concat needs at least one branch") }
            let index = infos.count
            infos.append(LayerInfo(path: path, kind: layer.kindName, input: input, output: input, parameters: 0,
                                   flops: 0, parameterNames: [], isGroup: true, inBackbone: inBackbone))
            var outs: [FeatureShape] = []
            for branch in branches {
                outs.append(try walk([branch], prefix: path, input: input, inBackbone: inBackbone, into: &infos))
            }
            let first = outs[0]
            for (o, branch) in zip(outs, branches) where o.height != first.height || o.width != first.width {
                throw ShapeError(layer: path, message: "\(branch.name) gives \(o) but \(branches[0].name) gives \(first); spatial sizes must agree")
            }
            let out = FeatureShape(channels: outs.reduce(0) { $0 + $1.channels }, height: first.height, width: first.width)
            finishGroup(at: index, output: out, infos: &infos)
            return out
        case .scale(_, let gate):
            let index = infos.count
            infos.append(LayerInfo(path: path, kind: layer.kindName, input: input, output: input, parameters: 0,
                                   flops: 0, parameterNames: [], isGroup: true, inBackbone: inBackbone))
            let g = try walk(gate, prefix: path, input: input, inBackbone: inBackbone, into: &infos)
            guard g.channels == input.channels, g.height == 1, g.width == 1 else {
                throw ShapeError(layer: path, message: "the gate gives \(g) but must give \(input.channels)×1×1 for input \(input)")
            }
            finishGroup(at: index, output: input, extraFLOPs: input.count, infos: &infos)
            return input
        case .cell(_, let nodes, let alpha):
            guard !nodes.isEmpty else { throw ShapeError(layer: path, message: "a cell needs at least one node") }
            let index = infos.count
            infos.append(LayerInfo(path: path, kind: layer.kindName, input: input, output: input, parameters: 0,
                                   flops: 0, parameterNames: [], isGroup: true, inBackbone: inBackbone))
            var mixed: [CellOperation]? = nil, mixedEdges = 0, sums = 0
            for (j, edges) in nodes.enumerated() {
                guard !edges.isEmpty else { throw ShapeError(layer: path, message: "node \(j + 1) has no edges") }
                for e in edges {
                    guard e.from >= 0, e.from <= j, !e.operations.isEmpty else {
                        throw ShapeError(layer: path, message: "node \(j + 1) has an edge from \(e.from), which is not the input or an earlier node")
                    }
                    if e.operations.count > 1 {
                        guard alpha != nil, mixed == nil || mixed == e.operations else {
                            throw ShapeError(layer: path, message: "mixed edges need one alpha and the same operations on every edge")
                        }
                        mixed = e.operations
                        mixedEdges += 1
                    }
                    for op in e.operations where op != .zero {
                        guard min(input.height, input.width) >= op.window else {
                            throw ShapeError(layer: path, message: "input \(input) is too small for \(op.rawValue)")
                        }
                        let opPath = CellEdge.path(cell: path, node: j + 1, from: e.from, op: op)
                        let out = try walk(op.layers(channels: input.channels), prefix: opPath, input: input, inBackbone: inBackbone, into: &infos)
                        guard out == input else { throw ShapeError(layer: opPath, message: "gives \(out) for input \(input)") }
                        sums += 1
                    }
                }
            }
            // The mixture's weights and sums, the output's sum of nodes.
            finishGroup(at: index, output: input, extraFLOPs: (sums + nodes.count) * input.count * 2, infos: &infos)
            if let alpha, let mixed, !infos.contains(where: { $0.path == alpha }) {
                let shape = [mixedEdges, mixed.count]
                infos.append(LayerInfo(path: alpha, kind: "alpha", input: input, output: input, parameters: mixedEdges * mixed.count,
                                       flops: 0, parameterNames: [alpha], isGroup: false, inBackbone: inBackbone,
                                       stateTensors: [StateTensor(name: alpha, shape: shape)]))
            }
            return input
        case .block(_, let children):
            let index = infos.count
            infos.append(LayerInfo(path: path, kind: layer.kindName, input: input, output: input, parameters: 0,
                                   flops: 0, parameterNames: [], isGroup: true, inBackbone: inBackbone))
            let out = try walk(children, prefix: path, input: input, inBackbone: inBackbone, into: &infos)
            finishGroup(at: index, output: out, infos: &infos)
            return out
        case .residual(_, let body, let shortcut):
            let index = infos.count
            infos.append(LayerInfo(path: path, kind: layer.kindName, input: input, output: input, parameters: 0,
                                   flops: 0, parameterNames: [], isGroup: true, inBackbone: inBackbone))
            let a = try walk(body, prefix: path, input: input, inBackbone: inBackbone, into: &infos)
            let b = try walk(shortcut, prefix: path + ".shortcut", input: input, inBackbone: inBackbone, into: &infos)
            guard a == b else {
                throw ShapeError(layer: path, message: "residual body gives \(a) but the shortcut gives \(b)")
            }
            finishGroup(at: index, output: a, extraFLOPs: a.count, infos: &infos)
            return a
        case .concat(_, let branches):
            guard !branches.isEmpty else { throw ShapeError(layer: path, message: "concat needs at least one branch") }
            let index = infos.count
            infos.append(LayerInfo(path: path, kind: layer.kindName, input: input, output: input, parameters: 0,
                                   flops: 0, parameterNames: [], isGroup: true, inBackbone: inBackbone))
            var outs: [FeatureShape] = []
            for (i, branch) in branches.enumerated() {
                outs.append(try walk(branch, prefix: "\(path).branch\(i)", input: input, inBackbone: inBackbone, into: &infos))
            }
            let first = outs[0]
            for (i, o) in outs.enumerated() where o.height != first.height || o.width != first.width {
                throw ShapeError(layer: path, message: "branch\(i) gives \(o) but branch0 gives \(first); spatial sizes must agree")
            }
            let out = FeatureShape(channels: outs.reduce(0) { $0 + $1.channels }, height: first.height, width: first.width)
            finishGroup(at: index, output: out, infos: &infos)
            return out
        }
    }

    /// PyTorch's `ceil_mode=True` output size: ⌈(in + 2·pad − k) / stride⌉ + 1 (rounding
    /// toward −∞, so a window larger than the input still gives one output), less one when
    /// the last window would start in the right padding. Below 1: the input is too small.
    public static func ceilPoolSize(_ n: Int, _ k: Int, _ s: Int, _ p: Int) -> Int {
        let a = n + 2 * p - k + s - 1
        var out = (a >= 0 ? a / s : -((-a + s - 1) / s)) + 1
        if (out - 1) * s >= n + p { out -= 1 }
        return out
    }

    private static func finishGroup(at index: Int, output: FeatureShape, extraFLOPs: Int = 0, infos: inout [LayerInfo]) {
        let prefix = infos[index].path + "."
        var params = 0, flops = extraFLOPs
        for info in infos[(index + 1)...] where !info.isGroup && info.path.hasPrefix(prefix) {
            params += info.parameters; flops += info.flops
        }
        infos[index].output = output
        infos[index].parameters = params
        infos[index].flops = flops
    }
}
