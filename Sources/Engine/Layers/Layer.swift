// Layer — the protocol every layer implements, named parameters, and the shared
// scratch workspace. Also owns the rule that frozen parts cost no gradient work:
// `configureGradients` tells each layer whether anything before it is trainable.

import Foundation

/// A named, trainable (or frozen) tensor with its gradient.
public final class Parameter: @unchecked Sendable {
    /// The stable dotted name, e.g. `block2.conv1.weight`.
    public let name: String
    /// The current values.
    public let value: Tensor
    /// The gradient written by the last backward pass (same shape as `value`).
    public let grad: Tensor
    /// A frozen parameter gets no gradient and is never updated.
    public var frozen: Bool = false
    /// True for weights (matrices and kernels); false for biases and norm scales/shifts.
    /// Useful for "no weight decay on biases" groups.
    public let isWeight: Bool

    public init(name: String, value: Tensor, isWeight: Bool) {
        self.name = name
        self.value = value
        self.grad = Tensor(zeros: value.shape)
        self.isWeight = isWeight
    }
    /// Whether the parameter receives gradients.
    public var trainable: Bool { !frozen }
}

/// A layer with a forward and a backward pass.
///
/// `forward` caches what `backward` needs. `backward` receives the gradient of the loss
/// with respect to the layer's output, **sets** (not accumulates) the gradients of its
/// trainable parameters, and returns the gradient with respect to its input — or `nil`
/// when ``needsInputGradient`` is false.
public protocol Layer: AnyObject {
    /// The layer's full dotted name (`block1.conv1`).
    var name: String { get }
    /// Output shape for a per-sample input shape `[C, H, W]` or `[F]`.
    func outputShape(for input: [Int]) throws -> [Int]
    /// Trainable-capable parameters, in a stable order (recursively for containers).
    var parameters: [Parameter] { get }
    /// Non-trainable state tensors (BatchNorm running statistics), with full names.
    var buffers: [(name: String, tensor: Tensor)] { get }
    /// Whether backward must produce the input gradient (set by ``configureGradients``).
    var needsInputGradient: Bool { get set }
    /// Computes the output for a batch.
    func forward(_ x: Tensor, training: Bool) throws -> Tensor
    /// Back-propagates `dy`; see the protocol documentation.
    func backward(_ dy: Tensor) throws -> Tensor?
    /// Records whether anything trainable precedes the layer; returns whether anything
    /// trainable precedes *or is inside* it (the value for the next layer).
    func configureGradients(upstreamTrainable: Bool) -> Bool
}

extension Layer {
    public var buffers: [(name: String, tensor: Tensor)] { [] }
    /// Whether any parameter inside the layer is trainable.
    public var hasTrainableParameters: Bool { parameters.contains { !$0.frozen } }
    /// Whether backward has any work to do at all.
    public var requiresBackward: Bool { needsInputGradient || hasTrainableParameters }
    public func configureGradients(upstreamTrainable: Bool) -> Bool {
        needsInputGradient = upstreamTrainable
        return upstreamTrainable || hasTrainableParameters
    }
}

/// Grow-only scratch buffers shared by the layers of one network (layers run one at a time).
public final class Workspace: @unchecked Sendable {
    private var buffers: [(allocation: UnsafeMutableRawPointer, floats: UnsafeMutableBufferPointer<Float>)] = []
    public init() {}
    deinit { for b in buffers { AlignedFloats.release(b.allocation, count: b.floats.count) } }
    /// Scratch slot `slot` with room for at least `count` floats (contents undefined), on a cache line.
    public func buffer(_ slot: Int, count: Int) -> UnsafeMutablePointer<Float> {
        while buffers.count <= slot { buffers.append(AlignedFloats.allocate(1)) }
        if buffers[slot].floats.count < count {
            AlignedFloats.release(buffers[slot].allocation, count: buffers[slot].floats.count)
            buffers[slot] = AlignedFloats.allocate(count)
        }
        return buffers[slot].floats.baseAddress!
    }
    /// Total bytes currently held.
    public var bytes: Int { buffers.reduce(0) { $0 + $1.floats.count * 4 } }
}

func joinName(_ prefix: String, _ name: String) -> String {
    prefix.isEmpty ? name : (name.isEmpty ? prefix : prefix + "." + name)
}
