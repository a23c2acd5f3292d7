// Conv2D — 2-D convolution (stride, zero padding, groups = 1, with or without bias). On
// CPUs with AVX-512 or AVX2, a stride-1 layer, and a strided one whose polyphase split
// pays (a 7×7 stride-2 stem, an RGB 3×3 one), runs on CDirectConv (register
// tiles of fused multiply-adds over the padded input, the same bits with either instruction
// set; see Conv2DDirect.swift): its inference pass (bias, an inference batch norm and ReLU
// fused) and, on AVX-512 when the padding is smaller than the kernel, its whole training
// pass — the forward convolution, the weight and bias gradients by CDirectConv's weight
// gradient kernel, and the input gradient as the direct convolution of dy with the flipped
// kernel. A 1×1 layer (stride 1, no padding) runs as plain GEMMs over x where it is on CPUs
// whose OpenBLAS beats those tiles there (Conv2DPointwise.swift). Otherwise it is lowered to
// cblas_sgemm; each of Parallel.parts parts of the batch runs on its own thread with
// single-threaded BLAS. Three lowerings (see Benchmarks/README.md): stride-1 layers with
// large planes run per sample over the k column shifts of the padded input (k GEMMs; dx
// as the transposed convolution), large planes of shallow inputs use a per-sample
// im2col, small planes an im2col over chunks of samples (dx by W^T·dy and col2im). A
// following ReLU can be fused (Sequential does it). Weight layout [out, in, kh, kw] as
// PyTorch; Kaiming-uniform initialisation.
//
// Owns: the layer, its forward and backward passes and the named scratch regions
// (``Conv2D/Scratch``) they use in the network's workspace. The lowerings themselves
// (im2col, col2im, column shifts, kernel rows) are in Conv2DLowering.swift, the direct
// paths in Conv2DDirect.swift.

import CDirectConv
import Foundation

/// 2-D convolution over `[N, C, H, W]` inputs.
public final class Conv2D: Layer {
    public let name: String
    public let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int
    public let weight: Parameter, bias: Parameter
    /// False for torchvision's convolutions before a batch norm: `bias` stays zero,
    /// frozen, and is neither a parameter nor in checkpoints.
    public let hasBias: Bool
    public var needsInputGradient = true
    let workspace: Workspace
    /// The input of the last training forward pass (``forwardReLUPool(_:pool:)`` sets it too).
    var input: Tensor?
    /// Upper bound on floats in one im2col chunk (trades GEMM size against cache and memory).
    public var chunkFloats = Conv2D.defaultChunkFloats
    /// Default for ``chunkFloats``: 2^18 floats (1 MiB) measured best or equal on the cnn
    /// among 2^17…2^22. Changing it changes the summation order of weight gradients.
    nonisolated(unsafe) public static var defaultChunkFloats: Int = 1 << 18

    public init(name: String, inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                bias hasBias: Bool = true, rng: SeededGenerator, workspace: Workspace = Workspace()) {
        precondition(kernel > 0 && stride > 0 && padding >= 0)
        self.name = name
        self.hasBias = hasBias
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernel = kernel; self.stride = stride; self.padding = padding
        self.workspace = workspace
        weight = Parameter(name: name + ".weight", value: Tensor(zeros: [outChannels, inChannels, kernel, kernel]), isWeight: true)
        bias = Parameter(name: name + ".bias", value: Tensor(zeros: [outChannels]), isWeight: false)
        let bound = 1 / Float(inChannels * kernel * kernel).squareRoot()
        var wr = rng.split(label: weight.name), br = rng.split(label: bias.name)
        wr.fillUniform(weight.value, -bound, bound)
        if hasBias { br.fillUniform(bias.value, -bound, bound) } else { bias.frozen = true }
    }

    public var parameters: [Parameter] { hasBias ? [weight, bias] : [weight] }

    func outSize(_ h: Int, _ w: Int) -> (Int, Int) {
        ((h + 2 * padding - kernel) / stride + 1, (w + 2 * padding - kernel) / stride + 1)
    }

    public func outputShape(for input: [Int]) throws -> [Int] {
        guard input.count == 3, input[0] == inChannels else {
            throw EngineError.shapeMismatch(layer: name, message: "expected [\(inChannels), H, W] input, got \(input)")
        }
        guard input[1] + 2 * padding >= kernel, input[2] + 2 * padding >= kernel else {
            throw EngineError.shapeMismatch(layer: name, message: "input \(input[1])×\(input[2]) is smaller than the \(kernel)×\(kernel) kernel")
        }
        let (oh, ow) = outSize(input[1], input[2])
        return [outChannels, oh, ow]
    }

    func check(_ x: Tensor) throws -> (n: Int, g: Geo) {
        let (n, c, h, w) = try x.nchw(layer: name)
        _ = try outputShape(for: [c, h, w])
        let (oh, ow) = outSize(h, w)
        return (n, Geo(h: h, w: w, oh: oh, ow: ow, c: c, k: kernel, stride: stride, pad: padding))
    }

    /// Samples per chunk.
    private func chunkSize(n: Int, g: Geo) -> Int { max(1, min(n, chunkFloats / max(g.ckk * g.ohw, 1))) }

    /// Whether the input gradient is computed as a convolution of `dy` with the
    /// flipped, channel-transposed kernel (stride 1, and padding that keeps the size
    /// within 10 % — a "same" convolution), which needs no col2im scatter and no zeroed
    /// `dx`; otherwise W^T·dy then col2im (which does fewer multiplications when the
    /// output is much smaller than the input).
    func transposedConvolutionForInputGradient(_ g: Geo) -> Bool {
        stride == 1 && padding < kernel && 10 * g.h * g.w <= 11 * g.ohw
    }

    /// Output planes of at least this many pixels get GEMMs per sample straight into the
    /// output; smaller ones one GEMM per chunk of samples through a staging buffer.
    static let perSampleGEMMPixels = 128

    /// Whether this geometry runs one sample at a time over column shifts (stride 1,
    /// output planes of at least ``perSampleGEMMPixels`` pixels, and GEMMs at least 16
    /// deep: c·k ≥ 16); otherwise im2col over chunks of samples (a one-channel input
    /// layer makes GEMMs only k deep, too shallow for BLAS).
    func usesColumnShifts(_ g: Geo) -> Bool { g.stride == 1 && g.ohw >= Conv2D.perSampleGEMMPixels && g.c * g.k >= 16 }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        try forward(x, training: training, fusingReLU: false)
    }

    /// The forward pass; with `fusingReLU` the output is `max(0, conv(x))`, applied to
    /// each sample while it is still in cache (``Sequential`` fuses a Conv2D that is
    /// directly followed by a ReLU), and backward masks `dy` by the output itself. With
    /// `batchNorm` (an inference pass through the direct convolution only, see
    /// ``fusesBatchNorm(_:training:)``) the following batch norm's inference affine map is
    /// applied before the ReLU, bitwise as that layer would, and the ReLU may have a
    /// `ceiling` (a ReLU6 after the batch norm: `min(max(v, 0), ceiling)` as ``ReLU6`` computes it).
    public func forward(_ x: Tensor, training: Bool, fusingReLU: Bool, batchNorm: BatchNorm? = nil, ceiling: Float? = nil) throws -> Tensor {
        try forward(x, training: training, fusingReLU: fusingReLU, batchNorm: batchNorm, ceiling: ceiling, level: Conv2D.directConvolutionLevel)
    }

    /// The forward pass with CDirectConv's instruction set chosen (tests compare them).
    func forward(_ x: Tensor, training: Bool, fusingReLU: Bool, batchNorm: BatchNorm?, ceiling: Float? = nil, level: Int) throws -> Tensor {
        let (n, g) = try check(x)
        let ohw = g.ohw, oc = outChannels
        let y = Tensor(uninitialized: [n, oc, g.oh, g.ow])
        let parts = Parallel.ranges(n)
        let bp = bias.value.pointer, wp = weight.value.pointer, xp = x.pointer, yp0 = y.pointer
        if let batchNorm {
            guard !training, usesDirectConvolution(g, training: false) || runsPointwiseOnBLAS(g, training: false), batchNorm.channels == oc else {
                throw EngineError.invalidArgument("layer '\(name)': a batch norm is fused only into an inference pass of the direct convolution")
            }
        }
        if ceiling != nil {
            guard batchNorm != nil, fusingReLU else {
                throw EngineError.invalidArgument("layer '\(name)': a clamped ReLU is fused only after a fused batch norm")
            }
        }
        if usesDirectConvolution(g, training: training) {
            forwardDirect(xp, g: g, n: n, y: yp0, fusingReLU: fusingReLU, batchNorm: batchNorm, ceiling: ceiling, level: level)
        } else if runsPointwiseOnBLAS(g, training: training) {
            forwardPointwise(xp, g: g, n: n, y: yp0, fusingReLU: fusingReLU, batchNorm: batchNorm, ceiling: ceiling)
        } else if usesColumnShifts(g) {
            // One sample at a time, straight into y: bias, then k GEMMs (one per kernel
            // row, beta = 1) over the sample's column shifts.
            let k = g.k, ck = g.c * k, ldb = (g.h + 2 * g.pad) * g.ow, hw = g.h * g.w
            let wk = scratch(.kernelRows, count: weight.value.count)
            Conv2D.kernelRows(wp, outputs: oc, inputs: g.c, k: k, flipped: false, into: wk)
            let shifted = parts.indices.map { scratch(.shiftedInput(part: $0), count: Conv2D.shiftedCount(g)) }
            Parallel.forEachPart(n) { part, range in
                let sh = shifted[part]
                for s in range {
                    let ys = yp0 + s * oc * ohw
                    for o in 0..<oc { (ys + o * ohw).update(repeating: bp[o], count: ohw) }
                    Conv2D.shiftColumns(xp + s * g.c * hw, g: g, channelStride: hw, into: sh)
                    for ki in 0..<k {
                        gemm(m: oc, n: ohw, k: ck, a: wk + ki * oc * ck, lda: ck, b: sh + ki * g.ow, ldb: ldb, beta: 1, c: ys, ldc: ohw)
                    }
                    if fusingReLU { rectify(ys, count: oc * ohw) }
                }
            }
        } else {
            forwardOverChunks(xp, g: g, n: n, parts: parts, y: yp0, fusingReLU: fusingReLU)
        }
        input = training ? x : nil
        rectifiedOutput = training && fusingReLU ? y : nil
        return y
    }

    /// Forward for im2col geometries (see ``usesColumnShifts(_:)``).
    private func forwardOverChunks(_ xp: UnsafePointer<Float>, g: Geo, n: Int, parts: [Range<Int>], y yp0: UnsafeMutablePointer<Float>,
                                   fusingReLU: Bool) {
        let ohw = g.ohw, ckk = g.ckk, oc = outChannels
        let bp = bias.value.pointer, wp = weight.value.pointer
        let cs = chunkSize(n: (n + parts.count - 1) / parts.count, g: g)
        let cols = parts.indices.map { scratch(.inputColumns(part: $0), count: ckk * cs * ohw) }
        let pads = parts.indices.map { scratch(.paddedSample(part: $0), count: Conv2D.paddedCount(g)) }
        let perSample = ohw >= Conv2D.perSampleGEMMPixels
        let tmps = parts.indices.map { scratch(.stagedOutput(part: $0), count: perSample ? 1 : oc * cs * ohw) }
        Parallel.forEachPart(n) { part, range in
            let col = cols[part], tmp = tmps[part]
            var s0 = range.lowerBound
            while s0 < range.upperBound {
                let nc = min(cs, range.upperBound - s0)
                Conv2D.im2col(xp, s0: s0, nc: nc, g: g, col: col, padded: pads[part])
                let ld = nc * ohw
                if perSample {
                    // Straight into y: bias first, then one GEMM per sample with beta = 1.
                    for s in 0..<nc {
                        let ys = yp0 + (s0 + s) * oc * ohw
                        for o in 0..<oc { (ys + o * ohw).update(repeating: bp[o], count: ohw) }
                        gemm(m: oc, n: ohw, k: ckk, a: wp, lda: ckk, b: col + s * ohw, ldb: ld, beta: 1, c: ys, ldc: ohw)
                        if fusingReLU { rectify(ys, count: oc * ohw) }
                    }
                } else {
                    gemm(m: oc, n: ld, k: ckk, a: wp, lda: ckk, b: col, ldb: ld, c: tmp, ldc: ld)
                    for s in 0..<nc {
                        let ys = yp0 + (s0 + s) * oc * ohw
                        for o in 0..<oc {
                            let src = tmp + o * ld + s * ohw, dst = ys + o * ohw, b = bp[o]
                            for p in 0..<ohw { dst[p] = src[p] + b }
                        }
                        if fusingReLU { rectify(ys, count: oc * ohw) }
                    }
                }
                s0 += nc
            }
        }
    }

    /// With a fused ReLU: the output of the last training forward pass (its mask).
    var rectifiedOutput: Tensor?

    /// Sum of `count` floats in 8 lanes.
    @inline(__always) static func laneSum(_ p: UnsafePointer<Float>, _ count: Int) -> Float {
        var lanes = SIMD8<Float>()
        var i = 0
        while i + 8 <= count { lanes += UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self); i += 8 }
        var tail: Float = 0
        while i < count { tail += p[i]; i += 1 }
        return lanes.sum() + tail
    }

    public func backward(_ dy: Tensor) throws -> Tensor? {
        guard let x = input else {
            throw EngineError.invalidArgument("layer '\(name)': backward without a training forward pass")
        }
        let (n, g) = try check(x)
        let ohw = g.ohw, ckk = g.ckk, oc = outChannels, c = inChannels, k = kernel
        guard dy.shape == [n, oc, g.oh, g.ow] else {
            throw EngineError.shapeMismatch(layer: name, message: "gradient shape \(dy.shape), expected \([n, oc, g.oh, g.ow])")
        }
        let wantW = !weight.frozen, wantB = !bias.frozen, wantX = needsInputGradient
        guard wantW || wantB || wantX else { return nil }
        if trainsDirectly(g) {
            let dx = wantX ? Tensor(uninitialized: x.shape) : nil
            backwardDirect(dy, x: x, g: g, dx: dx, parts: Parallel.ranges(n), wantW: wantW, wantB: wantB, level: Conv2D.directConvolutionLevel)
            return dx
        }
        if isPointwise(g) {
            let dx = wantX ? Tensor(uninitialized: x.shape) : nil
            backwardPointwise(dy, x: x, g: g, dx: dx, wantW: wantW, wantB: wantB)
            return dx
        }
        let transposed = transposedConvolutionForInputGradient(g)
        let hw = g.h * g.w
        // Geometry of dx = conv(dy, flipped W, padding k-1-p) for the transposed path.
        let tg = Geo(h: g.oh, w: g.ow, oh: g.h, ow: g.w, c: oc, k: k, stride: 1, pad: k - 1 - padding)
        let dx: Tensor? = wantX ? (transposed ? Tensor(uninitialized: x.shape) : Tensor(zeros: x.shape)) : nil
        let parts = Parallel.ranges(n)
        if usesColumnShifts(g) {
            backwardOverColumnShifts(dy, x: x, g: g, tg: tg, dx: dx, transposed: transposed, parts: parts,
                                     wantW: wantW, wantB: wantB)
            return dx
        }
        let cs = chunkSize(n: (n + parts.count - 1) / parts.count, g: g)
        let mask = rectifiedOutput
        let cols = parts.indices.map { scratch(.inputColumns(part: $0), count: ckk * cs * ohw) }
        let pads = parts.indices.map { scratch(.paddedSample(part: $0), count: max(Conv2D.paddedCount(g), transposed ? Conv2D.paddedCount(tg) : 0)) }
        let dcols = parts.indices.map { part -> UnsafeMutablePointer<Float> in
            guard wantX else { return cols[part] }
            return scratch(.columnGradient(part: part), count: transposed ? oc * k * k * hw : ckk * cs * ohw)
        }
        // The chunk's output gradient gathered as [oc, nc·ohw] (masked by a fused ReLU).
        let gathered = parts.indices.map { scratch(.outputGradient(part: $0), count: oc * cs * ohw) }
        // Per-part weight and bias gradients (part 0 writes straight into grad), summed in part order.
        let wcount = weight.value.count
        let partials = parts.indices.map { $0 == 0 ? weight.grad.pointer : scratch(.weightGradient(part: $0), count: wcount) }
        let biasPartials = parts.indices.map { scratch(.biasGradient(part: $0), count: oc) }
        // Flipped, channel-transposed kernel: wt[c][o][a][b] = W[o][c][k-1-a][k-1-b].
        let wt = scratch(.flippedKernel, count: wantX && transposed ? wcount : 1)
        let wp = weight.value.pointer
        if wantX && transposed { Conv2D.flippedTransposedKernel(wp, outputs: oc, inputs: c, k: k, into: wt) }
        let xp = x.pointer, dyp = dy.pointer, dxp = dx?.pointer, yp = mask?.pointer
        let okk = oc * k * k
        Parallel.forEachPart(n) { part, range in
            let col = cols[part], dcol = dcols[part], dW = partials[part], bsum = biasPartials[part]
            bsum.update(repeating: 0, count: oc)
            var s0 = range.lowerBound
            var first = true
            while s0 < range.upperBound {
                let nc = min(cs, range.upperBound - s0)
                let ld = nc * ohw
                let gT: UnsafePointer<Float>
                if nc == 1 && yp == nil {
                    gT = UnsafePointer(dyp + s0 * oc * ohw)
                } else {
                    let dst0 = gathered[part]
                    for s in 0..<nc {
                        for o in 0..<oc {
                            let at = ((s0 + s) * oc + o) * ohw, dst = dst0 + o * ld + s * ohw
                            if let yp { maskByPositive(dyp + at, yp + at, into: dst, count: ohw) } else { dst.update(from: dyp + at, count: ohw) }
                        }
                    }
                    gT = UnsafePointer(dst0)
                }
                if wantB { for o in 0..<oc { bsum[o] += Conv2D.laneSum(gT + o * ld, ld) } }
                if wantW {
                    Conv2D.im2col(xp, s0: s0, nc: nc, g: g, col: col, padded: pads[part])
                    gemm(transB: true, m: oc, n: ckk, k: ld, a: gT, lda: ld, b: col, ldb: ld, beta: first ? 0 : 1, c: dW, ldc: ckk)
                    first = false
                }
                if let dxp {
                    if transposed {
                        for s in 0..<nc {
                            Conv2D.im2col(gT, s0: s, nc: 1, g: tg, col: dcol, padded: pads[part], sampleStride: ohw, channelStride: ld)
                            gemm(m: c, n: hw, k: okk, a: wt, lda: okk, b: dcol, ldb: hw, c: dxp + (s0 + s) * c * hw, ldc: hw)
                        }
                    } else {
                        gemm(transA: true, m: ckk, n: ld, k: oc, a: wp, lda: ckk, b: gT, ldb: ld, c: dcol, ldc: ld)
                        Conv2D.col2im(dcol, s0: s0, nc: nc, g: g, dx: dxp)
                    }
                }
                s0 += nc
            }
        }
        if wantW {
            let gw = weight.grad.pointer
            for p in 1..<max(parts.count, 1) { let src = partials[p]; for i in 0..<wcount { gw[i] += src[i] } }
        }
        if wantB { sumBiasGradient(biasPartials) }
        return dx
    }
}

extension Conv2D {
    /// The scratch regions a convolution uses in its network's shared ``Workspace``
    /// (contents undefined on entry). Regions with a part hold one for each of the
    /// ``Parallel/parts`` parts of a batch. Cases that share a slot are the same memory
    /// under the name of what each lowering keeps there; no call uses both.
    enum Scratch {
        /// A chunk's im2col columns of x.
        case inputColumns(part: Int)
        /// The column shifts of one sample of x (shares ``inputColumns(part:)``'s slot).
        case shiftedInput(part: Int)
        /// One zero-padded sample, staged for the stride-1 im2col.
        case paddedSample(part: Int)
        /// The column shifts of one sample of dy (shares ``paddedSample(part:)``'s slot).
        case shiftedOutputGradient(part: Int)
        /// A chunk's GEMM output before the bias is added.
        case stagedOutput(part: Int)
        /// Columns of the input gradient: W^T·dy before col2im, or dy's im2col for the
        /// transposed convolution (shares ``stagedOutput(part:)``'s slot).
        case columnGradient(part: Int)
        /// A part's weight gradient, summed into the parameter's in part order.
        case weightGradient(part: Int)
        /// A part's bias gradient, summed in part order.
        case biasGradient(part: Int)
        /// The flipped, channel-transposed kernel of the input gradient's transposed convolution.
        case flippedKernel
        /// A chunk's or sample's output gradient, gathered and masked by a fused ReLU.
        case outputGradient(part: Int)
        /// The kernel rows as GEMM operands (forward over column shifts).
        case kernelRows
        /// One sample's padded input and wide output for the direct convolution (shares ``inputColumns(part:)``'s slot).
        /// Indexed by worker, as ``directWeightGradient(part:)``.
        case directSample(part: Int)
        /// The weights packed for the direct convolution (shares ``kernelRows``'s slot).
        case directKernel
        /// A chunk of padded samples and wide output gradients for the direct weight gradient (shares ``inputColumns(part:)``'s slot).
        /// Indexed by worker (``Parallel/forEachPartOnWorkers(_:parts:_:)``), not part: see ``backwardDirect``.
        case directWeightGradient(part: Int)
        /// One sample's padded output gradient and wide input gradient for the direct
        /// transposed convolution (shares ``stagedOutput(part:)``'s slot). Indexed by worker, as ``directWeightGradient(part:)``.
        case directInputGradient(part: Int)
        /// Every sample's split, for the weight gradient of a strided layer's direct convolution.
        case splitSamples
        /// The gradient of the split input, before it is merged into dx.
        case splitInputGradient
        /// The split kernel W' of a strided layer's direct convolution.
        case splitKernel
        /// The gradient of the split kernel, before it is mapped back to the weights'.
        case splitKernelGradient

        /// The region's workspace slot: the three per-part staging regions of each part
        /// side by side, then each other region after them.
        var slot: Int {
            let parts = Parallel.parts
            switch self {
            case .inputColumns(let part), .shiftedInput(let part), .directSample(let part), .directWeightGradient(let part): return part * 3
            case .paddedSample(let part), .shiftedOutputGradient(let part): return part * 3 + 1
            case .stagedOutput(let part), .columnGradient(let part), .directInputGradient(let part): return part * 3 + 2
            case .weightGradient(let part): return 3 * parts + part
            case .biasGradient(let part): return 4 * parts + part
            case .flippedKernel: return 5 * parts
            case .outputGradient(let part): return 6 * parts + part
            case .kernelRows, .directKernel: return 7 * parts
            case .splitSamples: return 9 * parts
            case .splitInputGradient: return 9 * parts + 1
            case .splitKernel: return 9 * parts + 2
            case .splitKernelGradient: return 9 * parts + 3
            }
        }
    }

    /// Scratch region `region` with room for at least `count` floats (contents undefined).
    func scratch(_ region: Scratch, count: Int) -> UnsafeMutablePointer<Float> {
        workspace.buffer(region.slot, count: count)
    }
}

extension Conv2D {
    /// Backward for ``usesColumnShifts(_:)`` geometries, one sample at a time: dW by k
    /// GEMMs per sample over the column shifts of x, dx by k GEMMs over those of dy (the
    /// transposed convolution) or W^T·dy and col2im.
    fileprivate func backwardOverColumnShifts(_ dy: Tensor, x: Tensor, g: Geo, tg: Geo, dx: Tensor?, transposed: Bool,
                                              parts: [Range<Int>], wantW: Bool, wantB: Bool) {
        let ohw = g.ohw, ckk = g.ckk, oc = outChannels, c = inChannels, k = kernel, hw = g.h * g.w
        let ck = c * k, ok = oc * k, ldb = (g.h + 2 * g.pad) * g.ow, ldbT = (tg.h + 2 * tg.pad) * tg.ow
        let wcount = weight.value.count, wp = weight.value.pointer
        let mask = rectifiedOutput
        let shifted = parts.indices.map { scratch(.shiftedInput(part: $0), count: wantW ? Conv2D.shiftedCount(g) : 1) }
        let shiftedGrad = parts.indices.map { scratch(.shiftedOutputGradient(part: $0), count: dx != nil && transposed ? Conv2D.shiftedCount(tg) : 1) }
        let dcols = parts.indices.map { scratch(.columnGradient(part: $0), count: dx != nil && !transposed ? ckk * ohw : 1) }
        let masked = parts.indices.map { scratch(.outputGradient(part: $0), count: mask == nil ? 1 : oc * ohw) }
        // Per-part weight gradients by kernel row ([k][oc][c·k]) and bias gradients, summed in part order.
        let partials = parts.indices.map { scratch(.weightGradient(part: $0), count: wantW ? wcount : 1) }
        let biasPartials = parts.indices.map { scratch(.biasGradient(part: $0), count: oc) }
        let wtk = scratch(.flippedKernel, count: dx != nil && transposed ? wcount : 1)
        if dx != nil && transposed { Conv2D.kernelRows(wp, outputs: c, inputs: oc, k: k, flipped: true, into: wtk) }
        let xp = x.pointer, dyp = dy.pointer, dxp = dx?.pointer, yp = mask?.pointer
        Parallel.forEachPart(x.shape[0]) { part, range in
            let sh = shifted[part], shd = shiftedGrad[part], dWk = partials[part], bsum = biasPartials[part]
            bsum.update(repeating: 0, count: oc)
            for s in range {
                let gs = Conv2D.outputGradient(dyp, through: yp, sample: s, count: oc * ohw, scratch: masked[part])
                if wantB { for o in 0..<oc { bsum[o] += Conv2D.laneSum(gs + o * ohw, ohw) } }
                if wantW {
                    Conv2D.shiftColumns(xp + s * c * hw, g: g, channelStride: hw, into: sh)
                    for ki in 0..<k {
                        gemm(transB: true, m: oc, n: ck, k: ohw, a: gs, lda: ohw, b: sh + ki * g.ow, ldb: ldb,
                             beta: s == range.lowerBound ? 0 : 1, c: dWk + ki * oc * ck, ldc: ck)
                    }
                }
                guard let dxp else { continue }
                let dxs = dxp + s * c * hw
                if transposed {
                    Conv2D.shiftColumns(gs, g: tg, channelStride: ohw, into: shd)
                    for ki in 0..<k {
                        gemm(m: c, n: hw, k: ok, a: wtk + ki * c * ok, lda: ok, b: shd + ki * tg.ow, ldb: ldbT,
                             beta: ki == 0 ? 0 : 1, c: dxs, ldc: hw)
                    }
                } else {
                    gemm(transA: true, m: ckk, n: ohw, k: oc, a: wp, lda: ckk, b: gs, ldb: ohw, c: dcols[part], ldc: ohw)
                    Conv2D.col2im(dcols[part], s0: s, nc: 1, g: g, dx: dxp)
                }
            }
        }
        if wantW {
            let gw = weight.grad.pointer
            for o in 0..<oc { for ci in 0..<c { for ki in 0..<k { for kj in 0..<k {
                let from = (ki * oc + o) * ck + ci * k + kj
                var sum = partials[0][from]
                for p in 1..<max(parts.count, 1) { sum += partials[p][from] }
                gw[((o * c + ci) * k + ki) * k + kj] = sum
            } } } }
        }
        if wantB { sumBiasGradient(biasPartials) }
    }

    /// Sample `s`'s output gradient (`count` floats from `dy`), through a fused ReLU's output
    /// `y` when there is one (masked into `scratch`).
    static func outputGradient(_ dy: UnsafePointer<Float>, through y: UnsafePointer<Float>?, sample s: Int, count: Int,
                               scratch: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
        guard let y else { return dy + s * count }
        maskByPositive(dy + s * count, y + s * count, into: scratch, count: count)
        return UnsafePointer(scratch)
    }

    /// The bias gradient: the parts' sums added in part order (deterministic).
    func sumBiasGradient(_ partials: [UnsafeMutablePointer<Float>]) {
        Conv2D.addInPartOrder(partials, count: outChannels, into: bias.grad.pointer)
    }

    /// `out = partials[0] + partials[1] + …`, element by element in part order (deterministic).
    static func addInPartOrder(_ partials: [UnsafeMutablePointer<Float>], count: Int, into out: UnsafeMutablePointer<Float>) {
        out.update(from: partials[0], count: count)
        for p in partials.dropFirst() { for i in 0..<count { out[i] += p[i] } }
    }
}

/// `y = max(x, 0)`, 8 lanes at a time; `x` and `y` may be the same buffer.
func rectify(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    let zero = SIMD8<Float>()
    while i + 8 <= count {
        let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(y + i).storeBytes(of: v.replacing(with: zero, where: v .< zero), as: SIMD8<Float>.self)
        i += 8
    }
    while i < count { y[i] = max(x[i], 0); i += 1 }
}

/// `x = max(x, 0)` in place.
func rectify(_ x: UnsafeMutablePointer<Float>, count: Int) { rectify(x, into: x, count: count) }

/// `out = y > 0 ? g : 0` (the ReLU backward), 8 lanes at a time.
func maskByPositive(_ g: UnsafePointer<Float>, _ y: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    let zero = SIMD8<Float>()
    while i + 8 <= count {
        let gv = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD8<Float>.self)
        let yv = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(out + i).storeBytes(of: zero.replacing(with: gv, where: yv .> zero), as: SIMD8<Float>.self)
        i += 8
    }
    while i < count { out[i] = y[i] > 0 ? g[i] : 0; i += 1 }
}
