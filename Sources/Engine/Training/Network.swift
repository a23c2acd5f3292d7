// Network — instantiates a ModelZoo `Architecture` as engine layers with stable dotted
// parameter names, seeded initialisation, freezing by name, forward and backward.

import ModelZoo

/// A trainable network built from a ModelZoo architecture description.
public final class Network {
    /// The description this network was built from.
    public let architecture: Architecture
    /// Shapes, parameter and FLOP counts from ModelZoo's analysis.
    public let summary: ArchitectureSummary
    /// Backbone layers followed by head layers.
    public let root: Sequential
    /// Scratch memory shared by the layers.
    public let workspace = Workspace()
    /// Names of parameters that belong to the backbone.
    public let backboneParameterNames: Set<String>
    private let parameterList: [Parameter]

    /// Builds the network; parameters are initialised from `seed` (each from its own
    /// stream `split(label: parameterName)`, so adding a layer never changes the others).
    public init(architecture: Architecture, seed: UInt64) throws {
        self.architecture = architecture
        do { summary = try architecture.analyze() } catch {
            throw EngineError.shapeMismatch(layer: error.layer, message: error.message)
        }
        let rng = SeededGenerator(seed: seed)
        var infos: [String: LayerInfo] = [:]
        for info in summary.layers { infos[info.path] = info }
        let ws = workspace
        // DARTS cells' architecture weights, by name (created by the first cell naming them).
        var alphas: [String: Parameter] = [:]
        func build(_ d: LayerDescription, prefix: String) throws -> Layer {
            let path = joinName(prefix, d.name)
            func input() throws -> FeatureShape {
                guard let info = infos[path] else {
                    throw EngineError.shapeMismatch(layer: path, message: "no shape information (duplicate or missing layer name?)")
                }
                return info.input
            }
            switch d {
            case let .dense(_, units):
                return Dense(name: path, inFeatures: try input().count, outFeatures: units, rng: rng)
            case let .conv2d(_, filters, kernel, stride, padding):
                return Conv2D(name: path, inChannels: try input().channels, outChannels: filters, kernel: kernel,
                              stride: stride, padding: padding, rng: rng, workspace: ws)
            case let .maxPool(_, size, stride, padding): return MaxPool2D(name: path, size: size, stride: stride, padding: padding)
            case let .avgPool(_, size, stride, padding): return AvgPool2D(name: path, size: size, stride: stride, padding: padding)
            case .globalAvgPool: return GlobalAvgPool(name: path)
            case .batchNorm: return BatchNorm(name: path, channels: try input().channels)
            case .relu: return ReLU(name: path)
            case let .dropout(_, rate): return Dropout(name: path, rate: Float(rate), rng: rng)
            case .flatten: return Flatten(name: path)
            case let .block(_, layers):
                return Sequential(name: path, layers: try layers.map { try build($0, prefix: path) })
            case let .residual(_, body, shortcut):
                return Residual(name: path,
                                body: Sequential(name: path, layers: try body.map { try build($0, prefix: path) }),
                                shortcut: Sequential(name: path + ".shortcut",
                                                     layers: try shortcut.map { try build($0, prefix: path + ".shortcut") }))
            case let .conv(_, filters, kernel, stride, padding, groups, bias):
                let c = try input().channels
                if groups == 1 {
                    return Conv2D(name: path, inChannels: c, outChannels: filters, kernel: kernel, stride: stride, padding: padding,
                                  bias: bias, rng: rng, workspace: ws)
                }
                return GroupedConv2D(name: path, inChannels: c, outChannels: filters, kernel: kernel, stride: stride, padding: padding,
                                     groups: groups, bias: bias, rng: rng, workspace: ws)
            case let .batchNormWith(_, epsilon, momentum):
                let bn = BatchNorm(name: path, channels: try input().channels)
                bn.epsilon = Float(epsilon); bn.momentum = Float(momentum)
                return bn
            case .relu6: return ReLU6(name: path)
            case .silu: return SiLU(name: path)
            case .sigmoid: return Sigmoid(name: path)
            case let .maxPoolCeil(_, size, stride, padding):
                return MaxPool2D(name: path, size: size, stride: stride, padding: padding, ceilMode: true)
            case let .adaptiveAvgPool(_, height, width): return AdaptiveAvgPool2D(name: path, height: height, width: width)
            case let .stochasticDepth(_, rate): return StochasticDepth(name: path, rate: Float(rate), rng: rng)
            case let .channelAffine(_, scale, shift):
                return ChannelAffine(name: path, scale: scale.map { Float($0) }, shift: shift.map { Float($0) })
            case let .sum(_, body, shortcut, after):
                let residual = Residual(name: path, body: Sequential(name: path, layers: try body.map { try build($0, prefix: path) }),
                                        shortcut: Sequential(name: path, layers: try shortcut.map { try build($0, prefix: path) }))
                return Sequential(name: path, layers: [residual] + (try after.map { try build($0, prefix: path) }))
            case let .branches(_, branches):
                return Concat(name: path, branches: try branches.map { Sequential(name: path, layers: [try build($0, prefix: path)]) })
            case let .scale(_, gate):
                return SqueezeExcitation(name: path, gate: Sequential(name: path, layers: try gate.map { try build($0, prefix: path) }))
            case let .cell(_, nodes, alphaName):
                let c = try input().channels
                var alpha: Parameter? = nil, owns = false
                if let alphaName, let mixed = nodes.joined().first(where: { $0.operations.count > 1 })?.operations {
                    if let shared = alphas[alphaName] { alpha = shared } else {
                        let rows = nodes.joined().filter { $0.operations.count > 1 }.count
                        let p = Parameter(name: alphaName, value: Tensor(zeros: [rows, mixed.count]), isWeight: false)
                        // 1e-3 · N(0, 1), as the paper's code initializes it.
                        var r = rng.split(label: alphaName)
                        r.fillNormal(p.value, std: 1e-3)
                        alphas[alphaName] = p
                        alpha = p; owns = true
                    }
                }
                var row = 0
                let edges = try nodes.enumerated().map { j, edges in
                    try edges.map { e -> DartsCell.Edge in
                        let ops = try e.operations.map { op -> Sequential? in
                            guard op != .zero else { return nil }
                            let p = CellEdge.path(cell: path, node: j + 1, from: e.from, op: op)
                            return Sequential(name: p, layers: try op.layers(channels: c).map { try build($0, prefix: p) })
                        }
                        defer { if e.operations.count > 1 { row += 1 } }
                        return DartsCell.Edge(from: e.from, operations: ops, row: e.operations.count > 1 ? row : nil)
                    }
                }
                return DartsCell(name: path, nodes: edges, alpha: alpha, ownsAlpha: owns)
            case let .concat(_, branches):
                return Concat(name: path, branches: try branches.enumerated().map { i, b in
                    let p = "\(path).branch\(i)"
                    return Sequential(name: p, layers: try b.map { try build($0, prefix: p) })
                })
            }
        }
        let backbone = try architecture.backbone.map { try build($0, prefix: "") }
        let head = try architecture.head.map { try build($0, prefix: "") }
        root = Sequential(name: "", layers: backbone + head)
        parameterList = root.parameters
        backboneParameterNames = Set(backbone.flatMap { $0.parameters.map(\.name) })
        var seen = Set<String>()
        for p in parameterList where !seen.insert(p.name).inserted {
            throw EngineError.invalidArgument("architecture '\(architecture.name)': two parameters are named '\(p.name)'")
        }
        configureGradients()
    }

    /// All parameters (trainable and frozen) in a stable order (forward order).
    public var parameterObjects: [Parameter] { parameterList }
    /// `(name, tensor)` for every parameter, in forward order.
    public var parameters: [(name: String, tensor: Tensor)] { parameterList.map { ($0.name, $0.value) } }
    /// Non-trainable state (BatchNorm running statistics).
    public var buffers: [(name: String, tensor: Tensor)] { root.buffers }
    /// Everything a checkpoint holds: parameters then buffers.
    public var stateTensors: [(name: String, tensor: Tensor)] { parameters + buffers }
    /// Total number of parameter values.
    public var parameterCount: Int { parameterList.reduce(0) { $0 + $1.value.count } }
    /// Number of trainable parameter values.
    public var trainableParameterCount: Int { parameterList.filter { !$0.frozen }.reduce(0) { $0 + $1.value.count } }
    /// Size of all state tensors in bytes as Float32.
    public var sizeInBytes: Int { stateTensors.reduce(0) { $0 + $1.tensor.count * 4 } }
    /// Number of output classes (features of the last layer).
    public var outputFeatures: Int { summary.output.count }

    /// Freezes every parameter whose name, or whose layer path or any ancestor path,
    /// is in `names` (so `block1`, `block1.conv1` and `block1.conv1.weight` all work).
    /// Returns the names of the parameters that are frozen afterwards.
    @discardableResult
    public func freeze(_ names: Set<String>) -> [String] {
        for p in parameterList where Network.covers(names, p.name) { p.frozen = true }
        configureGradients()
        return parameterList.filter(\.frozen).map(\.name)
    }

    /// Makes every parameter trainable again.
    public func unfreezeAll() {
        for p in parameterList { p.frozen = false }
        configureGradients()
    }

    static func covers(_ names: Set<String>, _ name: String) -> Bool {
        if names.contains(name) { return true }
        var s = Substring(name)
        while let dot = s.lastIndex(of: ".") {
            s = s[..<dot]
            if names.contains(String(s)) { return true }
        }
        return false
    }

    /// Every leaf layer (inside sequences, residual bodies and shortcuts, branches), in forward order.
    public var leafLayers: [Layer] {
        var out: [Layer] = []
        func walk(_ l: Layer) {
            switch l {
            case let s as Sequential: s.layers.forEach(walk)
            case let r as Residual: walk(r.body); walk(r.shortcut)
            case let c as Concat: c.branches.forEach(walk)
            case let e as SqueezeExcitation: walk(e.gate)
            case let d as DartsCell: d.operationLayers.forEach(walk)
            default: out.append(l)
            }
        }
        walk(root)
        return out
    }

    /// The DARTS architecture weights (`alpha`) of the network's search cells.
    public var architectureParameters: [Parameter] {
        var seen = Set<ObjectIdentifier>()
        var out: [Parameter] = []
        func walk(_ l: Layer) {
            switch l {
            case let s as Sequential: s.layers.forEach(walk)
            case let r as Residual: walk(r.body); walk(r.shortcut)
            case let c as Concat: c.branches.forEach(walk)
            case let d as DartsCell: if let a = d.alpha, seen.insert(ObjectIdentifier(a)).inserted { out.append(a) }
            default: break
            }
        }
        walk(root)
        return out
    }

    /// Re-derives which layers need gradients after freezing changes.
    public func configureGradients() { _ = root.configureGradients(upstreamTrainable: false) }

    /// Forward pass over a batch `[N, C, H, W]` (or `[N, F]` for flat inputs).
    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        let want = architecture.input
        guard x.shape.count >= 2, x.sampleCount == want.count else {
            throw EngineError.shapeMismatch(layer: architecture.name, message: "network input must be [N, \(want.channels), \(want.height), \(want.width)], got \(x.shape)")
        }
        var input = x
        if x.shape.count != 4 && !want.isFlat {
            input = Tensor(viewing: x, shape: [x.batch, want.channels, want.height, want.width])
        }
        return try root.forward(input, training: training)
    }

    /// Backward pass from the gradient of the loss with respect to the output;
    /// sets the gradients of all trainable parameters. No input gradient is computed.
    public func backward(_ dy: Tensor) throws {
        _ = try root.backward(dy)
    }
}
