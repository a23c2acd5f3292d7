// QuantizedInference — running a QuantizedNetwork. Inference never goes back to
// floats between layers: uint8 NHWC activations → im2col → int8×uint8 GEMM with int32
// accumulation (CInt8) → requantization to the next layer's uint8. Only the last
// layer's outputs (the logits) are produced as floats.
//
// Owns: QuantizedNetwork.forward and evaluate, the per-part integer pipeline, uint8
// pooling, and the integer GEMM as a call of its own (tests, benchmarks).

import CInt8

extension QuantizedNetwork {
    /// Whether the AVX2 kernel runs on this machine.
    public static var usesAVX2: Bool { tlc_qgemm_uses_avx2() != 0 }

    /// The integer GEMM on its own (tests, benchmarks): `C[n][m] = Σ_k b[n][k]·a[m][k]`
    /// for `b` uint8 in [0, 127] (`n × kPadded`) and `a` int8 in [-127, 127] (`m × kPadded`).
    public static func integerGEMM(_ b: [UInt8], _ a: [Int8], n: Int, m: Int, kPadded: Int) -> [Int32] {
        precondition(kPadded % 32 == 0 && b.count == n * kPadded && a.count == m * kPadded)
        var c = [Int32](repeating: 0, count: n * m)
        b.withUnsafeBufferPointer { bp in a.withUnsafeBufferPointer { ap in c.withUnsafeMutableBufferPointer { cp in
            tlc_qgemm_u8s8(bp.baseAddress, ap.baseAddress, cp.baseAddress, Int32(n), Int32(m), Int32(kPadded))
        } } }
        return c
    }

    /// Logits `[N, outputs]` for a float batch `[N, C, H, W]` (or `[N, F]`), computed
    /// through the integer pipeline. Batches are cut into ``Parallel/parts`` parts.
    public func forward(_ x: Tensor) throws -> Tensor {
        let n = x.batch
        guard x.shape.count >= 2, x.sampleCount == input.count else {
            throw EngineError.shapeMismatch(layer: "int8", message: "expected inputs of \(input) features, got \(x.shape)")
        }
        let y = Tensor(zeros: [n, outputs])
        let xp = UnsafePointer(x.pointer), yp = y.pointer
        Parallel.forEachPart(n) { _, range in
            self.run(xp, samples: range, into: yp)
        }
        return y
    }

    /// Runs samples `range` of the batch at `x` (float NCHW) and writes their logits.
    private func run(_ x: UnsafePointer<Float>, samples range: Range<Int>, into y: UnsafeMutablePointer<Float>) {
        let per = input.count, nc = range.count
        let (c, h, w) = (input.channels, input.height, input.width)
        // Activation buffers big enough for any layer of this part.
        var maxAct = per
        var maxCols = 0, maxAcc = 0
        for op in ops {
            switch op {
            case .linear(let l):
                maxAct = max(maxAct, l.outputShape.reduce(1, *))
                if l.kernel > 0 { maxCols = max(maxCols, l.outputShape[0] * l.outputShape[1] * l.kPadded); maxAcc = max(maxAcc, l.outputShape.reduce(1, *)) }
                else { maxCols = max(maxCols, nc * l.kPadded); maxAcc = max(maxAcc, nc * l.outputs) }
            case .maxPool(_, _, _, _, let o), .avgPool(_, _, _, _, let o): maxAct = max(maxAct, o.reduce(1, *))
            }
        }
        let a = UnsafeMutablePointer<UInt8>.allocate(capacity: nc * maxAct), b = UnsafeMutablePointer<UInt8>.allocate(capacity: nc * maxAct)
        let cols = UnsafeMutablePointer<UInt8>.allocate(capacity: max(maxCols, 1))
        let acc = UnsafeMutablePointer<Int32>.allocate(capacity: max(maxAcc, 1))
        defer { a.deallocate(); b.deallocate(); cols.deallocate(); acc.deallocate() }
        // Quantize the input to uint8 NHWC.
        let inv = 1 / inputScale, zp = Float(inputZero), qmax = Float(config.activationMax)
        for s in 0..<nc {
            let src = x + (range.lowerBound + s) * per, dst = a + s * per
            for ch in 0..<c {
                for p in 0..<(h * w) {
                    let q = (src[ch * h * w + p] * inv).rounded(.toNearestOrEven) + zp
                    dst[p * c + ch] = UInt8(max(0, min(qmax, q)))
                }
            }
        }
        var cur = a, next = b
        var curCount = per
        for (index, op) in ops.enumerated() {
            let isLast = index == ops.count - 1
            switch op {
            case .linear(let l):
                let outCount = l.outputShape.reduce(1, *)
                l.weights.withUnsafeBufferPointer { wq in
                    l.rowSums.withUnsafeBufferPointer { rs in
                        l.accumulatorScales.withUnsafeBufferPointer { sc in
                            l.bias.withUnsafeBufferPointer { bias in
                                let inv = 1 / l.outScale
                                if l.kernel > 0 {
                                    let (ih, iw, ic) = (l.inputShape[0], l.inputShape[1], l.inputShape[2])
                                    let (oh, ow) = (l.outputShape[0], l.outputShape[1])
                                    for s in 0..<nc {
                                        tlc_im2col_u8(cur + s * curCount, Int32(ih), Int32(iw), Int32(ic), Int32(l.kernel), Int32(l.stride), Int32(l.padding),
                                                      Int32(oh), Int32(ow), UInt8(l.inZero), Int32(l.kPadded), cols)
                                        tlc_qgemm_u8s8(cols, wq.baseAddress, acc, Int32(oh * ow), Int32(l.outputs), Int32(l.kPadded))
                                        tlc_requantize(acc, Int32(oh * ow), Int32(l.outputs), rs.baseAddress, Int32(l.inZero), sc.baseAddress, bias.baseAddress,
                                                       l.relu ? 1 : 0, inv, Int32(l.outZero), Int32(config.activationMax), next + s * outCount, nil)
                                    }
                                } else {
                                    // Rows padded to kPadded (zeros past K).
                                    for s in 0..<nc {
                                        let dst = cols + s * l.kPadded
                                        dst.update(from: cur + s * curCount, count: l.k)
                                        if l.kPadded > l.k { (dst + l.k).update(repeating: 0, count: l.kPadded - l.k) }
                                    }
                                    tlc_qgemm_u8s8(cols, wq.baseAddress, acc, Int32(nc), Int32(l.outputs), Int32(l.kPadded))
                                    if isLast {
                                        tlc_requantize(acc, Int32(nc), Int32(l.outputs), rs.baseAddress, Int32(l.inZero), sc.baseAddress, bias.baseAddress,
                                                       l.relu ? 1 : 0, 1, 0, Int32(config.activationMax), nil, y + range.lowerBound * l.outputs)
                                    } else {
                                        tlc_requantize(acc, Int32(nc), Int32(l.outputs), rs.baseAddress, Int32(l.inZero), sc.baseAddress, bias.baseAddress,
                                                       l.relu ? 1 : 0, inv, Int32(l.outZero), Int32(config.activationMax), next, nil)
                                    }
                                }
                            }
                        }
                    }
                }
                curCount = outCount
            case .maxPool(let size, let stride, let padding, let inShape, let outShape):
                Self.pool(cur, next, nc: nc, inShape: inShape, outShape: outShape, size: size, stride: stride, padding: padding, max: true)
                curCount = outShape.reduce(1, *)
            case .avgPool(let size, let stride, let padding, let inShape, let outShape):
                Self.pool(cur, next, nc: nc, inShape: inShape, outShape: outShape, size: size, stride: stride, padding: padding, max: false)
                curCount = outShape.reduce(1, *)
            }
            swap(&cur, &next)
        }
    }

    /// Max or average pooling over uint8 NHWC (padding is ignored by max and counted by avg, as the float layers do).
    private static func pool(_ x: UnsafeMutablePointer<UInt8>, _ y: UnsafeMutablePointer<UInt8>, nc: Int, inShape: [Int], outShape: [Int],
                             size: Int, stride: Int, padding: Int, max isMax: Bool) {
        let (h, w, c) = (inShape[0], inShape[1], inShape[2]), (oh, ow) = (outShape[0], outShape[1])
        let acc = UnsafeMutablePointer<Int32>.allocate(capacity: c)
        defer { acc.deallocate() }
        for s in 0..<nc {
            let src = x + s * h * w * c, dst = y + s * oh * ow * c
            for i in 0..<oh {
                for j in 0..<ow {
                    acc.update(repeating: isMax ? -1 : 0, count: c)
                    for ki in 0..<size {
                        let ih = i * stride - padding + ki
                        if ih < 0 || ih >= h { continue }
                        for kj in 0..<size {
                            let iw = j * stride - padding + kj
                            if iw < 0 || iw >= w { continue }
                            let p = src + (ih * w + iw) * c
                            if isMax { for ch in 0..<c { let v = Int32(p[ch]); if v > acc[ch] { acc[ch] = v } } }
                            else { for ch in 0..<c { acc[ch] += Int32(p[ch]) } }
                        }
                    }
                    let o = dst + (i * ow + j) * c
                    let div = Int32(size * size)
                    for ch in 0..<c { o[ch] = UInt8(isMax ? Swift.max(acc[ch], 0) : (acc[ch] + div / 2) / div) }
                }
            }
        }
    }

    /// Evaluates through the integer path.
    public func evaluate(_ data: Dataset, batchSize: Int = 256, topK: Int = 5) throws -> EvaluationResult {
        guard outputs == data.numClasses else {
            throw EngineError.shapeMismatch(layer: "int8", message: "network has \(outputs) outputs but the data set has \(data.numClasses) classes")
        }
        return try evaluateClassifier(data, batchSize: batchSize, topK: topK) { try self.forward($0) }
    }
}
