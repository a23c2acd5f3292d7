// Conv2DDirect — when and how Conv2D runs on CDirectConv (CPUs with AVX-512 or AVX2). Stride-1
// layers run as they are; a strided layer whose polyphase split pays (tlc_strided_applies:
// ResNet's 7×7 stride-2 stem, AlexNet's 11×11 stride 4, an RGB 3×3 stride-2 stem; not 3×3
// at stride 2 over many channels, not 1×1) runs as the stride-1 convolution without
// padding over that split (CDirectConv's strided.c): its forward pass with each phase's own
// taps, its training with the split kernel W' (k' × k' taps for every phase). Both take the
// same passes: inference with a batch norm and ReLU fused into the epilogue, and training
// (the forward convolution, the weight and bias gradients by the weight gradient kernel, the
// input gradient as the direct convolution of dy with the flipped kernel, in one call that
// copies dy once where Winograd runs both; for a split layer then the split's adjoints,
// which only move values). A Winograd layer followed by a ReLU and a 2×2 max pool trains
// with both in its epilogue, forward and backward (``forwardReLUPool(_:pool:)``).
//
// Owns: the choice of the direct paths (``usesDirectConvolution(_:training:)``,
// ``trainsDirectly(_:)``, ``directGeometry(_:)``, ``poolsInEpilogue(_:_:training:)``) and
// their forward and backward passes.

import CDirectConv
import Foundation

extension Conv2D {
    /// The stride-1 geometry the direct convolution runs a layer of geometry `g` as: `g` itself
    /// at stride 1; for a strided layer tlc_strided_applies to, its split's (C·R² planes of
    /// (OH + k' − 1) × (OW + k' − 1), kernel k' = ⌈k/s⌉, no padding); nil otherwise.
    func directGeometry(_ g: Geo) -> Geo? {
        if g.stride == 1 { return g }
        let (k, s) = (Int32(g.k), Int32(g.stride))
        guard tlc_strided_applies(Int32(g.c), k, s) != 0 else { return nil }
        let phases = Int(tlc_strided_phases(k, s)), kk = Int(tlc_strided_kernel_size(k, s))
        return Geo(h: g.oh + kk - 1, w: g.ow + kk - 1, oh: g.oh, ow: g.ow, c: g.c * phases * phases, k: kk, stride: 1, pad: 0)
    }

    /// Whether a forward pass runs as CDirectConv's direct convolution: a geometry with a
    /// ``directGeometry(_:)`` (not a 1×1 layer where ``pointwiseOnBLAS``), on CPUs with AVX-512 or AVX2, for passes that train no weights
    /// of this layer (inference, or a frozen layer — so a frozen backbone's training pass
    /// still equals its inference pass) and for training passes of geometries that
    /// ``trainsDirectly(_:)``.
    func usesDirectConvolution(_ g: Geo, training: Bool) -> Bool {
        Conv2D.directConvolutionAvailable && !(isPointwise(g) && Conv2D.pointwiseOnBLAS) && directGeometry(g) != nil
            && (!training || weight.frozen || trainsDirectly(g))
    }

    /// Whether a training pass (forward and backward) of this geometry runs on CDirectConv
    /// alone: the forward direct convolution, the weight and bias gradients by its weight
    /// gradient kernel, and the input gradient as the direct convolution of dy with the
    /// flipped, channel-transposed kernel at padding k − 1 − p (p < k; a split layer has
    /// p = 0), on CPUs with AVX-512. AVX2-only CPUs train there only the layers whose three
    /// passes all run as Winograd (3×3 kernels with at least 32 channels in and
    /// out): its AVX2 paths are 1.9–2.3× the direct AVX2 tiles, while those trained the cnn
    /// slower than OpenBLAS's Haswell kernels; other geometries train on the BLAS lowerings.
    func trainsDirectly(_ g: Geo) -> Bool {
        guard let d = directGeometry(g), d.pad < d.k, !(isPointwise(g) && Conv2D.pointwiseOnBLAS) else { return false }
        if Conv2D.directConvolutionLevel >= 2 { return true }
        guard Conv2D.directConvolutionLevel == 1 else { return false }
        let (oc, c, k) = (Int32(outChannels), Int32(d.c), Int32(d.k))
        // Tile shape 3: Winograd applies (in 2×2 or 4×4 tiles, tlc_direct_conv_forward_shape's choice) to the forward pass
        // and (cdirectconv.h) the weight gradient; then to dx.
        return tlc_direct_conv_shape(oc, c, Int32(d.h), Int32(d.w), k, Int32(d.pad)) == 3
            && tlc_direct_conv_shape(c, oc, Int32(d.oh), Int32(d.ow), k, Int32(d.k - 1 - d.pad)) == 3
    }
    static let directConvolutionAvailable = directConvolutionLevel > 0
    /// CDirectConv's instruction set on this CPU (2 AVX-512, 1 AVX2; the same bits on both).
    /// `TLC_FLOAT_KERNEL=avx2` runs the AVX2 kernels on an AVX-512 CPU (benchmarks compare them).
    static let directConvolutionLevel: Int = {
        let level = Int(tlc_direct_conv_level())
        return ProcessInfo.processInfo.environment["TLC_FLOAT_KERNEL"] == "avx2" ? min(level, 1) : level
    }()

    /// Whether an inference pass over `x` runs the direct convolution or the pointwise GEMMs
    /// (Conv2DPointwise.swift), so that a following inference-mode batch norm (and ReLU) can be fused into it.
    func fusesBatchNorm(_ x: Tensor, training: Bool) -> Bool {
        guard !training, let (_, g) = try? check(x) else { return false }
        return usesDirectConvolution(g, training: false) || runsPointwiseOnBLAS(g, training: false)
    }

    /// The training kernel W' of a strided layer of geometry `g` over its split `d` (``directGeometry(_:)``).
    private func splitKernel(_ g: Geo, _ d: Geo) -> UnsafePointer<Float> {
        let split = scratch(.splitKernel, count: outChannels * d.c * d.k * d.k)
        tlc_strided_kernel(weight.value.pointer, Int32(outChannels), Int32(g.c), Int32(g.k), Int32(g.stride), split)
        return UnsafePointer(split)
    }

    /// Packs OIHW weights for tlc_direct_conv, the output channels split across the workers
    /// (Winograd's transformed 512-channel kernel in 4×4 tiles is 9.4 M floats: 6–18 ms on one core).
    static func packDirectKernel(shape: Int32, _ w: UnsafePointer<Float>, outputs: Int32, inputs: Int32, k: Int32,
                                 into packed: UnsafeMutablePointer<Float>) {
        let parts = Parallel.parts
        Parallel.forEachPart(parts, parts: parts) { part, _ in
            tlc_direct_conv_pack_part(shape, w, outputs, inputs, k, Int32(part), Int32(parts), packed)
        }
    }

    /// The forward pass of a ``usesDirectConvolution(_:training:)`` geometry, per part
    /// straight into y: bias, the taps, the fused batch norm and ReLU in one pass (a strided
    /// layer: over each sample's split, each phase with its own taps). Inference and training
    /// passes alike may run Winograd in 4×4 tiles (tlc_direct_conv_forward_shape).
    func forwardDirect(_ xp: UnsafePointer<Float>, g: Geo, n: Int, y yp: UnsafeMutablePointer<Float>, fusingReLU: Bool,
                       batchNorm: BatchNorm?, ceiling: Float?, level: Int) {
        let oc = Int32(outChannels), (c, h, w, k, pad) = (Int32(g.c), Int32(g.h), Int32(g.w), Int32(g.k), Int32(g.pad))
        let stride = Int32(g.stride), strided = g.stride > 1
        let shape = strided ? tlc_strided_conv_shape(oc, c, h, w, k, stride, pad)
            : tlc_direct_conv_forward_shape(oc, c, h, w, k, pad)
        let packed = scratch(.directKernel, count: strided ? tlc_strided_conv_packed_count(shape, oc, c, k) : tlc_direct_conv_packed_count(shape, oc, c, k))
        if strided { tlc_strided_conv_pack(shape, weight.value.pointer, oc, c, k, stride, packed) }
        else { Conv2D.packDirectKernel(shape: shape, weight.value.pointer, outputs: oc, inputs: c, k: k, into: packed) }
        let perWorker = strided ? tlc_strided_conv_scratch_count(shape, oc, c, h, w, k, stride, pad)
            : tlc_direct_conv_scratch_count(shape, oc, c, h, w, k, pad)
        // Per worker, not per part (a worker runs one part at a time): Winograd's 512-channel transforms and sums in 4×4 tiles
        // are 4.4 M floats (18 MB).
        let scratches = (0..<Parallel.workers(n)).map { scratch(.directSample(part: $0), count: perWorker) }
        let (inCount, outCount) = (g.c * g.h * g.w, outChannels * g.ohw)
        let affine = batchNorm?.inferenceAffine()
        let (mp, sp, tp) = (affine?.mean.pointer, affine?.scale.pointer, affine?.shift.pointer)
        let bp = bias.value.pointer, (relu, top) = (Int32(fusingReLU ? 1 : 0), ceiling ?? .infinity)
        Parallel.forEachPartOnWorkers(n) { worker, _, range in
            let (x, count, y) = (xp + range.lowerBound * inCount, Int32(range.count), yp + range.lowerBound * outCount)
            if strided {
                tlc_strided_conv(Int32(level), shape, x, count, c, h, w, packed, bp, oc, k, stride, pad, mp, sp, tp, relu, top, scratches[worker], y)
            } else {
                tlc_direct_conv(Int32(level), shape, x, nil, count, c, h, w, packed, bp, oc, k, pad, mp, sp, tp, relu, top, scratches[worker], y)
            }
        }
    }

    /// Whether a training pass over `x` runs with the ReLU after it and `pool` in Winograd's
    /// epilogue (``forwardReLUPool(_:pool:)``): a trained layer that ``trainsDirectly(_:)`` in
    /// Winograd's 2×2 or 4×4 tiles over an even number of output rows and columns, its dW and
    /// dx in the same tiles, and 2×2 windows at stride 2, which the tiles then hold whole.
    func poolsInEpilogue(_ x: Tensor, _ pool: MaxPool2D, training: Bool) -> Bool {
        guard training, !weight.frozen, pool.poolsTwoByTwo, pool.needsInputGradient, Conv2D.directConvolutionAvailable,
              let (_, g) = try? check(x), g.stride == 1, g.pad == 1, trainsDirectly(g) else { return false }
        let (oc, c, h, w, k) = (Int32(outChannels), Int32(g.c), Int32(g.h), Int32(g.w), Int32(g.k))
        let shape = tlc_direct_conv_forward_shape(oc, c, h, w, k, 1)
        // The backward pass (backwardThroughPool) runs dW and dx in the same tiles, from one copy of the pooled gradient.
        return tlc_direct_conv_pools(shape, h, w, k, 1) != 0 && tlc_direct_conv_forward_shape(c, oc, Int32(g.oh), Int32(g.ow), k, 1) == shape
    }

    /// The training pass of this layer, the ReLU after it and `pool` (``poolsInEpilogue(_:_:training:)``)
    /// in one: each tile's outputs rectified and pooled as they are transformed, so the
    /// full output is never written. Returns the pooled output; `pool` keeps the winners and
    /// that output (its backward passes dy to the winners where the output is positive: the
    /// ReLU's mask), so this layer's backward needs no mask. Bitwise the three layers apart.
    func forwardReLUPool(_ x: Tensor, pool: MaxPool2D) throws -> Tensor {
        let (n, g) = try check(x)
        let oc = Int32(outChannels), (c, h, w, k, pad) = (Int32(g.c), Int32(g.h), Int32(g.w), Int32(g.k), Int32(g.pad))
        let shape = tlc_direct_conv_forward_shape(oc, c, h, w, k, pad)
        let packed = scratch(.directKernel, count: tlc_direct_conv_packed_count(shape, oc, c, k))
        Conv2D.packDirectKernel(shape: shape, weight.value.pointer, outputs: oc, inputs: c, k: k, into: packed)
        let scratches = (0..<Parallel.workers(n)).map { scratch(.directSample(part: $0), count: tlc_direct_conv_scratch_count(shape, oc, c, h, w, k, pad)) }
        let pooled = Tensor(uninitialized: [n, outChannels, g.oh / 2, g.ow / 2])
        let (inCount, outCount) = (g.c * g.h * g.w, outChannels * (g.oh / 2) * (g.ow / 2))
        let xp = x.pointer, yp = pooled.pointer, bp = bias.value.pointer, level = Int32(Conv2D.directConvolutionLevel)
        pool.adoptFusedForward(input: [n, outChannels, g.oh, g.ow], output: pooled) { argmax in
            Parallel.forEachPartOnWorkers(n) { worker, _, range in
                let (lo, count) = (range.lowerBound, Int32(range.count))
                tlc_direct_conv_relu_pool(level, shape, xp + lo * inCount, count, c, h, w, packed, bp, oc, k, pad, scratches[worker],
                                          yp + lo * outCount, argmax + lo * outCount)
            }
        }
        input = x
        rectifiedOutput = nil
        return pooled
    }

    /// The backward pass of the three layers ``forwardReLUPool(_:pool:)`` ran, from the pooled
    /// gradient `dy` (the pool's): this layer's gradients and dx, with the gradient at each
    /// window's winner (where the pooled output is positive) built channels-last straight from
    /// `dy` (tlc_direct_conv_backward_pooled), the pool's and the ReLU's backward passes never
    /// run. Bitwise the three backward passes apart.
    func backwardThroughPool(_ dy: Tensor, pool: MaxPool2D) throws -> Tensor? {
        guard let x = input, pool.ranInEpilogue else {
            throw EngineError.invalidArgument("layer '\(name)': backward through '\(pool.name)' without a fused training forward pass")
        }
        let (n, g) = try check(x)
        guard dy.shape == [n, outChannels, g.oh / 2, g.ow / 2] else {
            throw EngineError.shapeMismatch(layer: pool.name, message: "gradient shape \(dy.shape), expected \([n, outChannels, g.oh / 2, g.ow / 2])")
        }
        let dx = needsInputGradient ? Tensor(uninitialized: x.shape) : nil
        pool.withFusedForward { y, argmax in
            backwardDirect(dy, x: x.pointer, d: g, dW: weight.frozen ? nil : weight.grad.pointer,
                           inputGradient: dx.map { (UnsafePointer(weight.value.pointer), $0.pointer) }, n: n, parts: Parallel.ranges(n),
                           wantB: !bias.frozen, level: Conv2D.directConvolutionLevel, pooled: (y, argmax))
        }
        return dx
    }

    /// Backward for ``trainsDirectly(_:)`` geometries, each part of the batch on CDirectConv:
    /// dW and db (through a fused ReLU's mask) by its weight gradient kernel, dx as the
    /// direct convolution of the masked dy with the flipped, channel-transposed kernel.
    /// The parts' dW and db are added in part order. A split layer computes them for the
    /// split input and kernel, then maps dW' and dx' back (tlc_strided_kernel_gradient,
    /// tlc_strided_merge: copies, no sums).
    func backwardDirect(_ dy: Tensor, x: Tensor, g: Geo, dx: Tensor?, parts: [Range<Int>], wantW: Bool, wantB: Bool, level: Int) {
        guard let d = directGeometry(g) else { preconditionFailure("layer '\(name)': no direct convolution for stride \(g.stride)") }
        let n = x.shape[0]
        guard g.stride > 1 else {
            backwardDirect(dy, x: x.pointer, d: g, dW: wantW ? weight.grad.pointer : nil,
                           inputGradient: dx.map { (UnsafePointer(weight.value.pointer), $0.pointer) }, n: n, parts: parts, wantB: wantB, level: level)
            return
        }
        let (c, h, w, k, s, p) = (Int32(g.c), Int32(g.h), Int32(g.w), Int32(g.k), Int32(g.stride), Int32(g.pad))
        let (inCount, splitCount) = (g.c * g.h * g.w, d.c * d.h * d.w)
        // Every sample's split: the weight gradient sums over a part's samples in one call.
        let wantGradients = wantW || wantB
        let splitX = scratch(.splitSamples, count: wantGradients ? n * splitCount : 1)
        let xp = x.pointer
        if wantGradients {
            Parallel.forEachPart(n) { _, r in
                tlc_strided_split(xp + r.lowerBound * inCount, Int32(r.count), c, h, w, k, s, p, splitX + r.lowerBound * splitCount)
            }
        }
        let splitDW = wantW ? scratch(.splitKernelGradient, count: outChannels * d.c * d.k * d.k) : nil
        let splitDX = dx != nil ? scratch(.splitInputGradient, count: n * splitCount) : nil
        backwardDirect(dy, x: splitX, d: d, dW: splitDW, inputGradient: splitDX.map { (splitKernel(g, d), $0) }, n: n, parts: parts,
                       wantB: wantB, level: level)
        if let splitDW { tlc_strided_kernel_gradient(splitDW, Int32(outChannels), c, k, s, weight.grad.pointer) }
        if let splitDX, let dxp = dx?.pointer {
            Parallel.forEachPart(n) { _, r in
                tlc_strided_merge(splitDX + r.lowerBound * splitCount, Int32(r.count), c, h, w, k, s, p, dxp + r.lowerBound * inCount)
            }
        }
    }

    /// The backward pass of the stride-1 convolution of geometry `g` over the `n` samples at
    /// `xp`: dW (when not nil) and the bias gradient (when `wantB`) written; with
    /// `inputGradient`, dx written from the layer's kernel ([outputs][g.c][g.k][g.k]). With
    /// `pooled` (the pooled output and winners of ``forwardReLUPool(_:pool:)``), `dy` is the
    /// pool's gradient (``backwardThroughPool(_:pool:)``).
    private func backwardDirect(_ dy: Tensor, x xp: UnsafePointer<Float>, d g: Geo, dW: UnsafeMutablePointer<Float>?,
                                inputGradient: (kernel: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>)?, n: Int,
                                parts: [Range<Int>], wantB: Bool, level: Int,
                                pooled: (y: UnsafePointer<Float>, argmax: UnsafePointer<Int32>)? = nil) {
        let oc = outChannels, c = g.c, k = g.k, wcount = oc * c * k * k
        let (inCount, outCount) = (c * g.h * g.w, oc * g.ohw), pooledCount = oc * (g.oh / 2) * (g.ow / 2)
        let (c32, oc32, k32, h32, w32) = (Int32(c), Int32(oc), Int32(k), Int32(g.h), Int32(g.w))
        let wantGradients = dW != nil || wantB || pooled != nil
        // The weight gradient's scratch (Winograd's sums for 512 × 512 channels alone are 16 MiB) per worker, not per part.
        let workers = Parallel.workers(n)
        let gradientScratch = (0..<workers).map {
            scratch(.directWeightGradient(part: $0),
                    count: wantGradients ? tlc_direct_conv_weight_grad_scratch_count(oc32, c32, h32, w32, k32, Int32(g.pad)) : 1)
        }
        let partials = parts.indices.map { scratch(.weightGradient(part: $0), count: wantGradients ? wcount : 1) }
        let biasPartials = parts.indices.map { scratch(.biasGradient(part: $0), count: oc) }
        // dx = conv(dy, W flipped and transposed to [c][oc][k][k], padding k − 1 − p, no bias), in the tiles a forward
        // pass of that geometry takes; at padding 1 those of this layer's forward pass, which dW takes too
        // (tlc_direct_conv_weight_grad), so that both read one channels-last copy of dy.
        let tpad = Int32(k - 1 - g.pad), (oh32, ow32) = (Int32(g.oh), Int32(g.ow))
        let shape = tlc_direct_conv_forward_shape(c32, oc32, oh32, ow32, k32, tpad)
        var packed: UnsafeMutablePointer<Float>?
        var inputScratch: [UnsafeMutablePointer<Float>] = []
        if let kernel = inputGradient?.kernel {
            let wt = scratch(.flippedKernel, count: wcount)
            Conv2D.flippedTransposedKernel(kernel, outputs: oc, inputs: c, k: k, into: wt)
            let pk = scratch(.directKernel, count: tlc_direct_conv_packed_count(shape, c32, oc32, k32))
            Conv2D.packDirectKernel(shape: shape, wt, outputs: c32, inputs: oc32, k: k32, into: pk)
            packed = pk
            inputScratch = (0..<workers).map {
                scratch(.directInputGradient(part: $0), count: tlc_direct_conv_scratch_count(shape, c32, oc32, oh32, ow32, k32, tpad))
            }
        }
        let dyp = dy.pointer, dxp = inputGradient?.dx, maskp = rectifiedOutput.map { UnsafePointer($0.pointer) }
        Parallel.forEachPartOnWorkers(n) { worker, part, range in
            let (lo, count) = (range.lowerBound, Int32(range.count))
            let mask = maskp.map { $0 + lo * outCount }
            if let pooled {
                let ran = tlc_direct_conv_backward_pooled(Int32(level), xp + lo * inCount, dyp + lo * pooledCount, pooled.y + lo * pooledCount,
                                                          pooled.argmax + lo * pooledCount, count, c32, h32, w32, oc32, k32, Int32(g.pad),
                                                          gradientScratch[worker], partials[part], wantB ? biasPartials[part] : nil, shape,
                                                          packed, inputScratch.isEmpty ? nil : inputScratch[worker], dxp.map { $0 + lo * inCount })
                precondition(ran == 1, "layer '\(name)': no backward pass through a pool for this geometry")
                return
            }
            if wantGradients, let dxp, let packed {
                // Both at once: Winograd layers at padding 1 copy each sample's dy channels-last once for both.
                tlc_direct_conv_backward(Int32(level), xp + lo * inCount, dyp + lo * outCount, mask, count, c32, h32, w32, oc32, k32,
                                         Int32(g.pad), gradientScratch[worker], partials[part], wantB ? biasPartials[part] : nil, shape,
                                         packed, inputScratch[worker], dxp + lo * inCount)
                return
            }
            if wantGradients {
                tlc_direct_conv_weight_grad(Int32(level), xp + lo * inCount, dyp + lo * outCount, mask, count, c32, h32, w32, oc32, k32,
                                            Int32(g.pad), gradientScratch[worker], partials[part], wantB ? biasPartials[part] : nil)
            }
            if let dxp, let packed {
                tlc_direct_conv(Int32(level), shape, dyp + lo * outCount, mask, count, oc32, oh32, ow32, packed, nil, c32, k32, tpad,
                                nil, nil, nil, 0, .infinity, inputScratch[worker], dxp + lo * inCount)
            }
        }
        if let dW { Conv2D.addInPartOrder(partials, count: wcount, into: dW) }
        if wantB { sumBiasGradient(biasPartials) }
    }
}
