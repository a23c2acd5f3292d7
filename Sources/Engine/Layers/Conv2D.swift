// Conv2D — 2-D convolution (stride, zero padding, groups = 1) lowered to im2col +
// cblas_sgemm over chunks of the batch, with col2im for the input gradient.
// Weight layout [out, in, kh, kw] as PyTorch; Kaiming-uniform initialisation.

/// 2-D convolution over `[N, C, H, W]` inputs.
public final class Conv2D: Layer {
    public let name: String
    public let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int
    public let weight: Parameter, bias: Parameter
    public var needsInputGradient = true
    let workspace: Workspace
    private var input: Tensor?
    /// Upper bound on floats in one im2col chunk (trades GEMM size against memory).
    public var chunkFloats = 1 << 22

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

    private func check(_ x: Tensor) throws -> (n: Int, h: Int, w: Int, oh: Int, ow: Int) {
        let (n, c, h, w) = try x.nchw(layer: name)
        _ = try outputShape(for: [c, h, w])
        let (oh, ow) = outSize(h, w)
        return (n, h, w, oh, ow)
    }

    /// Samples per chunk for a batch of `n`.
    private func chunkSize(n: Int, ohw: Int) -> Int {
        let per = inChannels * kernel * kernel * ohw
        return max(1, min(n, chunkFloats / max(per, 1)))
    }

    /// im2col for samples [s0, s0+nc): col[(c*k+ki)*k+kj, s*ohw + oh*ow + ow].
    private func im2col(_ x: UnsafePointer<Float>, s0: Int, nc: Int, h: Int, w: Int, oh: Int, ow: Int,
                        col: UnsafeMutablePointer<Float>) {
        let k = kernel, ohw = oh * ow, ld = nc * ohw, hw = h * w
        for s in 0..<nc {
            let xs = x + (s0 + s) * inChannels * hw
            for c in 0..<inChannels {
                let xc = xs + c * hw
                for ki in 0..<k {
                    for kj in 0..<k {
                        let row = col + ((c * k + ki) * k + kj) * ld + s * ohw
                        // Valid output columns for this kj: iw = o*stride - pad + kj in [0, w).
                        var owLo = 0
                        while owLo < ow && owLo * stride - padding + kj < 0 { owLo += 1 }
                        var owHi = ow
                        while owHi > owLo && (owHi - 1) * stride - padding + kj >= w { owHi -= 1 }
                        for o in 0..<oh {
                            let ih = o * stride - padding + ki
                            let dst = row + o * ow
                            if ih < 0 || ih >= h {
                                dst.update(repeating: 0, count: ow)
                                continue
                            }
                            let src = xc + ih * w
                            for q in 0..<owLo { dst[q] = 0 }
                            if stride == 1 {
                                let off = kj - padding
                                if owHi > owLo { (dst + owLo).update(from: src + owLo + off, count: owHi - owLo) }
                            } else {
                                var q = owLo
                                while q < owHi { dst[q] = src[q * stride - padding + kj]; q += 1 }
                            }
                            var q = owHi
                            while q < ow { dst[q] = 0; q += 1 }
                        }
                    }
                }
            }
        }
    }

    /// col2im: accumulates dcol into dx for samples [s0, s0+nc).
    private func col2im(_ dcol: UnsafePointer<Float>, s0: Int, nc: Int, h: Int, w: Int, oh: Int, ow: Int,
                        dx: UnsafeMutablePointer<Float>) {
        let k = kernel, ohw = oh * ow, ld = nc * ohw, hw = h * w
        for s in 0..<nc {
            let xs = dx + (s0 + s) * inChannels * hw
            for c in 0..<inChannels {
                let xc = xs + c * hw
                for ki in 0..<k {
                    for kj in 0..<k {
                        let row = dcol + ((c * k + ki) * k + kj) * ld + s * ohw
                        var owLo = 0
                        while owLo < ow && owLo * stride - padding + kj < 0 { owLo += 1 }
                        var owHi = ow
                        while owHi > owLo && (owHi - 1) * stride - padding + kj >= w { owHi -= 1 }
                        for o in 0..<oh {
                            let ih = o * stride - padding + ki
                            if ih < 0 || ih >= h { continue }
                            let src = row + o * ow
                            let dst = xc + ih * w
                            var q = owLo
                            if stride == 1 {
                                let d = dst + (kj - padding)
                                while q < owHi { d[q] += src[q]; q += 1 }
                            } else {
                                while q < owHi { dst[q * stride - padding + kj] += src[q]; q += 1 }
                            }
                        }
                    }
                }
            }
        }
    }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        let (n, h, w, oh, ow) = try check(x)
        let ohw = oh * ow, ckk = inChannels * kernel * kernel, oc = outChannels
        let y = Tensor(zeros: [n, oc, oh, ow])
        let cs = chunkSize(n: n, ohw: ohw)
        let col = workspace.buffer(0, count: ckk * cs * ohw)
        let tmp = workspace.buffer(1, count: oc * cs * ohw)
        let bp = bias.value.pointer
        var s0 = 0
        while s0 < n {
            let nc = min(cs, n - s0)
            im2col(x.pointer, s0: s0, nc: nc, h: h, w: w, oh: oh, ow: ow, col: col)
            let ld = nc * ohw
            gemm(m: oc, n: ld, k: ckk, a: weight.value.pointer, lda: ckk, b: col, ldb: ld, c: tmp, ldc: ld)
            for s in 0..<nc {
                let ys = y.pointer + (s0 + s) * oc * ohw
                for o in 0..<oc {
                    let src = tmp + o * ld + s * ohw, dst = ys + o * ohw, b = bp[o]
                    for p in 0..<ohw { dst[p] = src[p] + b }
                }
            }
            s0 += nc
        }
        input = training ? x : nil
        return y
    }

    public func backward(_ dy: Tensor) throws -> Tensor? {
        guard let x = input else {
            throw EngineError.invalidArgument("layer '\(name)': backward without a training forward pass")
        }
        let (n, h, w, oh, ow) = try check(x)
        let ohw = oh * ow, ckk = inChannels * kernel * kernel, oc = outChannels
        guard dy.shape == [n, oc, oh, ow] else {
            throw EngineError.shapeMismatch(layer: name, message: "gradient shape \(dy.shape), expected \([n, oc, oh, ow])")
        }
        let wantW = !weight.frozen, wantB = !bias.frozen, wantX = needsInputGradient
        if wantB {
            let g = bias.grad.pointer
            for o in 0..<oc { g[o] = 0 }
            for s in 0..<n {
                for o in 0..<oc {
                    let src = dy.pointer + (s * oc + o) * ohw
                    var acc: Float = 0
                    for p in 0..<ohw { acc += src[p] }
                    g[o] += acc
                }
            }
        }
        guard wantW || wantX else { return nil }
        let dx: Tensor? = wantX ? Tensor(zeros: x.shape) : nil
        let cs = chunkSize(n: n, ohw: ohw)
        let col = workspace.buffer(0, count: ckk * cs * ohw)
        let dyT = workspace.buffer(1, count: oc * cs * ohw)
        let dcol = wantX ? workspace.buffer(2, count: ckk * cs * ohw) : col
        var s0 = 0
        var first = true
        while s0 < n {
            let nc = min(cs, n - s0)
            let ld = nc * ohw
            for s in 0..<nc {
                for o in 0..<oc {
                    (dyT + o * ld + s * ohw).update(from: dy.pointer + ((s0 + s) * oc + o) * ohw, count: ohw)
                }
            }
            if wantW {
                im2col(x.pointer, s0: s0, nc: nc, h: h, w: w, oh: oh, ow: ow, col: col)
                gemm(transB: true, m: oc, n: ckk, k: ld, a: dyT, lda: ld, b: col, ldb: ld,
                     beta: first ? 0 : 1, c: weight.grad.pointer, ldc: ckk)
            }
            if let dx {
                gemm(transA: true, m: ckk, n: ld, k: oc, a: weight.value.pointer, lda: ckk, b: dyT, ldb: ld,
                     c: dcol, ldc: ld)
                col2im(dcol, s0: s0, nc: nc, h: h, w: w, oh: oh, ow: ow, dx: dx.pointer)
            }
            first = false
            s0 += nc
        }
        return dx
    }
}
