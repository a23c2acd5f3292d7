// SqueezeExcitation — `y = x · gate(x)`, the gate (EfficientNet's: adaptive average
// pool to 1×1, 1×1 conv, SiLU, 1×1 conv, sigmoid) giving one factor per sample and
// channel that scales that channel's whole plane. A container: the gate's layers
// are named under it, and its backward routes dy·x into the gate and adds the
// gate's input gradient to dy·gate.

/// Channel-wise scaling of the input by a gate computed from it.
public final class SqueezeExcitation: Layer {
    public let name: String
    public let gate: Sequential
    public var needsInputGradient = true
    private var cache: (x: Tensor, g: Tensor)?

    public init(name: String, gate: Sequential) { self.name = name; self.gate = gate }
    public var parameters: [Parameter] { gate.parameters }
    public var buffers: [(name: String, tensor: Tensor)] { gate.buffers }

    public func outputShape(for input: [Int]) throws -> [Int] {
        let g = try gate.outputShape(for: input)
        guard input.count == 3, g == [input[0], 1, 1] else {
            throw EngineError.shapeMismatch(layer: name, message: "the gate gives \(g) for input \(input); it must give [\(input.first ?? 0), 1, 1]")
        }
        return input
    }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        let (n, c, h, w) = try x.nchw(layer: name)
        let g = try gate.forward(x, training: training)
        guard g.count == n * c else {
            throw EngineError.shapeMismatch(layer: name, message: "the gate gives \(g.shape) for input \(x.shape)")
        }
        let hw = h * w
        let y = Tensor(uninitialized: x.shape)
        let xp = x.pointer, yp = y.pointer, gp = g.pointer
        Parallel.forEachPart(n * c, parts: x.count >= 1 << 16 ? Parallel.parts : 1) { _, planes in
            for plane in planes {
                let f = gp[plane], xs = xp + plane * hw, ys = yp + plane * hw
                for i in 0..<hw { ys[i] = xs[i] * f }
            }
        }
        cache = training ? (x, g) : nil
        return y
    }

    public func backward(_ dy: Tensor) throws -> Tensor? {
        guard let (x, g) = cache, x.shape == dy.shape else {
            throw EngineError.shapeMismatch(layer: name, message: "gradient shape \(dy.shape) does not match the last training forward pass")
        }
        let (n, c, h, w) = try x.nchw(layer: name)
        let hw = h * w
        let xp = x.pointer, gp = g.pointer, dyp = dy.pointer
        // dL/dgate[n, c] = Σ over the plane of dy · x.
        let dg = Tensor(zeros: g.shape)
        for plane in 0..<(n * c) {
            var acc: Float = 0
            let xs = xp + plane * hw, gs = dyp + plane * hw
            for i in 0..<hw { acc += gs[i] * xs[i] }
            dg.pointer[plane] = acc
        }
        let fromGate = gate.requiresBackward ? try gate.backward(dg) : nil
        guard needsInputGradient else { return nil }
        let dx = Tensor(uninitialized: x.shape)
        let dxp = dx.pointer
        for plane in 0..<(n * c) {
            let f = gp[plane], gs = dyp + plane * hw, ds = dxp + plane * hw
            for i in 0..<hw { ds[i] = gs[i] * f }
        }
        if let fromGate {
            guard fromGate.count == dx.count else {
                throw EngineError.shapeMismatch(layer: name, message: "the gate's input gradient \(fromGate.shape) does not match \(x.shape)")
            }
            for i in 0..<dx.count { dxp[i] += fromGate.pointer[i] }
        }
        return dx
    }

    public func configureGradients(upstreamTrainable: Bool) -> Bool {
        needsInputGradient = upstreamTrainable
        return gate.configureGradients(upstreamTrainable: upstreamTrainable) || upstreamTrainable
    }
}
