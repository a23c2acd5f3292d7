// Conv2D — 2-D convolution (stride, zero padding, groups = 1) lowered to im2col +
// cblas_sgemm over chunks of the batch (each of Parallel.parts parts of the batch runs
// on its own thread with single-threaded BLAS), col2im for the input gradient.
// Weight layout [out, in, kh, kw] as PyTorch; Kaiming-uniform initialisation.

/// 2-D convolution over `[N, C, H, W]` inputs.
public final class Conv2D: Layer {
    public let name: String
    public let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int
    public let weight: Parameter, bias: Parameter
    public var needsInputGradient = true
    let workspace: Workspace
    private var input: Tensor?
    /// Upper bound on floats in one im2col chunk (trades GEMM size against cache and memory).
    public var chunkFloats = Conv2D.defaultChunkFloats
    /// Default for ``chunkFloats``: 2^18 floats (1 MiB) measured best or equal on the cnn
    /// among 2^17…2^22. Changing it changes the summation order of weight gradients.
    nonisolated(unsafe) public static var defaultChunkFloats: Int = 1 << 18

    public init(name: String, inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                rng: SeededGenerator, workspace: Workspace = Workspace()) {
        precondition(kernel > 0 && stride > 0 && padding >= 0)
        self.name = name
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernel = kernel; self.stride = stride; self.padding = padding
        self.workspace = workspace
        weight = Parameter(name: name + ".weight", value: Tensor(zeros: [outChannels, inChannels, kernel, kernel]), isWeight: true)
        bias = Parameter(name: name + ".bias", value: Tensor(zeros: [outChannels]), isWeight: false)
        let bound = 1 / Float(inChannels * kernel * kernel).squareRoot()
        var wr = rng.split(label: weight.name), br = rng.split(label: bias.name)
        wr.fillUniform(weight.value, -bound, bound)
        br.fillUniform(bias.value, -bound, bound)
    }

    public var parameters: [Parameter] { [weight, bias] }

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

    private func check(_ x: Tensor) throws -> (n: Int, g: Geo) {
        let (n, c, h, w) = try x.nchw(layer: name)
        _ = try outputShape(for: [c, h, w])
        let (oh, ow) = outSize(h, w)
        return (n, Geo(h: h, w: w, oh: oh, ow: ow, c: c, k: kernel, stride: stride, pad: padding))
    }

    /// Samples per chunk.
    private func chunkSize(n: Int, g: Geo) -> Int { max(1, min(n, chunkFloats / max(g.ckk * g.ohw, 1))) }

    /// im2col for samples [s0, s0+nc): col[(c*k+ki)*k+kj, s*ohw + oh*ow + ow].
    static func im2col(_ x: UnsafePointer<Float>, s0: Int, nc: Int, g: Geo, col: UnsafeMutablePointer<Float>) {
        let k = g.k, ohw = g.ohw, ld = nc * ohw, hw = g.h * g.w, ow = g.ow, w = g.w, st = g.stride
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
                            if st == 1 { while q < hi { dst[q] = src[q]; q += 1 } }
                            else { while q < hi { dst[q] = src[q * st]; q += 1 } }
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

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        let (n, g) = try check(x)
        let ohw = g.ohw, ckk = g.ckk, oc = outChannels
        let y = Tensor(uninitialized: [n, oc, g.oh, g.ow])
        let parts = Parallel.ranges(n)
        let cs = chunkSize(n: (n + parts.count - 1) / parts.count, g: g)
        let cols = parts.indices.map { workspace.buffer($0 * 3, count: ckk * cs * ohw) }
        let tmps = parts.indices.map { workspace.buffer($0 * 3 + 1, count: oc * cs * ohw) }
        let bp = bias.value.pointer, wp = weight.value.pointer, xp = x.pointer, yp0 = y.pointer
        Parallel.forEachPart(n) { part, range in
            let col = cols[part], tmp = tmps[part]
            var s0 = range.lowerBound
            while s0 < range.upperBound {
                let nc = min(cs, range.upperBound - s0)
                Conv2D.im2col(xp, s0: s0, nc: nc, g: g, col: col)
                let ld = nc * ohw
                gemm(m: oc, n: ld, k: ckk, a: wp, lda: ckk, b: col, ldb: ld, c: tmp, ldc: ld)
                for s in 0..<nc {
                    let ys = yp0 + (s0 + s) * oc * ohw
                    for o in 0..<oc {
                        let src = tmp + o * ld + s * ohw, dst = ys + o * ohw, b = bp[o]
                        for p in 0..<ohw { dst[p] = src[p] + b }
                    }
                }
                s0 += nc
            }
        }
        input = training ? x : nil
        return y
    }

    public func backward(_ dy: Tensor) throws -> Tensor? {
        guard let x = input else {
            throw EngineError.invalidArgument("layer '\(name)': backward without a training forward pass")
        }
        let (n, g) = try check(x)
        let ohw = g.ohw, ckk = g.ckk, oc = outChannels
        guard dy.shape == [n, oc, g.oh, g.ow] else {
            throw EngineError.shapeMismatch(layer: name, message: "gradient shape \(dy.shape), expected \([n, oc, g.oh, g.ow])")
        }
        let wantW = !weight.frozen, wantX = needsInputGradient
        if !bias.frozen {
            let gb = bias.grad.pointer
            for o in 0..<oc { gb[o] = 0 }
            for s in 0..<n {
                for o in 0..<oc {
                    let src = dy.pointer + (s * oc + o) * ohw
                    var acc: Float = 0
                    for p in 0..<ohw { acc += src[p] }
                    gb[o] += acc
                }
            }
        }
        guard wantW || wantX else { return nil }
        let dx: Tensor? = wantX ? Tensor(zeros: x.shape) : nil
        let parts = Parallel.ranges(n)
        let cs = chunkSize(n: (n + parts.count - 1) / parts.count, g: g)
        let cols = parts.indices.map { workspace.buffer($0 * 3, count: ckk * cs * ohw) }
        let dyTs = parts.indices.map { workspace.buffer($0 * 3 + 1, count: oc * cs * ohw) }
        let dcols = parts.indices.map { wantX ? workspace.buffer($0 * 3 + 2, count: ckk * cs * ohw) : cols[$0] }
        // Per-part weight gradients (part 0 writes straight into grad), summed in part order.
        let wcount = weight.value.count
        let partials = parts.indices.map { $0 == 0 ? weight.grad.pointer : workspace.buffer(3 * Parallel.parts + $0, count: wcount) }
        let xp = x.pointer, dyp = dy.pointer, wp = weight.value.pointer, dxp = dx?.pointer
        Parallel.forEachPart(n) { part, range in
            let col = cols[part], dyT = dyTs[part], dcol = dcols[part], dW = partials[part]
            var s0 = range.lowerBound
            var first = true
            while s0 < range.upperBound {
                let nc = min(cs, range.upperBound - s0)
                let ld = nc * ohw
                for s in 0..<nc {
                    for o in 0..<oc {
                        let src = dyp + ((s0 + s) * oc + o) * ohw, dst = dyT + o * ld + s * ohw
                        for p in 0..<ohw { dst[p] = src[p] }
                    }
                }
                if wantW {
                    Conv2D.im2col(xp, s0: s0, nc: nc, g: g, col: col)
                    gemm(transB: true, m: oc, n: ckk, k: ld, a: dyT, lda: ld, b: col, ldb: ld,
                         beta: first ? 0 : 1, c: dW, ldc: ckk)
                }
                if let dxp {
                    gemm(transA: true, m: ckk, n: ld, k: oc, a: wp, lda: ckk, b: dyT, ldb: ld, c: dcol, ldc: ld)
                    Conv2D.col2im(dcol, s0: s0, nc: nc, g: g, dx: dxp)
                }
                first = false
                s0 += nc
            }
        }
        if wantW {
            let gw = weight.grad.pointer
            for p in 1..<max(parts.count, 1) { let src = partials[p]; for i in 0..<wcount { gw[i] += src[i] } }
        }
        return dx
    }
}
