// Containers — Sequential chains, residual additions (body + shortcut) and channel
// concatenation of parallel branches (Inception). They route gradients and skip the
// backward pass of any frozen prefix entirely.

/// Layers applied one after another.
public final class Sequential: Layer {
    public let name: String
    public private(set) var layers: [Layer]
    public var needsInputGradient = true

    public init(name: String, layers: [Layer]) { self.name = name; self.layers = layers }

    public var parameters: [Parameter] { layers.flatMap { $0.parameters } }
    public var buffers: [(name: String, tensor: Tensor)] { layers.flatMap { $0.buffers } }

    public func outputShape(for input: [Int]) throws -> [Int] {
        var s = input
        for l in layers { s = try l.outputShape(for: s) }
        return s
    }

    /// Runs the layers in order. A Conv2D directly followed by a ReLU runs as one fused
    /// step (the convolution rectifies each sample while it is in cache and the ReLU
    /// passes its input through); in an inference pass through the direct convolution, so
    /// does a Conv2D followed by a BatchNorm (and a ReLU or ReLU6), and so do a depthwise
    /// GroupedConv2D, a BatchNorm and a ReLU or ReLU6; in an inference pass a Dense followed
    /// by a ReLU, and a run of dense layers (``DenseChain``); a BatchNorm
    /// followed by a ReLU or ReLU6 rectifies (clamps) its rows as it writes them; in a
    /// training pass through Winograd, a Conv2D, a ReLU and a 2×2 max pool at stride 2 run
    /// as one (``Conv2D/forwardReLUPool(_:pool:)``). The result is the same as running them apart.
    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        var h = x
        var i = 0
        while i < layers.count {
            let l = layers[i]
            let t = LayerProfiler.enabled ? LayerProfiler.now() : 0
            if let conv = l as? Conv2D, i + 1 < layers.count, let bn = layers[i + 1] as? BatchNorm, conv.fusesBatchNorm(h, training: training) {
                // Inference through the direct convolution: the batch norm (and a ReLU or ReLU6 after it) in its epilogue.
                let act = i + 2 < layers.count ? layers[i + 2] as? any RectifierFusedIntoBatchNorm : nil
                h = try conv.forward(h, training: false, fusingReLU: act != nil, batchNorm: bn, ceiling: act?.ceiling)
                if let act { h = act.passThroughApplied(h) }
                i += act == nil ? 2 : 3
            } else if let conv = l as? GroupedConv2D, i + 1 < layers.count, let bn = layers[i + 1] as? BatchNorm,
                      conv.fusesBatchNorm(h, training: training) {
                // Inference through a depthwise convolution: the batch norm (and a ReLU or ReLU6) on each chunk of planes.
                let act = i + 2 < layers.count ? layers[i + 2] as? any RectifierFusedIntoBatchNorm : nil
                h = try conv.forward(h, training: false, fusingReLU: act != nil, batchNorm: bn, ceiling: act?.ceiling)
                if let act { h = act.passThroughApplied(h) }
                i += act == nil ? 2 : 3
            } else if !training, l is Dense, let chain = DenseChain.starting(at: i, in: layers) {
                // Inference through two or more dense layers: one parallel region for all of them.
                h = try chain.forward(h)
                i += chain.span
            } else if let dense = l as? Dense, !training, dense.usesKernel(training: false), i + 1 < layers.count,
                      let relu = layers[i + 1] as? ReLU {
                h = relu.passThroughApplied(try dense.forward(h, training: false, fusingReLU: true))
                i += 2
            } else if let conv = l as? Conv2D, i + 2 < layers.count, let relu = layers[i + 1] as? ReLU,
                      let pool = layers[i + 2] as? MaxPool2D, conv.poolsInEpilogue(h, pool, training: training) {
                // Training through Winograd: the ReLU and a 2×2 max pool in the convolution's epilogue.
                h = relu.passThroughApplied(try conv.forwardReLUPool(h, pool: pool))
                i += 3
            } else if let conv = l as? Conv2D, i + 1 < layers.count, let relu = layers[i + 1] as? ReLU {
                h = relu.passThroughApplied(try conv.forward(h, training: training, fusingReLU: true))
                i += 2
            } else if let bn = l as? BatchNorm, i + 1 < layers.count, let act = layers[i + 1] as? any RectifierFusedIntoBatchNorm {
                h = act.passThroughApplied(try bn.forward(h, training: training, fusingReLU: true, ceiling: act.ceiling))
                i += 2
            } else {
                h = try l.forward(h, training: training)
                i += 1
            }
            if LayerProfiler.enabled && !(l is Sequential) { LayerProfiler.add(l.name + " fwd", LayerProfiler.now() - t) }
        }
        return h
    }

    /// The layers' backward passes in reverse order; a Conv2D, ReLU and MaxPool2D whose training
    /// pass ran as one (``Conv2D/forwardReLUPool(_:pool:)``) as one too.
    public func backward(_ dy: Tensor) throws -> Tensor? {
        var g: Tensor? = dy
        var i = layers.count - 1
        while i >= 0 {
            let l = layers[i]
            // Everything from here back is frozen with nothing trainable before it.
            if !l.requiresBackward { return nil }
            guard let gi = g else { return nil }
            let t = LayerProfiler.enabled ? LayerProfiler.now() : 0
            if i >= 2, let pool = l as? MaxPool2D, pool.ranInEpilogue, layers[i - 1] is ReLU, let conv = layers[i - 2] as? Conv2D {
                g = try conv.backwardThroughPool(gi, pool: pool)
                if LayerProfiler.enabled { LayerProfiler.add(conv.name + " bwd", LayerProfiler.now() - t) }
                i -= 3
                continue
            }
            g = try l.backward(gi)
            if LayerProfiler.enabled && !(l is Sequential) { LayerProfiler.add(l.name + " bwd", LayerProfiler.now() - t) }
            i -= 1
        }
        return needsInputGradient ? g : nil
    }

    public func configureGradients(upstreamTrainable: Bool) -> Bool {
        needsInputGradient = upstreamTrainable
        var u = upstreamTrainable
        for l in layers { u = l.configureGradients(upstreamTrainable: u) }
        return u
    }

    /// Inserts a layer (quantization-aware training's fake-quantization observers);
    /// the network's parameters do not change, so the caller reconfigures gradients.
    func insert(_ layer: Layer, at index: Int) { layers.insert(layer, at: index) }
    /// Removes every layer that matches (undoes ``insert(_:at:)``).
    func removeAll(where match: (Layer) -> Bool) { layers.removeAll(where: match) }
}

/// `out = body(x) + shortcut(x)`; an empty shortcut is the identity.
public final class Residual: Layer {
    public let name: String
    public let body: Sequential, shortcut: Sequential
    public var needsInputGradient = true

    public init(name: String, body: Sequential, shortcut: Sequential) {
        self.name = name; self.body = body; self.shortcut = shortcut
    }
    public var parameters: [Parameter] { body.parameters + shortcut.parameters }
    public var buffers: [(name: String, tensor: Tensor)] { body.buffers + shortcut.buffers }

    public func outputShape(for input: [Int]) throws -> [Int] {
        let a = try body.outputShape(for: input), b = try shortcut.outputShape(for: input)
        guard a == b else {
            throw EngineError.shapeMismatch(layer: name, message: "body output \(a) and shortcut output \(b) differ")
        }
        return a
    }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        let a = try body.forward(x, training: training)
        let b = try shortcut.forward(x, training: training)
        guard a.shape == b.shape else {
            throw EngineError.shapeMismatch(layer: name, message: "body output \(a.shape) and shortcut output \(b.shape) differ")
        }
        // Into the body's output, unless the body passed x itself through.
        let y = a === x ? Tensor(uninitialized: a.shape) : a
        Residual.add(a, b, into: y)
        return y
    }

    /// out[i] = a[i] + b[i] (out may be a), in parts for large tensors.
    static func add(_ a: Tensor, _ b: Tensor, into out: Tensor) {
        let ap = UnsafePointer(a.pointer), bp = UnsafePointer(b.pointer), op = out.pointer
        Parallel.forEachPart(out.count, parts: out.count >= 1 << 16 ? Parallel.parts : 1) { _, r in
            for i in r { op[i] = ap[i] + bp[i] }
        }
    }

    public func backward(_ dy: Tensor) throws -> Tensor? {
        let gb = body.requiresBackward ? try body.backward(dy) : nil
        var gs: Tensor? = nil
        if shortcut.layers.isEmpty { gs = needsInputGradient ? dy : nil }
        else if shortcut.requiresBackward { gs = try shortcut.backward(dy) }
        guard needsInputGradient else { return nil }
        switch (gb, gs) {
        case let (a?, b?):
            guard a.count == b.count else {
                throw EngineError.shapeMismatch(layer: name, message: "input gradients \(a.shape) and \(b.shape) differ")
            }
            let dx = Tensor(uninitialized: a.shape)
            Residual.add(a, b, into: dx)
            return dx
        case let (a?, nil): return a
        case let (nil, b?): return b.copy()
        default: return nil
        }
    }

    public func configureGradients(upstreamTrainable: Bool) -> Bool {
        needsInputGradient = upstreamTrainable
        let a = body.configureGradients(upstreamTrainable: upstreamTrainable)
        let b = shortcut.configureGradients(upstreamTrainable: upstreamTrainable)
        return a || b
    }
}

/// Parallel branches whose `[N, Ci, H, W]` outputs are concatenated along channels.
public final class Concat: Layer {
    public let name: String
    public let branches: [Sequential]
    public var needsInputGradient = true
    private var channelCounts: [Int] = []

    public init(name: String, branches: [Sequential]) { self.name = name; self.branches = branches }
    public var parameters: [Parameter] { branches.flatMap { $0.parameters } }
    public var buffers: [(name: String, tensor: Tensor)] { branches.flatMap { $0.buffers } }

    public func outputShape(for input: [Int]) throws -> [Int] {
        guard !branches.isEmpty else { throw EngineError.shapeMismatch(layer: name, message: "no branches") }
        let shapes = try branches.map { try $0.outputShape(for: input) }
        let first = shapes[0]
        for (i, s) in shapes.enumerated() where s.count != first.count || Array(s.dropFirst()) != Array(first.dropFirst()) {
            throw EngineError.shapeMismatch(layer: name, message: "branch\(i) output \(s) does not match branch0 output \(first) outside the channel axis")
        }
        return [shapes.reduce(0) { $0 + $1[0] }] + first.dropFirst()
    }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        let outs = try branches.map { try $0.forward(x, training: training) }
        let n = x.batch
        var shapes: [(c: Int, hw: Int)] = []
        for (i, o) in outs.enumerated() {
            let (on, c, h, w) = try o.nchw(layer: name)
            guard on == n else { throw EngineError.shapeMismatch(layer: name, message: "branch\(i) changed the batch size") }
            if let f = shapes.first, f.hw != h * w {
                throw EngineError.shapeMismatch(layer: name, message: "branch\(i) output \(o.shape) has a different spatial size from branch0")
            }
            shapes.append((c, h * w))
        }
        let total = shapes.reduce(0) { $0 + $1.c }, hw = shapes[0].hw
        let outShape = outs[0].shape.count == 4 ? [n, total, outs[0].shape[2], outs[0].shape[3]] : [n, total]
        let y = Tensor(zeros: outShape)
        var cOff = 0
        for (o, s) in zip(outs, shapes) {
            for b in 0..<n {
                (y.pointer + (b * total + cOff) * hw).update(from: o.pointer + b * s.c * hw, count: s.c * hw)
            }
            cOff += s.c
        }
        channelCounts = shapes.map { $0.c }
        return y
    }

    public func backward(_ dy: Tensor) throws -> Tensor? {
        let (n, total, h, w) = try dy.nchw(layer: name)
        let hw = h * w
        guard total == channelCounts.reduce(0, +) else {
            throw EngineError.shapeMismatch(layer: name, message: "gradient shape \(dy.shape) does not match the last forward pass")
        }
        var dx: Tensor? = nil
        var cOff = 0
        for (branch, c) in zip(branches, channelCounts) {
            defer { cOff += c }
            guard branch.requiresBackward else { continue }
            let g = Tensor(zeros: dy.shape.count == 4 ? [n, c, h, w] : [n, c])
            for b in 0..<n {
                g.pointer.advanced(by: b * c * hw).update(from: dy.pointer + (b * total + cOff) * hw, count: c * hw)
            }
            let gx: Tensor?
            if branch.layers.isEmpty { gx = needsInputGradient ? g : nil } else { gx = try branch.backward(g) }
            if let gx, needsInputGradient {
                if let acc = dx { for i in 0..<acc.count { acc.pointer[i] += gx.pointer[i] } } else { dx = gx.copy() }
            }
        }
        return needsInputGradient ? dx : nil
    }

    public func configureGradients(upstreamTrainable: Bool) -> Bool {
        needsInputGradient = upstreamTrainable
        var any = upstreamTrainable
        for b in branches { any = b.configureGradients(upstreamTrainable: upstreamTrainable) || any }
        return any
    }
}

/// Opt-in wall-clock time per layer and direction (for benchmarks; off by default).
public enum LayerProfiler {
    nonisolated(unsafe) public static var enabled = false
    /// The calling thread's CPU time instead of wall-clock time: with one engine thread,
    /// figures that other work on the machine does not inflate.
    nonisolated(unsafe) public static var threadCPUTime = false
    nonisolated(unsafe) static var totals: [String: Double] = [:]
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(threadCPUTime ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
    static func add(_ key: String, _ seconds: Double) { totals[key, default: 0] += seconds }
    /// Accumulated seconds per "layer fwd/bwd", largest first; `reset` clears them.
    public static func report(reset: Bool = true) -> [(String, Double)] {
        let r = totals.sorted { $0.value > $1.value }
        if reset { totals = [:] }
        return r
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
