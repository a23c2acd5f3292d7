// GroupedConv2D — 2-D convolution with groups > 1 (depthwise when groups equals the
// input and output channels, as in MobileNetV2 and EfficientNet): output channel o
// sees the in/groups input channels of its group.
// Depthwise layers run on CDepthwiseConv (vectorized over 16 output positions; the
// forward split by planes, the backward by channels, each channel's sums over the
// whole batch in one fixed order: bitwise the same with AVX-512, AVX2 or plain C and
// any thread count). Other groupings run direct loops, since a group's GEMMs would be
// too small to pay; each of Parallel.parts parts of the batch runs on its own thread,
// and the weight and bias gradients are summed per part and then over the parts in
// part order, so results are bitwise the same whatever the thread count.
// Weight layout [out, in / groups, kh, kw] as PyTorch; Kaiming-uniform initialisation
// like Conv2D (fan-in in/groups·k·k).

import CDepthwiseConv

/// Grouped (or depthwise) convolution over `[N, C, H, W]` inputs.
public final class GroupedConv2D: Layer {
    public let name: String
    public let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int, groups: Int
    public let weight: Parameter, bias: Parameter
    /// Without bias, `bias` stays zero and frozen and is not a parameter.
    public let hasBias: Bool
    public var needsInputGradient = true
    private var input: Tensor?
    /// Scratch for the depthwise kernels (shared with the network's other layers).
    let workspace: Workspace

    public init(name: String, inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                groups: Int, bias hasBias: Bool = true, rng: SeededGenerator, workspace: Workspace = Workspace()) {
        precondition(kernel > 0 && stride > 0 && padding >= 0 && groups >= 1
                     && inChannels % groups == 0 && outChannels % groups == 0)
        self.name = name
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernel = kernel; self.stride = stride; self.padding = padding; self.groups = groups
        self.hasBias = hasBias
        self.workspace = workspace
        let perGroup = inChannels / groups
        weight = Parameter(name: name + ".weight", value: Tensor(zeros: [outChannels, perGroup, kernel, kernel]), isWeight: true)
        bias = Parameter(name: name + ".bias", value: Tensor(zeros: [outChannels]), isWeight: false)
        let bound = 1 / Float(perGroup * kernel * kernel).squareRoot()
        var wr = rng.split(label: weight.name), br = rng.split(label: bias.name)
        wr.fillUniform(weight.value, -bound, bound)
        if hasBias { br.fillUniform(bias.value, -bound, bound) } else { bias.frozen = true }
    }

    public var parameters: [Parameter] { hasBias ? [weight, bias] : [weight] }

    /// One filter per channel (groups equal to the input and output channels): CDepthwiseConv's.
    public var isDepthwise: Bool { groups == inChannels && outChannels == inChannels }

    /// The instruction set CDepthwiseConv runs with: Conv2D's (the same probe, and `TLC_FLOAT_KERNEL=avx2` caps both).
    static var depthwiseLevel: Int { Conv2D.directConvolutionLevel }

    public func outputShape(for input: [Int]) throws -> [Int] {
        guard input.count == 3, input[0] == inChannels else {
            throw EngineError.shapeMismatch(layer: name, message: "expected [\(inChannels), H, W] input, got \(input)")
        }
        guard input[1] + 2 * padding >= kernel, input[2] + 2 * padding >= kernel else {
            throw EngineError.shapeMismatch(layer: name, message: "input \(input[1])×\(input[2]) is smaller than the \(kernel)×\(kernel) kernel")
        }
        return [outChannels, (input[1] + 2 * padding - kernel) / stride + 1, (input[2] + 2 * padding - kernel) / stride + 1]
    }

    /// The geometry of one call and, per kernel column, the output columns whose input
    /// column `ox·stride − padding + kj` lies inside the image.
    private struct Geometry {
        var n: Int, h: Int, w: Int, oh: Int, ow: Int
        var columns: [(lo: Int, hi: Int)]
    }

    private func geometry(_ x: Tensor) throws -> Geometry {
        let (n, c, h, w) = try x.nchw(layer: name)
        let out = try outputShape(for: [c, h, w])
        let (oh, ow) = (out[1], out[2])
        let columns = (0..<kernel).map { kj -> (lo: Int, hi: Int) in
            var lo = 0
            while lo < ow && lo * stride - padding + kj < 0 { lo += 1 }
            var hi = ow
            while hi > lo && (hi - 1) * stride - padding + kj >= w { hi -= 1 }
            return (lo, hi)
        }
        return Geometry(n: n, h: h, w: w, oh: oh, ow: ow, columns: columns)
    }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        try forward(x, training: training, level: GroupedConv2D.depthwiseLevel)
    }

    /// Whether an inference pass can apply a following batch norm (and a ReLU or ReLU6) to
    /// each chunk of output planes as it writes them: a depthwise layer's.
    func fusesBatchNorm(_ x: Tensor, training: Bool) -> Bool { !training && isDepthwise }

    /// The inference pass with the following batch norm's map and a ReLU or ReLU6 (with
    /// `ceiling`) applied to each chunk of planes while it is in cache: bitwise what the
    /// layers give apart (see ``fusesBatchNorm(_:training:)``).
    func forward(_ x: Tensor, training: Bool, fusingReLU: Bool, batchNorm: BatchNorm, ceiling: Float?) throws -> Tensor {
        guard fusesBatchNorm(x, training: training), batchNorm.channels == outChannels else {
            throw EngineError.invalidArgument("layer '\(name)': a batch norm is fused only into an inference pass of a depthwise convolution")
        }
        return try forward(x, training: false, level: GroupedConv2D.depthwiseLevel,
                           epilogue: (batchNorm.inferenceAffine(), fusingReLU, ceiling))
    }

    /// The forward pass with CDepthwiseConv's instruction set chosen (tests compare them), and
    /// a batch norm's inference map (mean, scale, shift) with an activation to apply to every plane.
    func forward(_ x: Tensor, training: Bool, level: Int,
                 epilogue: (affine: (mean: Tensor, scale: Tensor, shift: Tensor), relu: Bool, ceiling: Float?)? = nil) throws -> Tensor {
        let g = try geometry(x)
        if isDepthwise {
            let y = Tensor(uninitialized: [g.n, outChannels, g.oh, g.ow])
            let planes = g.n * outChannels, ohw = g.oh * g.ow
            let scratch = depthwiseScratch(g, workers: Parallel.workers(planes))
            let xp = x.pointer, yp = y.pointer, wp = weight.value.pointer, bp = bias.value.pointer
            let (c, h, w, k, st, pad) = (Int32(inChannels), Int32(g.h), Int32(g.w), Int32(kernel), Int32(stride), Int32(padding))
            let affine = epilogue.map { (UnsafePointer($0.affine.mean.pointer), UnsafePointer($0.affine.scale.pointer),
                                         UnsafePointer($0.affine.shift.pointer)) }
            // With an epilogue, planes in chunks of about 64 K floats, each finished while in cache.
            let chunk = epilogue == nil ? planes : max(1, 65536 / max(ohw, 1))
            Parallel.forEachPartOnWorkers(planes) { worker, _, range in
                var lo = range.lowerBound
                while lo < range.upperBound {
                    let hi = min(lo + chunk, range.upperBound)
                    tlc_depthwise_forward(Int32(level), xp, c, h, w, wp, bp, k, st, pad, lo, hi, scratch[worker], yp)
                    if let affine, let epilogue {
                        let (mean, scale, shift) = affine
                        for p in lo..<hi {
                            let ch = p % outChannels, q = yp + p * ohw
                            BatchNorm.inferencePlane(q, into: q, count: ohw, mean: mean[ch], scale: scale[ch], shift: shift[ch],
                                                     fusingReLU: epilogue.relu, ceiling: epilogue.ceiling)
                        }
                    }
                    lo = hi
                }
            }
            input = training ? x : nil
            return y
        }
        let (h, w, oh, ow) = (g.h, g.w, g.oh, g.ow)
        let oc = outChannels, c = inChannels, k = kernel, st = stride, pad = padding
        let cpg = c / groups, opg = oc / groups
        let y = Tensor(uninitialized: [g.n, oc, oh, ow])
        let xp = x.pointer, yp = y.pointer, wp = weight.value.pointer, bp = bias.value.pointer
        let columns = g.columns
        Parallel.forEachPart(g.n) { _, range in
            for s in range {
                for o in 0..<oc {
                    let yo = yp + (s * oc + o) * oh * ow
                    yo.update(repeating: bp[o], count: oh * ow)
                    let first = o / opg * cpg
                    for ci in 0..<cpg {
                        let xc = xp + (s * c + first + ci) * h * w
                        let wk = wp + (o * cpg + ci) * k * k
                        for ki in 0..<k {
                            for oy in 0..<oh {
                                let iy = oy * st - pad + ki
                                if iy < 0 || iy >= h { continue }
                                let xrow = xc + iy * w, yrow = yo + oy * ow
                                for kj in 0..<k {
                                    let wv = wk[ki * k + kj], (lo, hi) = columns[kj], off = kj - pad
                                    var ox = lo
                                    while ox < hi { yrow[ox] += wv * xrow[ox * st + off]; ox += 1 }
                                }
                            }
                        }
                    }
                }
            }
        }
        input = training ? x : nil
        return y
    }

    public func backward(_ dy: Tensor) throws -> Tensor? {
        try backward(dy, level: GroupedConv2D.depthwiseLevel)
    }

    /// One scratch region per worker for CDepthwiseConv.
    private func depthwiseScratch(_ g: Geometry, workers: Int) -> [UnsafeMutablePointer<Float>] {
        let count = tlc_depthwise_scratch_count(Int32(g.h), Int32(g.w), Int32(kernel), Int32(stride), Int32(padding))
        return (0..<workers).map { workspace.buffer($0, count: count) }
    }

    /// The backward pass with CDepthwiseConv's instruction set chosen (tests compare them).
    func backward(_ dy: Tensor, level: Int) throws -> Tensor? {
        guard let x = input else {
            throw EngineError.invalidArgument("layer '\(name)': backward without a training forward pass")
        }
        let g = try geometry(x)
        let (h, w, oh, ow) = (g.h, g.w, g.oh, g.ow)
        let oc = outChannels, c = inChannels, k = kernel, st = stride, pad = padding
        guard dy.shape == [g.n, oc, oh, ow] else {
            throw EngineError.shapeMismatch(layer: name, message: "gradient shape \(dy.shape), expected \([g.n, oc, oh, ow])")
        }
        let wantW = !weight.frozen, wantB = !bias.frozen, wantX = needsInputGradient
        guard wantW || wantB || wantX else { return nil }
        if isDepthwise {
            // Each part a range of channels over the whole batch: dW and db written, not summed over parts.
            let dx: Tensor? = wantX ? Tensor(uninitialized: x.shape) : nil
            let scratch = depthwiseScratch(g, workers: Parallel.workers(oc))
            let xp = x.pointer, dyp = dy.pointer, dxp = dx?.pointer, wp = weight.value.pointer
            let dW = wantW ? weight.grad.pointer : nil, dB = wantB ? bias.grad.pointer : nil
            let (n, c32, h, w, k, st, pad) = (Int32(g.n), Int32(c), Int32(g.h), Int32(g.w), Int32(k), Int32(st), Int32(pad))
            Parallel.forEachPartOnWorkers(oc) { worker, _, range in
                tlc_depthwise_backward(Int32(level), xp, dyp, n, c32, h, w, wp, k, st, pad, Int32(range.lowerBound), Int32(range.upperBound),
                                       scratch[worker], dxp, dW, dB)
            }
            return dx
        }
        let cpg = c / groups, opg = oc / groups
        let dx: Tensor? = wantX ? Tensor(zeros: x.shape) : nil
        let parts = Parallel.ranges(g.n)
        let wcount = weight.value.count
        // Per-part weight and bias gradients, summed in part order below.
        let partial = Tensor(zeros: [parts.count, wcount + oc])
        let xp = x.pointer, dyp = dy.pointer, dxp = dx?.pointer, wp = weight.value.pointer, pp = partial.pointer
        let columns = g.columns
        Parallel.forEachPart(g.n) { part, range in
            let dW = pp + part * (wcount + oc), dB = dW + wcount
            for s in range {
                for o in 0..<oc {
                    let dyo = dyp + (s * oc + o) * oh * ow
                    if wantB { var sum: Float = 0; for p in 0..<(oh * ow) { sum += dyo[p] }; dB[o] += sum }
                    let first = o / opg * cpg
                    for ci in 0..<cpg {
                        let xc = xp + (s * c + first + ci) * h * w
                        let dxc = dxp.map { $0 + (s * c + first + ci) * h * w }
                        let wk = wp + (o * cpg + ci) * k * k, dWk = dW + (o * cpg + ci) * k * k
                        for ki in 0..<k {
                            for oy in 0..<oh {
                                let iy = oy * st - pad + ki
                                if iy < 0 || iy >= h { continue }
                                let xrow = xc + iy * w, grow = dyo + oy * ow
                                for kj in 0..<k {
                                    let (lo, hi) = columns[kj], off = kj - pad
                                    if wantW {
                                        var acc: Float = 0, ox = lo
                                        while ox < hi { acc += grow[ox] * xrow[ox * st + off]; ox += 1 }
                                        dWk[ki * k + kj] += acc
                                    }
                                    if let dxc {
                                        let wv = wk[ki * k + kj], drow = dxc + iy * w
                                        var ox = lo
                                        while ox < hi { drow[ox * st + off] += wv * grow[ox]; ox += 1 }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        if wantW {
            let gw = weight.grad.pointer
            for i in 0..<wcount { gw[i] = pp[i] }
            for part in 1..<max(parts.count, 1) { for i in 0..<wcount { gw[i] += pp[part * (wcount + oc) + i] } }
        }
        if wantB {
            let gb = bias.grad.pointer
            for o in 0..<oc { gb[o] = pp[wcount + o] }
            for part in 1..<max(parts.count, 1) { for o in 0..<oc { gb[o] += pp[part * (wcount + oc) + wcount + o] } }
        }
        return dx
    }
}
