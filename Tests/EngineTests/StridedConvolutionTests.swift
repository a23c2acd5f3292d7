// Conv2D's strided layers on CDirectConv (Conv2DDirect.swift): a 7×7 stride-2 stem, 11×11 at
// stride 4, 5×5 and 4×4 at stride 2 and a 3×3 stride-2 stem over 3 channels run as the
// stride-1 convolution over their polyphase split (CDirectConv's strided.c): the forward pass
// with each phase's own taps (tlc_strided_conv), training with k' × k' taps for every phase.
// Their inference and training passes against a float64 reference (with odd planes whose last
// rows no window reads), with and without a fused ReLU; a fused batch norm gives bitwise what
// the layers give apart; AVX-512 and AVX2 and 1, 2 or 4 threads give the same bits; 1×1 and
// 3×3 at stride 2 over many channels stay on the BLAS lowering. The split and its adjoint (for
// 1×1 too) against their definitions; tlc_strided_conv against the split's stride-1 convolution.
import CDirectConv
import Foundation
import Testing
@testable import Engine

@Suite(.serialized) struct StridedConvolutionTests {
    static func geometry(_ conv: Conv2D, _ x: Tensor) -> Conv2D.Geo {
        let (h, w) = (x.shape[2], x.shape[3])
        let (oh, ow) = conv.outSize(h, w)
        return Conv2D.Geo(h: h, w: w, oh: oh, ow: ow, c: conv.inChannels, k: conv.kernel, stride: conv.stride, pad: conv.padding)
    }

    /// The float64 reference: y = conv(x) + b, and for an output gradient dy (through the
    /// ReLU of y when `relu`) dW, db and dx.
    static func reference(_ conv: Conv2D, x: Tensor, dy: Tensor?, relu: Bool) -> (y: [Double], dW: [Double], db: [Double], dx: [Double]) {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, k, s, p) = (conv.outChannels, conv.kernel, conv.stride, conv.padding)
        let (oh, ow) = conv.outSize(h, w)
        var y = [Double](repeating: 0, count: n * o * oh * ow)
        var dW = [Double](repeating: 0, count: o * c * k * k), db = [Double](repeating: 0, count: o), dx = [Double](repeating: 0, count: x.count)
        for pass in 0..<(dy == nil ? 1 : 2) {
            for b in 0..<n { for m in 0..<o { for i in 0..<oh { for j in 0..<ow {
                let at = ((b * o + m) * oh + i) * ow + j
                var a = Double(conv.bias.value[m]), d = 0.0
                if pass == 1, let dy { d = !relu || y[at] > 0 ? Double(dy[at]) : 0; db[m] += d }
                for ch in 0..<c { for ki in 0..<k { for kj in 0..<k {
                    let (ii, jj) = (i * s - p + ki, j * s - p + kj)
                    guard ii >= 0, ii < h, jj >= 0, jj < w else { continue }
                    let xi = ((b * c + ch) * h + ii) * w + jj, wi = ((m * c + ch) * k + ki) * k + kj
                    if pass == 0 { a += Double(conv.weight.value[wi]) * Double(x[xi]) }
                    else { dW[wi] += d * Double(x[xi]); dx[xi] += d * Double(conv.weight.value[wi]) }
                } } }
                if pass == 0 { y[at] = relu ? max(a, 0) : a }
            } } } }
        }
        return (y, dW, db, dx)
    }

    static func close(_ a: [Float], _ r: [Double], _ what: String) {
        let scale = r.map(abs).max() ?? 1
        let worst = zip(a, r).map { abs(Double($0) - $1) }.max() ?? 0
        #expect(a.count == r.count && worst <= 1e-5 * max(scale, 1), "\(what): max |Δ| \(worst) for values up to \(scale)")
    }

    /// (inputs, outputs, side, kernel, stride, padding): ResNet's stem (on a small plane),
    /// AlexNet's 11×11 stride-4 stem, 5×5 and 4×4 at stride 2, MobileNetV2's 3×3 stride-2 stem,
    /// and planes whose last row and column no window reads (the split's adjoint gives them 0).
    static let layers = [(3, 16, 30, 7, 2, 3), (3, 10, 39, 11, 4, 2), (5, 9, 17, 5, 2, 2), (4, 12, 16, 4, 2, 1), (3, 32, 19, 3, 2, 1),
                         (6, 7, 13, 5, 2, 0), (2, 5, 20, 7, 2, 2), (3, 6, 22, 8, 3, 1)]

    @Test(arguments: layers)
    func passesMatchAFloat64Reference(c: Int, o: Int, side: Int, k: Int, stride: Int, pad: Int) throws {
        let conv = Conv2D(name: "c", inChannels: c, outChannels: o, kernel: k, stride: stride, padding: pad, rng: SeededGenerator(seed: 3))
        var g = SeededGenerator(seed: 9)
        let x = Tensor(zeros: [3, c, side, side]); g.fillNormal(x, std: 1)
        let geo = Self.geometry(conv, x)
        #expect(tlc_strided_applies(Int32(c), Int32(k), Int32(stride)) == 1)
        #expect(conv.usesDirectConvolution(geo, training: false) == Conv2D.directConvolutionAvailable)
        #expect(conv.trainsDirectly(geo) == (Conv2D.directConvolutionLevel == 2))
        let dy = Tensor(zeros: [3, o, geo.oh, geo.ow]); g.fillNormal(dy, std: 1)
        for relu in [false, true] {
            let r = Self.reference(conv, x: x, dy: dy, relu: relu)
            for level in 1...max(1, Conv2D.directConvolutionLevel) {
                let y = try conv.forward(x, training: false, fusingReLU: relu, batchNorm: nil, level: level)
                Self.close(y.values, r.y, "inference, level \(level), relu \(relu)")
            }
            // The layer's own training pass (on CDirectConv with AVX-512, on BLAS otherwise).
            conv.weight.grad.fill(0); conv.bias.grad.fill(0)
            let y = try conv.forward(x, training: true, fusingReLU: relu)
            Self.close(y.values, r.y, "training, relu \(relu)")
            let dx = try #require(try conv.backward(dy))
            Self.close(conv.weight.grad.values, r.dW, "dW, relu \(relu)")
            Self.close(conv.bias.grad.values, r.db, "db, relu \(relu)")
            Self.close(dx.values, r.dx, "dx, relu \(relu)")
            // CDirectConv's backward at each instruction set.
            guard Conv2D.directConvolutionAvailable else { continue }
            for level in 1...Conv2D.directConvolutionLevel {
                _ = try conv.forward(x, training: true, fusingReLU: relu)
                let t = Tensor(uninitialized: x.shape)
                conv.backwardDirect(dy, x: x, g: geo, dx: t, parts: Parallel.ranges(3), wantW: true, wantB: true, level: level)
                Self.close(conv.weight.grad.values, r.dW, "dW, level \(level), relu \(relu)")
                Self.close(conv.bias.grad.values, r.db, "db, level \(level), relu \(relu)")
                Self.close(t.values, r.dx, "dx, level \(level), relu \(relu)")
            }
        }
    }

    @Test(arguments: [(3, 16, 23, 7, 2, 3), (8, 20, 14, 5, 2, 1), (3, 10, 39, 11, 4, 2), (3, 24, 15, 3, 2, 1)])
    func bothInstructionSetsAndEveryThreadCountGiveTheSameBits(c: Int, o: Int, side: Int, k: Int, stride: Int, pad: Int) throws {
        guard Conv2D.directConvolutionAvailable else { return }
        let conv = Conv2D(name: "c", inChannels: c, outChannels: o, kernel: k, stride: stride, padding: pad, rng: SeededGenerator(seed: 7))
        var g = SeededGenerator(seed: 12)
        let n = 9
        let x = Tensor(zeros: [n, c, side, side]); g.fillNormal(x, std: 1)
        let geo = Self.geometry(conv, x)
        let dy = Tensor(zeros: [n, o, geo.oh, geo.ow]); g.fillNormal(dy, std: 1)
        let threads = Parallel.threads
        defer { Parallel.threads = threads }
        func run(threads: Int, level: Int, relu: Bool) throws -> [[Float]] {
            Parallel.threads = threads
            let inference = try conv.forward(x, training: false, fusingReLU: relu, batchNorm: nil, level: level)
            _ = try conv.forward(x, training: true, fusingReLU: relu, batchNorm: nil, level: level)
            let dx = Tensor(uninitialized: x.shape)
            conv.backwardDirect(dy, x: x, g: geo, dx: dx, parts: Parallel.ranges(n), wantW: true, wantB: true, level: level)
            return [inference.values, conv.weight.grad.values, conv.bias.grad.values, dx.values]
        }
        for relu in [false, true] {
            let reference = try run(threads: 1, level: 1, relu: relu)
            #expect(reference.allSatisfy { $0.contains { $0 != 0 } })
            for level in 1...Conv2D.directConvolutionLevel { for t in [1, 2, 4] {
                #expect(try run(threads: t, level: level, relu: relu) == reference, "level \(level), \(t) threads, relu \(relu)")
            } }
        }
    }

    @Test func aFusedBatchNormAndReLUGiveWhatTheLayersGiveApart() throws {
        let conv = Conv2D(name: "conv1", inChannels: 3, outChannels: 24, kernel: 7, stride: 2, padding: 3, bias: false, rng: SeededGenerator(seed: 6))
        let bn = BatchNorm(name: "bn1", channels: 24)
        var g = SeededGenerator(seed: 8)
        g.fillNormal(bn.weight.value, std: 1); g.fillNormal(bn.bias.value, std: 1); g.fillNormal(bn.runningMean, std: 0.5)
        for i in 0..<24 { bn.runningVar[i] = 0.2 + Float(i) * 0.3 }
        let relu = ReLU(name: "relu")
        let net = Sequential(name: "s", layers: [conv, bn, relu])
        let x = Tensor(zeros: [3, 3, 32, 32]); g.fillNormal(x, std: 1)
        let apart = try relu.forward(bn.forward(conv.forward(x, training: false), training: false), training: false)
        #expect(conv.fusesBatchNorm(x, training: false) == Conv2D.directConvolutionAvailable)
        #expect(try net.forward(x, training: false).values == apart.values)
    }

    /// 3×3 at stride 2 over 8 channels would train over the split with 1.78× its multiply-adds
    /// (BLAS's GEMM is 72 deep), and 1×1 at stride 2 (a 1×1 convolution of the split) measured
    /// slower than BLAS: they stay on BLAS.
    @Test(arguments: [(3, 2, 1), (1, 2, 0), (2, 2, 0), (3, 3, 0)])
    func layersTheSplitDoesNotPayForStayOnBLAS(k: Int, stride: Int, pad: Int) {
        #expect(tlc_strided_applies(8, Int32(k), Int32(stride)) == 0)
        #expect(tlc_strided_applies(64, 7, 1) == 0 && tlc_strided_applies(64, 7, 2) == 1 && tlc_strided_applies(64, 11, 4) == 1)
        #expect(tlc_strided_applies(3, 3, 2) == 1 && tlc_strided_applies(7, 3, 2) == 1 && tlc_strided_applies(3, 1, 2) == 0)
        let conv = Conv2D(name: "c", inChannels: 8, outChannels: 8, kernel: k, stride: stride, padding: pad, rng: SeededGenerator(seed: 1))
        let (oh, ow) = conv.outSize(18, 18)
        let geo = Conv2D.Geo(h: 18, w: 18, oh: oh, ow: ow, c: 8, k: k, stride: stride, pad: pad)
        #expect(conv.directGeometry(geo) == nil && !conv.usesDirectConvolution(geo, training: false) && !conv.trainsDirectly(geo))
    }

    /// tlc_strided_conv (each phase's own taps, in order) against the stride-1 direct convolution
    /// of the split with k' × k' taps for every phase (other sums, the same values within
    /// rounding), for 3×3 at stride 2 over many channels too, where Conv2D does not use it.
    @Test(arguments: [(3, 16, 23, 7, 2, 3), (24, 40, 15, 3, 2, 1), (3, 10, 39, 11, 4, 2)])
    func thePhasesOwnTapsGiveTheSplitsConvolution(c: Int, o: Int, side: Int, k: Int, stride: Int, pad: Int) {
        guard Conv2D.directConvolutionAvailable else { return }
        var g = SeededGenerator(seed: 21)
        let n = 2, out = (side + 2 * pad - k) / stride + 1
        let (r, kk) = (Int(tlc_strided_phases(Int32(k), Int32(stride))), Int(tlc_strided_kernel_size(Int32(k), Int32(stride))))
        let (cs, ss) = (c * r * r, out + kk - 1)
        let w = Tensor(zeros: [o, c, k, k]), b = Tensor(zeros: [o]), x = Tensor(zeros: [n, c, side, side])
        g.fillNormal(w, std: 0.3); g.fillNormal(b, std: 0.3); g.fillNormal(x, std: 1)
        let (c32, o32, k32, s32, p32, side32) = (Int32(c), Int32(o), Int32(k), Int32(stride), Int32(pad), Int32(side))
        var results: [[Float]] = []
        for level in Int32(1)...Int32(Conv2D.directConvolutionLevel) {
            let shape = tlc_strided_conv_shape(o32, c32, side32, side32, k32, s32, p32)
            let packed = Tensor(zeros: [tlc_strided_conv_packed_count(shape, o32, c32, k32)])
            tlc_strided_conv_pack(shape, w.pointer, o32, c32, k32, s32, packed.pointer)
            let scratch = Tensor(zeros: [tlc_strided_conv_scratch_count(shape, o32, c32, side32, side32, k32, s32, p32)])
            let y = Tensor(zeros: [n, o, out, out])
            tlc_strided_conv(level, shape, x.pointer, Int32(n), c32, side32, side32, packed.pointer, b.pointer, o32, k32, s32, p32,
                             nil, nil, nil, 0, .infinity, scratch.pointer, y.pointer)
            results.append(y.values)
        }
        #expect(results.allSatisfy { $0 == results[0] })
        // The split's convolution with W' (zero taps included).
        let split = Tensor(zeros: [n * cs * ss * ss]), wSplit = Tensor(zeros: [o, cs, kk, kk])
        tlc_strided_split(x.pointer, Int32(n), c32, side32, side32, k32, s32, p32, split.pointer)
        tlc_strided_kernel(w.pointer, o32, c32, k32, s32, wSplit.pointer)
        let shape = tlc_direct_conv_shape(o32, Int32(cs), Int32(ss), Int32(ss), Int32(kk), 0)
        let packed = Tensor(zeros: [tlc_direct_conv_packed_count(shape, o32, Int32(cs), Int32(kk))])
        tlc_direct_conv_pack(shape, wSplit.pointer, o32, Int32(cs), Int32(kk), packed.pointer)
        let scratch = Tensor(zeros: [tlc_direct_conv_scratch_count(shape, o32, Int32(cs), Int32(ss), Int32(ss), Int32(kk), 0)])
        let y = Tensor(zeros: [n, o, out, out])
        tlc_direct_conv(1, shape, split.pointer, nil, Int32(n), Int32(cs), Int32(ss), Int32(ss), packed.pointer, b.pointer, o32, Int32(kk), 0,
                        nil, nil, nil, 0, .infinity, scratch.pointer, y.pointer)
        let scale = y.values.map(abs).max() ?? 1
        let worst = zip(results[0], y.values).map { abs($0 - $1) }.max() ?? 0
        #expect(worst <= 1e-5 * scale, "max |Δ| \(worst) for outputs up to \(scale)")
    }

    /// The split is the padded input's polyphase planes, phase-major; merge is its adjoint (⟨split(x), g⟩ = ⟨x, merge(g)⟩).
    @Test(arguments: [(7, 2, 3, 15), (1, 2, 0, 9), (11, 4, 2, 27), (2, 2, 0, 8)])
    func theSplitAndItsAdjoint(k: Int, stride: Int, pad: Int, side: Int) {
        let (n, c) = (2, 3), r = Int(tlc_strided_phases(Int32(k), Int32(stride))), kk = Int(tlc_strided_kernel_size(Int32(k), Int32(stride)))
        let o = (side + 2 * pad - k) / stride + 1, sh = o + kk - 1
        let count = Int(tlc_strided_split_count(Int32(c), Int32(side), Int32(side), Int32(k), Int32(stride), Int32(pad)))
        #expect(count == c * r * r * sh * sh)
        var g = SeededGenerator(seed: 2)
        let x = Tensor(zeros: [n, c, side, side]), split = Tensor(zeros: [n * count]), back = Tensor(zeros: [n * count]), merged = Tensor(zeros: x.shape)
        g.fillNormal(x, std: 1); g.fillNormal(back, std: 1)
        tlc_strided_split(x.pointer, Int32(n), Int32(c), Int32(side), Int32(side), Int32(k), Int32(stride), Int32(pad), split.pointer)
        for b in 0..<n { for ch in 0..<c { for pr in 0..<r { for pc in 0..<r { for u in 0..<sh { for v in 0..<sh {
            let (i, j) = (stride * u + pr - pad, stride * v + pc - pad)
            let expected = i >= 0 && i < side && j >= 0 && j < side ? x[((b * c + ch) * side + i) * side + j] : 0
            #expect(split[((((b * r + pr) * r + pc) * c + ch) * sh + u) * sh + v] == expected)
        } } } } } }
        tlc_strided_merge(back.pointer, Int32(n), Int32(c), Int32(side), Int32(side), Int32(k), Int32(stride), Int32(pad), merged.pointer)
        let lhs = zip(split.values, back.values).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let rhs = zip(x.values, merged.values).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        #expect(abs(lhs - rhs) <= 1e-9 * max(1, abs(lhs)))
    }
}
