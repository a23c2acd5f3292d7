// Conv2D's training passes on CDirectConv (stride 1, padding < kernel; chosen on AVX-512,
// both instruction sets' kernels checked): the weight, bias and input gradients against a float64 reference, with and without a fused ReLU, over
// odd planes, valid and same padding, 1×1 kernels and channel counts that leave tiles
// partly empty, and Winograd geometries (forward, dx and dW); bitwise the same with AVX-512 or AVX2 and with 1, 2 or 4 threads;
// both gradients in one call (dy copied once for both where Winograd runs them) bitwise what the two calls give;
// a Conv2D, ReLU and 2×2 max pool trained as one (Winograd's epilogue) bitwise the three layers apart.
import CDirectConv
import Foundation
import Testing
@testable import Engine

@Suite(.serialized) struct DirectConvolutionTrainingTests {
    /// One training step's gradients: (dW, db, dx).
    static func gradients(_ conv: Conv2D, x: Tensor, dy: Tensor, relu: Bool, level: Int? = nil) throws -> ([Float], [Float], [Float]) {
        _ = try conv.forward(x, training: true, fusingReLU: relu)
        let dx: Tensor?
        if let level {
            let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
            let (oh, ow) = (h + 2 * conv.padding - conv.kernel + 1, w + 2 * conv.padding - conv.kernel + 1)
            let g = Conv2D.Geo(h: h, w: w, oh: oh, ow: ow, c: c, k: conv.kernel, stride: 1, pad: conv.padding)
            let t = Tensor(uninitialized: x.shape)
            conv.backwardDirect(dy, x: x, g: g, dx: t, parts: Parallel.ranges(n), wantW: true, wantB: true, level: level)
            dx = t
        } else {
            dx = try conv.backward(dy)
        }
        return (conv.weight.grad.values, conv.bias.grad.values, dx?.values ?? [])
    }

    /// (inputs, outputs, side, kernel, padding)
    @Test(arguments: [(1, 32, 28, 3, 1), (6, 16, 14, 5, 0), (3, 7, 9, 3, 1), (13, 5, 6, 1, 0), (4, 9, 11, 5, 2), (2, 3, 5, 3, 2),
                      (64, 64, 4, 3, 1), (128, 96, 8, 3, 1), (256, 64, 2, 3, 1), (3, 16, 64, 3, 1), (16, 8, 32, 3, 1), (8, 8, 48, 3, 1),
                      // Winograd F(2×2, 3×3) for the forward pass, dx and dW (tile shape 3); the third one's
                      // 288 tiles make three of the weight gradient's blocks, one across the samples:
                      (64, 72, 12, 3, 1), (64, 64, 11, 3, 2), (32, 40, 24, 3, 1), (64, 64, 16, 3, 1), (128, 128, 8, 3, 1),
                      // 1×1 over planes of whole tiles: x and dy read in place, dx written into place (16 channels) or not (12):
                      (16, 24, 8, 1, 0), (12, 16, 8, 1, 0)])
    func gradientsMatchAFloat64Reference(c: Int, o: Int, side: Int, k: Int, pad: Int) throws {
        guard Conv2D.directConvolutionAvailable else { return }
        let conv = Conv2D(name: "c", inChannels: c, outChannels: o, kernel: k, stride: 1, padding: pad, rng: SeededGenerator(seed: 3))
        let out = side + 2 * pad - k + 1, n = 2
        // AVX-512 trains every such geometry directly; AVX2 only those Winograd runs in all three passes.
        let winograd = k == 3 && c >= 32 && o >= 32 && out >= 7
        // 1×1 layers train as OpenBLAS GEMMs on CPUs that prefer them (Conv2DPointwise.swift); their direct passes are checked below all the same.
        let pointwise = k == 1 && pad == 0 && Conv2D.pointwiseOnBLAS
        #expect(conv.trainsDirectly(Conv2D.Geo(h: side, w: side, oh: out, ow: out, c: c, k: k, stride: 1, pad: pad))
                == (!pointwise && (Conv2D.directConvolutionLevel == 2 || (Conv2D.directConvolutionLevel == 1 && winograd))))
        var g = SeededGenerator(seed: 11)
        let x = Tensor(zeros: [n, c, side, side]), dy = Tensor(zeros: [n, o, out, out])
        g.fillNormal(x, std: 1); g.fillNormal(dy, std: 1)
        for relu in [false, true] {
            let y = try conv.forward(x, training: false, fusingReLU: relu)
            // The reference: dy through the ReLU's mask, then the three sums in float64.
            var gy = [Double](repeating: 0, count: dy.count)
            for i in 0..<dy.count { gy[i] = !relu || y[i] > 0 ? Double(dy[i]) : 0 }
            var rW = [Double](repeating: 0, count: o * c * k * k), rb = [Double](repeating: 0, count: o)
            var rx = [Double](repeating: 0, count: x.count)
            for s in 0..<n { for m in 0..<o { for i in 0..<out { for j in 0..<out {
                let d = gy[((s * o + m) * out + i) * out + j]
                rb[m] += d
                for ch in 0..<c { for ki in 0..<k { for kj in 0..<k {
                    let (ii, jj) = (i - pad + ki, j - pad + kj)
                    guard ii >= 0, ii < side, jj >= 0, jj < side else { continue }
                    let xi = ((s * c + ch) * side + ii) * side + jj, wi = ((m * c + ch) * k + ki) * k + kj
                    rW[wi] += d * Double(x[xi])
                    rx[xi] += d * Double(conv.weight.value[wi])
                } } }
            } } } }
            func close(_ a: [Float], _ r: [Double], _ what: String) {
                let scale = r.map(abs).max() ?? 1
                let worst = zip(a, r).map { abs(Double($0) - $1) }.max() ?? 0
                #expect(a.count == r.count && worst <= 1e-5 * max(scale, 1), "\(what), relu \(relu): max |Δ| \(worst) for values up to \(scale)")
            }
            for level in 1...Conv2D.directConvolutionLevel {
                let (dW, db, dx) = try Self.gradients(conv, x: x, dy: dy, relu: relu, level: level)
                close(dW, rW, "dW, level \(level)"); close(db, rb, "db, level \(level)"); close(dx, rx, "dx, level \(level)")
            }
        }
    }

    @Test(arguments: [(3, 20, 7, 3, 1), (16, 24, 14, 3, 1), (2, 9, 28, 5, 2), (8, 17, 5, 1, 0), (64, 64, 12, 3, 1), (16, 24, 8, 1, 0),
                      // Winograd, each part's weight gradient over two or three blocks of tiles:
                      (32, 48, 19, 3, 1), (48, 40, 14, 3, 1)])
    func bothInstructionSetsAndEveryThreadCountGiveTheSameBits(c: Int, o: Int, side: Int, k: Int, pad: Int) throws {
        guard Conv2D.directConvolutionAvailable else { return }
        let conv = Conv2D(name: "c", inChannels: c, outChannels: o, kernel: k, stride: 1, padding: pad, rng: SeededGenerator(seed: 7))
        let out = side + 2 * pad - k + 1, n = 9
        var g = SeededGenerator(seed: 12)
        let x = Tensor(zeros: [n, c, side, side]), dy = Tensor(zeros: [n, o, out, out])
        g.fillNormal(x, std: 1); g.fillNormal(dy, std: 1)
        let threads = Parallel.threads
        defer { Parallel.threads = threads }
        for relu in [false, true] {
            Parallel.threads = 1
            let reference = try Self.gradients(conv, x: x, dy: dy, relu: relu)
            #expect(reference.0.contains { $0 != 0 } && reference.2.contains { $0 != 0 })
            for t in [2, 4] {
                Parallel.threads = t
                let other = try Self.gradients(conv, x: x, dy: dy, relu: relu)
                #expect(other.0 == reference.0 && other.1 == reference.1 && other.2 == reference.2, "\(t) threads, relu \(relu)")
            }
            // CDirectConv's passes at each instruction set: the same bits, and the layer's own when it trains on them.
            let direct = try Self.gradients(conv, x: x, dy: dy, relu: relu, level: 1)
            for level in 1...Conv2D.directConvolutionLevel {
                let other = try Self.gradients(conv, x: x, dy: dy, relu: relu, level: level)
                #expect(other.0 == direct.0 && other.1 == direct.1 && other.2 == direct.2, "level \(level), relu \(relu)")
            }
            if conv.trainsDirectly(Conv2D.Geo(h: side, w: side, oh: out, ow: out, c: c, k: k, stride: 1, pad: pad)) {
                #expect(direct.0 == reference.0 && direct.1 == reference.1 && direct.2 == reference.2, "the layer's backward, relu \(relu)")
            }
        }
    }

    /// tlc_direct_conv_backward gives the bits of tlc_direct_conv_weight_grad and tlc_direct_conv
    /// apart, with and without a mask and db: Winograd at padding 1 in 4×4 tiles (28², 8², 15², 7²,
    /// and 14² with 128 channels) and 2×2 ones (9²), one copy of dy for both; dx's blocks and the
    /// weight gradient's over several samples each, planes of whole and partial tiles; and
    /// geometries it passes on to the two calls (padding 0: dW in 2×2 tiles at 12², in 4×4 ones
    /// at 18², with dx in 2×2 ones at padding 2; a 5×5 kernel).
    @Test(arguments: [(32, 32, 28, 3, 1, 5), (32, 48, 8, 3, 1, 13), (40, 33, 15, 3, 1, 7), (64, 64, 7, 3, 1, 3), (35, 32, 9, 3, 1, 1),
                      (128, 128, 14, 3, 1, 2), (32, 40, 12, 3, 0, 4), (32, 32, 18, 3, 0, 3), (8, 12, 10, 5, 2, 3)])
    func bothGradientsInOneCallGiveTheBitsOfTheTwoCalls(c: Int, o: Int, side: Int, k: Int, pad: Int, n: Int) throws {
        guard Conv2D.directConvolutionAvailable else { return }
        var g = SeededGenerator(seed: 21)
        let out = side + 2 * pad - k + 1, tpad = Int32(k - 1 - pad)
        let (c32, o32, k32, s32, out32) = (Int32(c), Int32(o), Int32(k), Int32(side), Int32(out))
        let x = Tensor(zeros: [n, c, side, side]), dy = Tensor(zeros: [n, o, out, out]), mask = Tensor(zeros: dy.shape)
        let w = Tensor(zeros: [c, o, k, k])   // dx's kernel: flipped and transposed, as the layer packs it
        g.fillNormal(x, std: 1); g.fillNormal(dy, std: 1); g.fillNormal(mask, std: 1); g.fillNormal(w, std: 0.3)
        // dx in the tiles a forward pass of its geometry takes, as the layer runs it; dW in those of the layer's forward pass.
        let shape = tlc_direct_conv_forward_shape(c32, o32, out32, out32, k32, tpad)
        let dWShape = tlc_direct_conv_forward_shape(o32, c32, s32, s32, k32, Int32(pad))
        #expect((shape >= 3) == (k == 3 && pad < 2))
        if k == 3 { #expect(dWShape == ([9, 12].contains(side) ? 3 : 4), "dW's tiles") }   // 2×2 ones at 9² (padding 1) and 12² (padding 0)
        let packed = Tensor(zeros: [tlc_direct_conv_packed_count(shape, c32, o32, k32)])
        tlc_direct_conv_pack(shape, w.pointer, c32, o32, k32, packed.pointer)
        let gradScratch = Tensor(zeros: [tlc_direct_conv_weight_grad_scratch_count(o32, c32, s32, s32, k32, Int32(pad))])
        let dxScratch = Tensor(zeros: [tlc_direct_conv_scratch_count(shape, c32, o32, out32, out32, k32, tpad)])
        for level in Int32(1)...Int32(Conv2D.directConvolutionLevel) {
            for masked in [false, true] {
                for withBias in [false, true] {
                    var results: [[Float]] = []
                    for together in [false, true] {
                        let dW = Tensor(zeros: [o, c, k, k]), db = Tensor(zeros: [o]), dx = Tensor(zeros: x.shape)
                        dW.pointer.update(repeating: .nan, count: dW.count); dx.pointer.update(repeating: .nan, count: dx.count)
                        let m = masked ? UnsafePointer(mask.pointer) : nil, b = withBias ? db.pointer : nil
                        if together {
                            tlc_direct_conv_backward(level, x.pointer, dy.pointer, m, Int32(n), c32, s32, s32, o32, k32, Int32(pad),
                                                     gradScratch.pointer, dW.pointer, b, shape, packed.pointer, dxScratch.pointer, dx.pointer)
                        } else {
                            tlc_direct_conv_weight_grad(level, x.pointer, dy.pointer, m, Int32(n), c32, s32, s32, o32, k32, Int32(pad),
                                                        gradScratch.pointer, dW.pointer, b)
                            tlc_direct_conv(level, shape, dy.pointer, m, Int32(n), o32, out32, out32, packed.pointer, nil, c32, k32, tpad,
                                            nil, nil, nil, 0, .infinity, dxScratch.pointer, dx.pointer)
                        }
                        results.append(dW.values + db.values + dx.values)
                    }
                    #expect(bitwiseMismatch(results[0], results[1]) == nil, "level \(level), masked \(masked), db \(withBias)")
                    #expect(!results[0].contains { $0.isNaN } && results[0].contains { $0 != 0 })
                }
            }
        }
    }

    /// (inputs, outputs, side): a Conv2D (3×3, padding 1), a ReLU and a 2×2 max pool at stride 2
    /// in a Sequential — one step in Winograd's epilogue where the planes are even — give the
    /// output, the weight, bias and input gradients of the three layers run apart, bitwise;
    /// an odd plane (15²) runs apart in the Sequential too.
    @Test(arguments: [(32, 32, 28), (32, 64, 14), (40, 36, 8), (64, 48, 10), (32, 32, 15)])
    func aConvolutionReLUAndPoolTrainedAsOneGiveTheBitsOfTheLayersApart(c: Int, o: Int, side: Int) throws {
        let conv = Conv2D(name: "c", inChannels: c, outChannels: o, kernel: 3, stride: 1, padding: 1, rng: SeededGenerator(seed: 31))
        let relu = ReLU(name: "r"), pool = MaxPool2D(name: "p", size: 2, stride: 2)
        let net = Sequential(name: "s", layers: [conv, relu, pool])
        _ = net.configureGradients(upstreamTrainable: true)
        var g = SeededGenerator(seed: 32)
        let n = 5, half = side / 2
        let x = Tensor(zeros: [n, c, side, side]), dy = Tensor(zeros: [n, o, half, half])
        g.fillNormal(x, std: 1); g.fillNormal(dy, std: 1)
        let fused = conv.poolsInEpilogue(x, pool, training: true)
        #expect(fused == (Conv2D.directConvolutionAvailable && side % 2 == 0))
        #expect(!conv.poolsInEpilogue(x, pool, training: false))

        let y = try net.forward(x, training: true)
        let dx = try #require(try net.backward(dy))
        let together = (y.values, conv.weight.grad.values, conv.bias.grad.values, dx.values)

        // After a fused pass the layers' own backward passes, one by one, give the same too (the
        // pool's passes dy only where its output is positive, the ReLU's passes it through).
        _ = try net.forward(x, training: true)
        #expect(pool.ranInEpilogue == fused)
        let dPoolFused = try #require(try pool.backward(dy))
        let dReLUFused = try #require(try relu.backward(dPoolFused))
        let dxFused = try #require(try conv.backward(dReLUFused))
        #expect(bitwiseMismatch(dxFused.values, together.3) == nil)
        #expect(bitwiseMismatch(conv.weight.grad.values + conv.bias.grad.values, together.1 + together.2) == nil)

        let yApart = try pool.forward(try relu.forward(try conv.forward(x, training: true), training: true), training: true)
        let dPool = try #require(try pool.backward(dy))
        let dReLU = try #require(try relu.backward(dPool))
        let dxApart = try #require(try conv.backward(dReLU))
        #expect(bitwiseMismatch(yApart.values, together.0) == nil)
        #expect(bitwiseMismatch(conv.weight.grad.values + conv.bias.grad.values, together.1 + together.2) == nil)
        #expect(bitwiseMismatch(dxApart.values, together.3) == nil)
        #expect(together.0.contains { $0 == 0 } && together.0.contains { $0 > 0 } && together.3.contains { $0 != 0 })
    }
}
