// ModelZoo — pure descriptions of the architectures tlc knows: named layers and
// blocks, shape inference, parameter and FLOP counts. It owns no tensors and no
// BLAS; the engine instantiates these descriptions, the front end checks specs
// against them (frozen names, head shapes), the planner estimates compute.

/// The shape of one sample's features: channels × height × width.
/// A flat vector of n features is (n, 1, 1).
public struct FeatureShape: Hashable, Sendable, Codable, CustomStringConvertible {
    public var channels: Int
    public var height: Int
    public var width: Int
    public init(channels: Int, height: Int, width: Int) {
        self.channels = channels; self.height = height; self.width = width
    }
    public static func flat(_ n: Int) -> FeatureShape { FeatureShape(channels: n, height: 1, width: 1) }
    public var count: Int { channels * height * width }
    public var isFlat: Bool { height == 1 && width == 1 }
    public var description: String { isFlat ? "\(channels)" : "\(channels)×\(height)×\(width)" }
}

/// One layer, or a named group of layers. Children of a group are named
/// `group.child`; shortcut layers of a residual are `name.shortcut.child`;
/// branch `i` of a concat is `name.branch<i>.child`.
public indirect enum LayerDescription: Hashable, Sendable, Codable {
    case dense(name: String, units: Int)
    case conv2d(name: String, filters: Int, kernel: Int, stride: Int, padding: Int)
    case maxPool(name: String, size: Int, stride: Int, padding: Int)
    case avgPool(name: String, size: Int, stride: Int, padding: Int)
    case globalAvgPool(name: String)
    case batchNorm(name: String)
    case relu(name: String)
    case dropout(name: String, rate: Double)
    case flatten(name: String)
    case block(name: String, layers: [LayerDescription])
    /// out = body(x) + shortcut(x); an empty shortcut is the identity.
    case residual(name: String, body: [LayerDescription], shortcut: [LayerDescription])
    /// Inception-style parallel branches concatenated along channels.
    case concat(name: String, branches: [[LayerDescription]])

    // torchvision's layers (TorchvisionLayers.swift describes each).

    /// A convolution with optional bias and `groups` (depthwise when groups equals the
    /// input and output channels); weight `[filters, in / groups, k, k]`.
    case conv(name: String, filters: Int, kernel: Int, stride: Int, padding: Int, groups: Int, bias: Bool)
    /// Batch norm with its own epsilon and momentum (`batchNorm` is 1e-5 and 0.1).
    case batchNormWith(name: String, epsilon: Double, momentum: Double)
    /// min(max(x, 0), 6).
    case relu6(name: String)
    /// x · sigmoid(x).
    case silu(name: String)
    case sigmoid(name: String)
    /// Max pooling with PyTorch's `ceil_mode=True` output size.
    case maxPoolCeil(name: String, size: Int, stride: Int, padding: Int)
    /// Adaptive average pooling to `height × width` (PyTorch's bins).
    case adaptiveAvgPool(name: String, height: Int, width: Int)
    /// Drops a whole sample's input with probability `rate` in training (torchvision's
    /// StochasticDepth, mode "row"), scaling the rest by 1 / (1 − rate).
    case stochasticDepth(name: String, rate: Double)
    /// A fixed per-channel `x · scale[c] + shift[c]` (googlenet's `transform_input`).
    case channelAffine(name: String, scale: [Double], shift: [Double])
    /// `after(body(x) + shortcut(x))` with every child named directly under `name`
    /// (torchvision's blocks: `layer1.0.conv1`, `layer1.0.downsample.0`); an empty
    /// shortcut is the identity.
    case sum(name: String, body: [LayerDescription], shortcut: [LayerDescription], after: [LayerDescription])
    /// Branches (each one named layer or block, directly under `name`) concatenated
    /// along channels (torchvision's Inception: `inception3a.branch2.0.conv`).
    case branches(name: String, branches: [LayerDescription])
    /// Squeeze-and-excitation: `x · gate(x)`, the gate's `C×1×1` output scaling each
    /// channel; gate layers named under `name` (`….block.1.fc1`).
    case scale(name: String, gate: [LayerDescription])
    /// A DARTS cell (DartsCell.swift): node j sums its edges from earlier nodes (0: the
    /// input), the output sums the nodes. An edge of several operations mixes them by
    /// softmax of its row of the parameter named `alpha` (shared by every cell naming it).
    case cell(name: String, nodes: [[CellEdge]], alpha: String?)

    public var name: String {
        switch self {
        case .dense(let n, _), .conv2d(let n, _, _, _, _), .maxPool(let n, _, _, _), .avgPool(let n, _, _, _),
             .globalAvgPool(let n), .batchNorm(let n), .relu(let n), .dropout(let n, _), .flatten(let n),
             .block(let n, _), .residual(let n, _, _), .concat(let n, _),
             .conv(let n, _, _, _, _, _, _), .batchNormWith(let n, _, _), .relu6(let n), .silu(let n), .sigmoid(let n),
             .maxPoolCeil(let n, _, _, _), .adaptiveAvgPool(let n, _, _), .stochasticDepth(let n, _),
             .channelAffine(let n, _, _), .sum(let n, _, _, _), .branches(let n, _), .scale(let n, _), .cell(let n, _, _):
            return n
        }
    }

    /// A short kind word for messages and plans.
    public var kindName: String {
        switch self {
        case .dense: "dense"
        case .conv2d: "conv2d"
        case .maxPool: "maxpool"
        case .avgPool: "avgpool"
        case .globalAvgPool: "global_avgpool"
        case .batchNorm: "batchnorm"
        case .relu: "relu"
        case .dropout: "dropout"
        case .flatten: "flatten"
        case .block: "block"
        case .residual: "residual"
        case .concat: "concat"
        case .conv: "conv2d"
        case .batchNormWith: "batchnorm"
        case .relu6: "relu6"
        case .silu: "silu"
        case .sigmoid: "sigmoid"
        case .maxPoolCeil: "maxpool"
        case .adaptiveAvgPool: "adaptive_avgpool"
        case .stochasticDepth: "stochastic_depth"
        case .channelAffine: "channel_affine"
        case .sum: "residual"
        case .branches: "concat"
        case .scale: "squeeze_excitation"
        case .cell: "darts_cell"
        }
    }

    /// Children with the prefix their names get.
    public var children: [(prefix: String, layers: [LayerDescription])] {
        switch self {
        case .block(let n, let layers): return [(n, layers)]
        case .residual(let n, let body, let shortcut): return [(n, body), (n + ".shortcut", shortcut)]
        case .concat(let n, let branches):
            return branches.enumerated().map { ("\(n).branch\($0.offset)", $0.element) }
        case .sum(let n, let body, let shortcut, let after): return [(n, body), (n, shortcut), (n, after)]
        case .branches(let n, let branches): return [(n, branches)]
        case .scale(let n, let gate): return [(n, gate)]
        case .cell(let n, let nodes, _):
            // Operations' layers keep their names for any channel count.
            return nodes.enumerated().flatMap { j, edges in
                edges.flatMap { e in e.operations.map { op in (CellEdge.path(cell: n, node: j + 1, from: e.from, op: op), op.layers(channels: 1)) } }
            }
        default: return []
        }
    }

    /// True for layers that hold parameters.
    public var hasParameters: Bool {
        switch self {
        case .dense, .conv2d, .batchNorm, .conv, .batchNormWith: true
        default: false
        }
    }
}

/// A whole network: a backbone (what transfers) and a head (what a spec replaces).
public struct Architecture: Hashable, Sendable, Codable {
    public var name: String
    public var input: FeatureShape
    public var backbone: [LayerDescription]
    public var head: [LayerDescription]
    public init(name: String, input: FeatureShape, backbone: [LayerDescription], head: [LayerDescription]) {
        self.name = name; self.input = input; self.backbone = backbone; self.head = head
    }
    public var layers: [LayerDescription] { backbone + head }
    /// Paths of head layers that come from the checkpoint: a torchvision classifier
    /// kept as the output layer (`fc`, `classifier.6`; see `Zoo.architecture`'s
    /// `keepClassifier`) rather than tlc's new `head` block. Loading weights loads them
    /// with the backbone.
    public var keptClassifier: [String] { head.map(\.name).filter { $0 != "head" } }
}
