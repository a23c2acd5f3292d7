// Conv2DPointwise — Conv2D's 1×1 convolutions (stride 1, no padding) as plain OpenBLAS GEMMs
// over each sample where it is: no im2col, no column shifts, no padded copy. The forward pass
// is y_s = W·x_s in chunks of positions whose outputs stay in cache while the epilogue (bias,
// an inference batch norm, ReLU or ReLU6, rounded as CDirectConv's and the layers' own) runs
// over them; the weight gradient Σ_s dy_s·x_sᵀ per part (parts added in part order), the
// input gradient Wᵀ·dy_s. Used on CPUs where OpenBLAS's GEMMs beat CDirectConv's tiles for
// 1×1 layers (tlc_pointwise_prefers_blas: Intel's), and wherever a 1×1 layer would otherwise
// take a BLAS lowering (no direct kernels, or a training pass the direct kernels do not run).
//
// Owns: ``isPointwise(_:)``, ``runsPointwiseOnBLAS(_:training:)`` and the pointwise passes.

import CDirectConv
import Foundation

extension Conv2D {
    /// A 1×1 convolution with stride 1 and no padding: a GEMM per sample over x as it is.
    func isPointwise(_ g: Geo) -> Bool { g.k == 1 && g.stride == 1 && g.pad == 0 }

    /// Whether 1×1 layers prefer OpenBLAS's GEMMs to CDirectConv's tiles on this CPU
    /// (tlc_pointwise_prefers_blas, or CPUs without the direct kernels). `TLC_POINTWISE=blas`
    /// or `direct` chooses (benchmarks compare them).
    static let pointwiseOnBLAS: Bool = {
        switch ProcessInfo.processInfo.environment["TLC_POINTWISE"] {
        case "blas": return true
        case "direct": return !directConvolutionAvailable
        default: return !directConvolutionAvailable || tlc_pointwise_prefers_blas() != 0
        }
    }()

    /// Whether a pass of this geometry runs as ``isPointwise(_:)`` GEMMs: every 1×1 pass the
    /// direct convolution does not run (none where the CPU prefers the GEMMs, see
    /// ``usesDirectConvolution(_:training:)``).
    func runsPointwiseOnBLAS(_ g: Geo, training: Bool) -> Bool {
        isPointwise(g) && !usesDirectConvolution(g, training: training)
    }

    /// Positions per chunk of the forward pass: about 128 K floats of outputs (512 KB, in L2).
    private static func pointwiseChunk(outputs: Int, positions: Int) -> Int {
        min(positions, max(64, (131_072 / max(outputs, 1)) / 16 * 16))
    }

    /// The forward pass: per part and sample, per chunk of positions, y = W·x (+ bias) then the
    /// epilogue (a fused batch norm's affine map, ReLU or ReLU6) over the chunk.
    func forwardPointwise(_ xp: UnsafePointer<Float>, g: Geo, n: Int, y yp: UnsafeMutablePointer<Float>, fusingReLU: Bool,
                          batchNorm: BatchNorm?, ceiling: Float?) {
        let (c, oc, hw) = (g.c, outChannels, g.ohw)
        let chunk = Conv2D.pointwiseChunk(outputs: oc, positions: hw)
        let wp = UnsafePointer(weight.value.pointer), bp = bias.value.pointer
        let affine = batchNorm?.inferenceAffine()
        let (mp, sp, tp) = (affine?.mean.pointer, affine?.scale.pointer, affine?.shift.pointer)
        let finishes = affine != nil || fusingReLU, (relu, top) = (Int32(fusingReLU ? 1 : 0), ceiling ?? .infinity)
        Parallel.forEachPart(n) { _, range in
            for s in range {
                let xs = xp + s * c * hw, ys = yp + s * oc * hw
                var p0 = 0
                while p0 < hw {
                    let width = min(chunk, hw - p0)
                    if hasBias { for o in 0..<oc { (ys + o * hw + p0).update(repeating: bp[o], count: width) } }
                    gemm(m: oc, n: width, k: c, a: wp, lda: c, b: xs + p0, ldb: hw, beta: hasBias ? 1 : 0, c: ys + p0, ldc: hw)
                    if finishes { tlc_direct_conv_epilogue(ys + p0, Int32(oc), Int32(width), hw, mp, sp, tp, relu, top) }
                    p0 += width
                }
            }
        }
    }

    /// The backward pass: dy through a fused ReLU's mask, db as lane sums, dW = Σ_s dy_s·x_sᵀ
    /// per part (the parts added in part order), dx_s = Wᵀ·dy_s.
    func backwardPointwise(_ dy: Tensor, x: Tensor, g: Geo, dx: Tensor?, wantW: Bool, wantB: Bool) {
        let (n, c, oc, hw) = (x.shape[0], g.c, outChannels, g.ohw)
        let parts = Parallel.ranges(n), wcount = weight.value.count
        let mask = rectifiedOutput
        let masked = parts.indices.map { scratch(.outputGradient(part: $0), count: mask == nil ? 1 : oc * hw) }
        let partials = parts.indices.map { scratch(.weightGradient(part: $0), count: wantW ? wcount : 1) }
        let biasPartials = parts.indices.map { scratch(.biasGradient(part: $0), count: oc) }
        let xp = x.pointer, dyp = dy.pointer, dxp = dx?.pointer, yp = mask?.pointer, wp = UnsafePointer(weight.value.pointer)
        Parallel.forEachPart(n) { part, range in
            let dW = partials[part], bsum = biasPartials[part]
            bsum.update(repeating: 0, count: oc)
            for s in range {
                let gs = Conv2D.outputGradient(dyp, through: yp, sample: s, count: oc * hw, scratch: masked[part])
                if wantB { for o in 0..<oc { bsum[o] += Conv2D.laneSum(gs + o * hw, hw) } }
                if wantW {
                    gemm(transB: true, m: oc, n: c, k: hw, a: gs, lda: hw, b: xp + s * c * hw, ldb: hw,
                         beta: s == range.lowerBound ? 0 : 1, c: dW, ldc: c)
                }
                if let dxp { gemm(transA: true, m: c, n: hw, k: oc, a: wp, lda: c, b: gs, ldb: hw, c: dxp + s * c * hw, ldc: hw) }
            }
        }
        if wantW { Conv2D.addInPartOrder(partials, count: wcount, into: weight.grad.pointer) }
        if wantB { sumBiasGradient(biasPartials) }
    }
}
