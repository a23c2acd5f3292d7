// FloatLowering — a float Network as ONNX nodes, walking its ModelZoo description
// layer by layer: every tlc layer is the ONNX operator PyTorch's exporter would
// emit for the same torch module (Conv, Gemm, BatchNormalization in inference
// form, MaxPool with ceil_mode, AveragePool counting padding, Clip for ReLU6, …).
// Node names are the layers' paths (`layer1.0.conv1`), initializers the checkpoint's
// tensor names (`layer1.0.conv1.weight`). Dropout and stochastic depth are the
// identity at inference and emit nothing.
import Engine
import ModelZoo

struct FloatLowering {
    var graph: GraphBuilder
    /// The network's parameters and buffers by checkpoint name.
    let tensors: [String: Tensor]
    /// Shapes by layer path (ModelZoo's analysis).
    let layers: [String: LayerInfo]
    /// Prefix for node and initializer names (an ensemble member's `member1/`).
    let scope: String

    init(graph: GraphBuilder, network: Network, scope: String = "") {
        self.graph = graph
        tensors = Dictionary(network.stateTensors.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
        layers = Dictionary(network.summary.layers.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        self.scope = scope
    }

    /// A value flowing through the graph: its name and whether it is `[N, C, H, W]`
    /// (rank 4) or `[N, F]` (rank 2).
    struct Value { var name: String; var isImage: Bool }

    static func join(_ prefix: String, _ name: String) -> String {
        prefix.isEmpty ? name : (name.isEmpty ? prefix : prefix + "." + name)
    }

    private func weight(_ name: String) throws(ExportError) -> Tensor {
        guard let t = tensors[name] else { throw ExportError("the checkpoint has no tensor '\(name)'") }
        return t
    }

    private mutating func parameter(_ name: String) throws(ExportError) -> String {
        let t = try weight(name)
        return graph.constant(scope + name, floats: t.values, dims: t.shape)
    }

    /// `[1, C, 1, 1]` (images) or `[1, C]` (flat values) for per-channel constants.
    static func channelDims(_ c: Int, image: Bool) -> [Int] { image ? [1, c, 1, 1] : [1, c] }

    mutating func flattened(_ x: Value, path: String) -> Value {
        guard x.isImage else { return x }
        return Value(name: graph.node("Flatten", [x.name], name: scope + path + ".flatten", attributes: [.int("axis", 1)]), isImage: false)
    }

    mutating func lower(_ layers: [LayerDescription], prefix: String, input: Value) throws(ExportError) -> Value {
        var x = input
        for d in layers { x = try lower(d, prefix: prefix, input: x) }
        return x
    }

    mutating func lower(_ d: LayerDescription, prefix: String, input x: Value) throws(ExportError) -> Value {
        let path = Self.join(prefix, d.name)
        let node = scope + path
        func image(_ op: String, _ inputs: [String], _ attributes: [Attribute] = []) -> Value {
            Value(name: graph.node(op, inputs, name: node, attributes: attributes), isImage: x.isImage)
        }
        func requireImage() throws(ExportError) {
            if !x.isImage { throw ExportError("layer '\(path)' (\(d.kindName)) needs an image input, but its input is a flat vector") }
        }
        switch d {
        case .dense:
            let flat = flattened(x, path: path)
            let w = try parameter(path + ".weight"), b = try parameter(path + ".bias")
            return Value(name: graph.node("Gemm", [flat.name, w, b], name: node, attributes: [.int("transB", 1)]), isImage: false)

        case let .conv2d(_, _, kernel, stride, padding):
            try requireImage()
            return try convolution(x, path: path, kernel: kernel, stride: stride, padding: padding, groups: 1)
        case let .conv(_, _, kernel, stride, padding, groups, _):
            try requireImage()
            return try convolution(x, path: path, kernel: kernel, stride: stride, padding: padding, groups: groups)

        case .batchNorm, .batchNormWith:
            var epsilon = 1e-5
            if case let .batchNormWith(_, e, _) = d { epsilon = e }
            let inputs = [try parameter(path + ".weight"), try parameter(path + ".bias"),
                          try parameter(path + ".running_mean"), try parameter(path + ".running_var")]
            return image("BatchNormalization", [x.name] + inputs, [.float("epsilon", Float(epsilon))])

        case let .maxPool(_, size, stride, padding):
            try requireImage()
            return image("MaxPool", [x.name], [.ints("kernel_shape", [size, size]), .ints("strides", [stride, stride]),
                                               .ints("pads", [padding, padding, padding, padding])])
        case let .maxPoolCeil(_, size, stride, padding):
            try requireImage()
            return image("MaxPool", [x.name], [.ints("kernel_shape", [size, size]), .ints("strides", [stride, stride]),
                                               .ints("pads", [padding, padding, padding, padding]), .int("ceil_mode", 1)])
        case let .avgPool(_, size, stride, padding):
            try requireImage()
            return image("AveragePool", [x.name], [.ints("kernel_shape", [size, size]), .ints("strides", [stride, stride]),
                                                   .ints("pads", [padding, padding, padding, padding]), .int("count_include_pad", 1)])
        case .globalAvgPool:
            try requireImage()
            let pooled = graph.node("GlobalAveragePool", [x.name], name: node)
            return Value(name: graph.node("Flatten", [pooled], name: node + ".flatten", attributes: [.int("axis", 1)]), isImage: false)
        case let .adaptiveAvgPool(_, height, width):
            try requireImage()
            guard let info = layers[path] else { throw ExportError("no shape information for layer '\(path)'") }
            return adaptiveAveragePool(x, from: info.input, height: height, width: width, node: node)

        case .relu: return image("Relu", [x.name])
        case .relu6:
            let lo = graph.constant(node + ".min", floats: [0], dims: []), hi = graph.constant(node + ".max", floats: [6], dims: [])
            return image("Clip", [x.name, lo, hi])
        case .sigmoid: return image("Sigmoid", [x.name])
        case .silu:
            let gate = graph.node("Sigmoid", [x.name], name: node + ".sigmoid")
            return image("Mul", [x.name, gate])
        case .dropout, .stochasticDepth: return x
        case .flatten: return flattened(x, path: path)
        case let .channelAffine(_, scale, shift):
            let dims = Self.channelDims(scale.count, image: x.isImage)
            let s = graph.constant(node + ".scale", floats: scale.map { Float($0) }, dims: dims)
            let t = graph.constant(node + ".shift", floats: shift.map { Float($0) }, dims: dims)
            let scaled = graph.node("Mul", [x.name, s], name: node + ".mul")
            return Value(name: graph.node("Add", [scaled, t], name: node), isImage: x.isImage)

        case let .block(_, children):
            return try lower(children, prefix: path, input: x)
        case let .residual(_, body, shortcut):
            let b = try lower(body, prefix: path, input: x)
            let s = try lower(shortcut, prefix: path + ".shortcut", input: x)
            return Value(name: graph.node("Add", [b.name, s.name], name: node + ".add"), isImage: b.isImage)
        case let .sum(_, body, shortcut, after):
            let b = try lower(body, prefix: path, input: x)
            let s = try lower(shortcut, prefix: path, input: x)
            let added = Value(name: graph.node("Add", [b.name, s.name], name: node + ".add"), isImage: b.isImage)
            return try lower(after, prefix: path, input: added)
        case let .concat(_, branches):
            var outs: [Value] = []
            for (i, branch) in branches.enumerated() { outs.append(try lower(branch, prefix: "\(path).branch\(i)", input: x)) }
            return Value(name: graph.node("Concat", outs.map(\.name), name: node + ".concat", attributes: [.int("axis", 1)]),
                         isImage: outs.first?.isImage ?? x.isImage)
        case let .branches(_, branches):
            var outs: [Value] = []
            for branch in branches { outs.append(try lower(branch, prefix: path, input: x)) }
            return Value(name: graph.node("Concat", outs.map(\.name), name: node + ".concat", attributes: [.int("axis", 1)]),
                         isImage: outs.first?.isImage ?? x.isImage)
        case let .cell(_, nodes, _):
            // A derived (discrete) DARTS cell: node j adds its edges, the output adds the nodes.
            try requireImage()
            // The cell keeps its input's channels: every convolution's filters (a depthwise one's groups).
            let channels = tensors.first { $0.key.hasPrefix(path + ".") && $0.key.hasSuffix(".weight") && $0.value.shape.count == 4 }?.value.shape[0] ?? 1
            var states = [x]
            var k = 0
            func add(_ values: [Value]) -> Value {
                values.dropFirst().reduce(values[0]) { a, b in
                    k += 1
                    return Value(name: graph.node("Add", [a.name, b.name], name: node + ".add\(k)"), isImage: true)
                }
            }
            for (j, edges) in nodes.enumerated() {
                var outs: [Value] = []
                for e in edges {
                    guard e.operations.count == 1, let op = e.operations.first, op != .zero else {
                        throw ExportError("layer '\(path)' is a DARTS search cell (mixed edges); export the derived network (darts_cell_net) instead")
                    }
                    outs.append(try lower(op.layers(channels: channels), prefix: CellEdge.path(cell: path, node: j + 1, from: e.from, op: op), input: states[e.from]))
                }
                states.append(add(outs))
            }
            return add(Array(states.dropFirst()))
        case let .scale(_, gate):
            try requireImage()
            let g = try lower(gate, prefix: path, input: x)
            return Value(name: graph.node("Mul", [x.name, g.name], name: node + ".scale"), isImage: true)
        }
    }

    private mutating func convolution(_ x: Value, path: String, kernel: Int, stride: Int, padding: Int, groups: Int) throws(ExportError) -> Value {
        var inputs = [x.name, try parameter(path + ".weight")]
        if tensors[path + ".bias"] != nil { inputs.append(try parameter(path + ".bias")) }
        let attributes: [Attribute] = [.ints("kernel_shape", [kernel, kernel]), .ints("strides", [stride, stride]),
                                       .ints("pads", [padding, padding, padding, padding]), .int("group", groups)]
        return Value(name: graph.node("Conv", inputs, name: scope + path, attributes: attributes), isImage: true)
    }

    /// PyTorch's adaptive average pooling: bin `i` of `n` over `size` rows spans
    /// `[⌊i·size/n⌋, ⌈(i+1)·size/n⌉)`. Equal bins are one AveragePool (or nothing, when
    /// the size is already `n`); unequal bins are sliced and averaged one by one.
    private mutating func adaptiveAveragePool(_ x: Value, from input: FeatureShape, height: Int, width: Int, node: String) -> Value {
        let (h, w) = (input.height, input.width)
        if h == height && w == width { return x }
        if height == 1 && width == 1 {
            return Value(name: graph.node("GlobalAveragePool", [x.name], name: node), isImage: true)
        }
        if h % height == 0 && w % width == 0 {
            let (kh, kw) = (h / height, w / width)
            return Value(name: graph.node("AveragePool", [x.name], name: node,
                                          attributes: [.ints("kernel_shape", [kh, kw]), .ints("strides", [kh, kw])]), isImage: true)
        }
        func bins(_ size: Int, _ n: Int) -> [(Int, Int)] { (0..<n).map { i in (i * size / n, ((i + 1) * size + n - 1) / n) } }
        let axes = graph.constant(node + ".axes", int64: [2, 3], dims: [2])
        var rows: [String] = []
        for (i, (r0, r1)) in bins(h, height).enumerated() {
            var cells: [String] = []
            for (j, (c0, c1)) in bins(w, width).enumerated() {
                let starts = graph.constant(node + ".start_\(i)_\(j)", int64: [Int64(r0), Int64(c0)], dims: [2])
                let ends = graph.constant(node + ".end_\(i)_\(j)", int64: [Int64(r1), Int64(c1)], dims: [2])
                let slice = graph.node("Slice", [x.name, starts, ends, axes], name: node + ".slice_\(i)_\(j)")
                cells.append(graph.node("ReduceMean", [slice], name: node + ".mean_\(i)_\(j)",
                                        attributes: [.ints("axes", [2, 3]), .int("keepdims", 1)]))
            }
            rows.append(graph.node("Concat", cells, name: node + ".row_\(i)", attributes: [.int("axis", 3)]))
        }
        return Value(name: graph.node("Concat", rows, name: node, attributes: [.int("axis", 2)]), isImage: true)
    }
}
