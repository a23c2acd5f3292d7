// Conv2DLowering — the data movements that turn a convolution into GEMMs: the call's
// geometry, im2col (with the stride-1 zero-padded staging copy) and its adjoint col2im,
// the k column shifts of a zero-padded sample, and the kernel laid out as per-row GEMM
// operands (plain or flipped and channel-transposed). Pure copies: no arithmetic on
// values except col2im's accumulation, in a fixed order.

extension Conv2D {
    /// Geometry of one call.
    struct Geo {
        var h: Int, w: Int, oh: Int, ow: Int, c: Int, k: Int, stride: Int, pad: Int
        var ohw: Int { oh * ow }
        var ckk: Int { c * k * k }
        /// Output columns valid for kernel column kj: iw = o*stride - pad + kj in [0, w).
        func colRange(_ kj: Int) -> (Int, Int) {
            var lo = 0
            while lo < ow && lo * stride - pad + kj < 0 { lo += 1 }
            var hi = ow
            while hi > lo && (hi - 1) * stride - pad + kj >= w { hi -= 1 }
            return (lo, hi)
        }
    }

    /// Copies `n` floats with 8-wide vector moves (the last one may overlap).
    @inline(__always) static func copyRow(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        guard n >= 8 else { for q in 0..<n { dst[q] = src[q] }; return }
        var q = 0
        while q + 8 < n {
            UnsafeMutableRawPointer(dst + q).storeBytes(of: UnsafeRawPointer(src + q).loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
            q += 8
        }
        q = n - 8
        UnsafeMutableRawPointer(dst + q).storeBytes(of: UnsafeRawPointer(src + q).loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
    }

    /// Floats of scratch the stride-1 im2col needs (one zero-padded sample).
    static func paddedCount(_ g: Geo) -> Int { g.c * (g.h + 2 * g.pad) * (g.w + 2 * g.pad) }

    /// Floats of the column-shifted copy of one sample (see ``shiftColumns``).
    static func shiftedCount(_ g: Geo) -> Int { g.c * g.k * (g.h + 2 * g.pad) * g.ow }

    /// The k column shifts of one zero-padded sample (stride 1): `out[c][kj][i][q] =
    /// xpad[c][i][q + kj]` for the padded rows i and output columns q. Row block ki of it,
    /// `out + ki·ow` with row stride `(h + 2·pad)·ow`, is the `[c·k, oh·ow]` im2col matrix of
    /// kernel row ki, so a convolution is k GEMMs over a copy 3× (not 9×) the input's size.
    /// Channel c of the sample is at `xs + c·channelStride`.
    static func shiftColumns(_ xs: UnsafePointer<Float>, g: Geo, channelStride: Int, into out: UnsafeMutablePointer<Float>) {
        let k = g.k, ow = g.ow, w = g.w, pad = g.pad, ph = g.h + 2 * pad
        for c in 0..<g.c {
            let xc = xs + c * channelStride
            for kj in 0..<k {
                let plane = out + (c * k + kj) * ph * ow
                // Output columns q read input column q + kj - pad, valid in [lo, hi).
                let lo = min(ow, max(0, pad - kj)), hi = max(lo, min(ow, w + pad - kj))
                plane.update(repeating: 0, count: pad * ow)
                for i in 0..<g.h {
                    let dst = plane + (pad + i) * ow
                    if lo > 0 { dst.update(repeating: 0, count: lo) }
                    copyRow(xc + i * w + lo + kj - pad, dst + lo, hi - lo)
                    if hi < ow { (dst + hi).update(repeating: 0, count: ow - hi) }
                }
                (plane + (pad + g.h) * ow).update(repeating: 0, count: (ph - pad - g.h) * ow)
            }
        }
    }

    /// Kernel rows as GEMM operands: `out[ki][o][c·k + kj] = w[o][c][ki][kj]` for a
    /// `[o, c, k, k]` kernel.
    /// With `flipped`, the kernel is read as `[inputs, outputs, k, k]` and flipped: the
    /// operand of the input gradient's transposed convolution.
    static func kernelRows(_ w: UnsafePointer<Float>, outputs: Int, inputs: Int, k: Int, flipped: Bool, into out: UnsafeMutablePointer<Float>) {
        for ki in 0..<k { for o in 0..<outputs { for c in 0..<inputs { for kj in 0..<k {
            let source = flipped ? ((c * outputs + o) * k + (k - 1 - ki)) * k + (k - 1 - kj) : ((o * inputs + c) * k + ki) * k + kj
            out[(ki * outputs + o) * inputs * k + c * k + kj] = w[source]
        } } } }
    }

    /// The kernel of the input gradient's transposed convolution: W flipped in both spatial
    /// axes and transposed to [inputs][outputs][k][k] (`out[c][o][a][b] = w[o][c][k−1−a][k−1−b]`).
    static func flippedTransposedKernel(_ w: UnsafePointer<Float>, outputs: Int, inputs: Int, k: Int, into out: UnsafeMutablePointer<Float>) {
        for o in 0..<outputs { for c in 0..<inputs { for a in 0..<k { for b in 0..<k {
            out[((c * outputs + o) * k + a) * k + b] = w[((o * inputs + c) * k + (k - 1 - a)) * k + (k - 1 - b)]
        } } } }
    }

    /// im2col for samples [s0, s0+nc): col[(c*k+ki)*k+kj, s*ohw + oh*ow + ow].
    /// With stride 1 each sample is first zero-padded into `padded` (``paddedCount(_:)``
    /// floats) so that every row of col is a plain copy with no edge tests; larger
    /// strides test the edges (and take samples and channels contiguous).
    static func im2col(_ x: UnsafePointer<Float>, s0: Int, nc: Int, g: Geo, col: UnsafeMutablePointer<Float>,
                       padded: UnsafeMutablePointer<Float>, sampleStride: Int? = nil, channelStride: Int? = nil) {
        let k = g.k, ohw = g.ohw, ld = nc * ohw, hw = g.h * g.w, ow = g.ow, w = g.w, st = g.stride
        if st == 1 {
            // Source layout: sample s, channel c at x + s·sampleStride + c·channelStride.
            let cstride = channelStride ?? hw, sstride = sampleStride ?? g.c * hw
            let ph = g.h + 2 * g.pad, pw = g.w + 2 * g.pad, phw = ph * pw, oh = g.oh
            for s in 0..<nc {
                let xs = x + (s0 + s) * sstride
                let source: UnsafePointer<Float>
                if g.pad == 0 && cstride == hw {
                    source = xs
                } else {
                    for c in 0..<g.c {
                        let pc = padded + c * phw
                        pc.update(repeating: 0, count: g.pad * pw)
                        for i in 0..<g.h {
                            let row = pc + (g.pad + i) * pw
                            row.update(repeating: 0, count: g.pad)
                            copyRow(xs + c * cstride + i * w, row + g.pad, w)
                            (row + g.pad + w).update(repeating: 0, count: g.pad)
                        }
                        (pc + (g.pad + g.h) * pw).update(repeating: 0, count: g.pad * pw)
                    }
                    source = UnsafePointer(padded)
                }
                for c in 0..<g.c {
                    let pc = source + c * phw
                    for ki in 0..<k {
                        for kj in 0..<k {
                            let row = col + ((c * k + ki) * k + kj) * ld + s * ohw
                            for o in 0..<oh { copyRow(pc + (o + ki) * pw + kj, row + o * ow, ow) }
                        }
                    }
                }
            }
            return
        }
        precondition(sampleStride == nil && channelStride == nil, "im2col: custom sample and channel strides need stride 1")
        for kj in 0..<k {
            let (lo, hi) = g.colRange(kj)
            let off = kj - g.pad
            for s in 0..<nc {
                let xs = x + (s0 + s) * g.c * hw
                for c in 0..<g.c {
                    let xc = xs + c * hw
                    for ki in 0..<k {
                        let row = col + ((c * k + ki) * k + kj) * ld + s * ohw
                        for o in 0..<g.oh {
                            let ih = o * st - g.pad + ki
                            let dst = row + o * ow
                            if ih < 0 || ih >= g.h {
                                for q in 0..<ow { dst[q] = 0 }
                                continue
                            }
                            let src = xc + ih * w + off
                            var q = 0
                            while q < lo { dst[q] = 0; q += 1 }
                            while q < hi { dst[q] = src[q * st]; q += 1 }
                            while q < ow { dst[q] = 0; q += 1 }
                        }
                    }
                }
            }
        }
    }

    /// col2im: accumulates dcol into dx for samples [s0, s0+nc).
    static func col2im(_ dcol: UnsafePointer<Float>, s0: Int, nc: Int, g: Geo, dx: UnsafeMutablePointer<Float>) {
        let k = g.k, ohw = g.ohw, ld = nc * ohw, hw = g.h * g.w, ow = g.ow, w = g.w, st = g.stride
        for kj in 0..<k {
            let (lo, hi) = g.colRange(kj)
            let off = kj - g.pad
            for s in 0..<nc {
                let xs = dx + (s0 + s) * g.c * hw
                for c in 0..<g.c {
                    let xc = xs + c * hw
                    for ki in 0..<k {
                        let row = dcol + ((c * k + ki) * k + kj) * ld + s * ohw
                        for o in 0..<g.oh {
                            let ih = o * st - g.pad + ki
                            if ih < 0 || ih >= g.h { continue }
                            let src = row + o * ow
                            let dst = xc + ih * w + off
                            var q = lo
                            if st == 1 { while q < hi { dst[q] += src[q]; q += 1 } }
                            else { while q < hi { dst[q * st] += src[q]; q += 1 } }
                        }
                    }
                }
            }
        }
    }
}
