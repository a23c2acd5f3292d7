// Conv2D's direct convolution (CDirectConv, on CPUs with AVX-512 or AVX2; 1×1 layers there
// unless the CPU prefers OpenBLAS's GEMMs): inference passes of stride-1 layers against a float64 reference and against the training pass, with and without padding, bias and a fused ReLU (Winograd
// F(2×2, 3×3) and F(4×4, 3×3) geometries too; where training runs directly, the same bits); a frozen layer's
// training pass is its inference pass; every tile shape, with AVX-512 or AVX2, gives
// bitwise the same result, and so does Winograd's with either set and any cut of the samples;
// a batch norm and ReLU fused into the epilogue give bitwise what the layers give apart, and so
// do a ReLU and a 2×2 max pool in Winograd's epilogue (the pooled values and the winners).
import CDirectConv
import CPooling
import Foundation
import Testing
@testable import Engine

@Suite struct DirectConvolutionTests {
    /// (inputs, outputs, side, kernel, padding): odd sizes, fewer outputs than a tile, several tiles.
    @Test(arguments: [(1, 6, 28, 5, 2), (6, 16, 14, 5, 0), (32, 32, 28, 3, 1), (3, 20, 9, 3, 1), (64, 70, 7, 3, 1), (5, 13, 6, 1, 0),
                      (64, 72, 14, 3, 1), (72, 64, 11, 3, 2), (96, 80, 10, 3, 0),
                      // Winograd inference in 4×4 tiles, the last ones partly outside the plane (15², and 10² with 128+ channels):
                      (40, 36, 13, 3, 2), (128, 136, 10, 3, 1),
                      // 1×1 over planes of whole tiles: read in place, and written straight into y (16 channels) or not (12).
                      (24, 16, 8, 1, 0), (16, 12, 8, 1, 0)])
    func inferenceMatchesAFloat64Reference(c: Int, o: Int, side: Int, k: Int, pad: Int) throws {
        let conv = Conv2D(name: "c", inChannels: c, outChannels: o, kernel: k, stride: 1, padding: pad, rng: SeededGenerator(seed: 3))
        let geo = Conv2D.Geo(h: side, w: side, oh: side + 2 * pad - k + 1, ow: side + 2 * pad - k + 1, c: c, k: k, stride: 1, pad: pad)
        // 1×1 layers run as OpenBLAS GEMMs on CPUs that prefer them (Conv2DPointwise.swift).
        let pointwise = k == 1 && pad == 0 && Conv2D.pointwiseOnBLAS
        #expect(conv.usesDirectConvolution(geo, training: false) == (Conv2D.directConvolutionAvailable && !pointwise))
        // AVX-512 trains every such geometry directly; AVX2 only those Winograd runs in all three passes.
        let winograd = k == 3 && c >= 32 && o >= 32 && geo.oh >= 7
        #expect(conv.trainsDirectly(geo) == (!pointwise && pad < k && (Conv2D.directConvolutionLevel == 2 || (Conv2D.directConvolutionLevel == 1 && winograd))))
        #expect(conv.usesDirectConvolution(geo, training: true) == conv.trainsDirectly(geo))
        var g = SeededGenerator(seed: 9)
        let x = Tensor(zeros: [3, c, side, side]); g.fillNormal(x, std: 1)
        let (oh, ow) = (geo.oh, geo.ow)
        // A forward pass in Winograd's 4×4 tiles: their worst float32 error is 15–26× that of 2×2 tiles (measured
        // up to 1.5e-5 of the largest output at 512 channels). A training pass that runs directly takes the same tiles.
        let fourByFour = Conv2D.directConvolutionAvailable
            && tlc_direct_conv_forward_shape(Int32(o), Int32(c), Int32(side), Int32(side), Int32(k), Int32(pad)) == 4
        let tolerance = fourByFour ? 4e-5 : 1e-5
        for relu in [false, true] {
            let y = try conv.forward(x, training: false, fusingReLU: relu)
            let trained = try conv.forward(x, training: true, fusingReLU: relu)
            #expect(y.shape == [3, o, oh, ow])
            var worst = 0.0, scale = 0.0, apart: Float = 0
            for s in 0..<3 { for m in 0..<o { for i in 0..<oh { for j in 0..<ow {
                var a = Double(conv.bias.value[m])
                for ch in 0..<c { for ki in 0..<k { for kj in 0..<k {
                    let (ii, jj) = (i - pad + ki, j - pad + kj)
                    guard ii >= 0, ii < side, jj >= 0, jj < side else { continue }
                    a += Double(conv.weight.value[((m * c + ch) * k + ki) * k + kj]) * Double(x[((s * c + ch) * side + ii) * side + jj])
                } } }
                if relu { a = max(a, 0) }
                let index = ((s * o + m) * oh + i) * ow + j
                worst = max(worst, abs(a - Double(y[index]))); scale = max(scale, abs(a))
                apart = max(apart, abs(y[index] - trained[index]))
            } } } }
            #expect(worst <= tolerance * scale, "relu \(relu): max |Δ| \(worst) for outputs up to \(scale)")
            #expect(Double(apart) <= (tolerance + 1e-5) * scale, "relu \(relu): inference and training passes \(apart) apart")
            if conv.usesDirectConvolution(geo, training: true) { #expect(apart == 0, "relu \(relu): inference and training passes \(apart) apart") }
            // CDirectConv's own pass at each instruction set, also for the 1×1 layers a CPU that prefers OpenBLAS runs there.
            guard Conv2D.directConvolutionAvailable else { continue }
            for level in 1...Conv2D.directConvolutionLevel {
                let direct = Tensor(uninitialized: y.shape)
                conv.forwardDirect(x.pointer, g: geo, n: 3, y: direct.pointer, fusingReLU: relu, batchNorm: nil, ceiling: nil,
                                   level: level)
                let far = zip(direct.values, y.values).map { Double(abs($0 - $1)) }.max() ?? 0
                #expect(far <= 2e-5 * scale, "relu \(relu), level \(level): the direct pass \(far) from the layer's")
                if !pointwise { #expect(direct.values == y.values, "relu \(relu), level \(level)") }
            }
        }
    }

    /// Bitwise, also where the forward pass runs Winograd in 4×4 tiles (32 → 32 at 28²).
    @Test(arguments: [(4, 12, 10), (32, 32, 28)])
    func aFrozenLayersTrainingPassIsItsInferencePass(c: Int, o: Int, side: Int) throws {
        let conv = Conv2D(name: "c", inChannels: c, outChannels: o, kernel: 3, stride: 1, padding: 1, rng: SeededGenerator(seed: 5))
        conv.weight.frozen = true; conv.bias.frozen = true
        var g = SeededGenerator(seed: 2)
        let x = Tensor(zeros: [2, c, side, side]); g.fillNormal(x, std: 1)
        #expect(try conv.forward(x, training: true).values == conv.forward(x, training: false).values)
    }

    /// (inputs, outputs, side, kernel, padding) over planes where the tile shapes differ in waste.
    @Test(arguments: [(3, 20, 7, 3, 1), (16, 24, 14, 3, 1), (2, 9, 28, 5, 2), (8, 17, 5, 1, 0),
                      // 1×1 read in place by the 32- and 16-position tiles but copied by the 48-position one:
                      (24, 16, 16, 1, 0), (16, 12, 16, 1, 0)])
    func everyTileShapeAndInstructionSetGivesTheSameBits(c: Int, o: Int, side: Int, k: Int, pad: Int) throws {
        guard Conv2D.directConvolutionAvailable else { return }
        var g = SeededGenerator(seed: 4)
        let w = Tensor(zeros: [o, c, k, k]), b = Tensor(zeros: [o]), x = Tensor(zeros: [2, c, side, side])
        g.fillNormal(w, std: 0.3); g.fillNormal(b, std: 0.3); g.fillNormal(x, std: 1)
        let out = side + 2 * pad - k + 1
        var results: [[Float]] = []
        for shape in Int32(0)...2 { for level in Int32(1)...Int32(Conv2D.directConvolutionLevel) {
            let packed = Tensor(zeros: [tlc_direct_conv_packed_count(shape, Int32(o), Int32(c), Int32(k))])
            tlc_direct_conv_pack(shape, w.pointer, Int32(o), Int32(c), Int32(k), packed.pointer)
            let scratch = Tensor(zeros: [tlc_direct_conv_scratch_count(shape, Int32(o), Int32(c), Int32(side), Int32(side), Int32(k), Int32(pad))])
            let y = Tensor(zeros: [2, o, out, out])
            tlc_direct_conv(level, shape, x.pointer, nil, 2, Int32(c), Int32(side), Int32(side), packed.pointer, b.pointer, Int32(o), Int32(k), Int32(pad),
                            nil, nil, nil, 1, .infinity, scratch.pointer, y.pointer)
            results.append(y.values)
        } }
        #expect(results.allSatisfy { $0 == results[0] })
        #expect(results[0].contains { $0 > 0 } && results[0].contains { $0 == 0 })
    }

    /// Winograd F(2×2, 3×3) (tile shape 3) where it pays, the direct tiles elsewhere; forward
    /// passes in F(4×4, 3×3) (tile shape 4) where its tiles cover the plane about as tightly or
    /// both sides have 128 channels or more.
    @Test func winogradRunsForThreeByThreeKernelsWithEnoughChannels() {
        for (o, c, side, forward) in [(64, 64, 14, 3), (64, 32, 14, 3), (256, 256, 14, 4), (128, 256, 56, 4), (32, 32, 28, 4), (512, 512, 7, 4)] {
            #expect(tlc_direct_conv_shape(Int32(o), Int32(c), Int32(side), Int32(side), 3, 1) == 3)
            #expect(tlc_direct_conv_forward_shape(Int32(o), Int32(c), Int32(side), Int32(side), 3, 1) == forward)
        }
        #expect(tlc_direct_conv_forward_shape(16, 32, 28, 28, 3, 1) < 3)
        #expect(tlc_direct_conv_forward_shape(64, 64, 14, 14, 5, 2) < 3)
        #expect(tlc_direct_conv_shape(16, 32, 28, 28, 3, 1) < 3)      // too few channels: the transforms cost more
        #expect(tlc_direct_conv_shape(64, 64, 5, 5, 3, 1) < 3)        // too small a plane
        #expect(tlc_direct_conv_shape(64, 64, 14, 14, 5, 2) < 3)
    }

    /// The kernel packed in shares of its output channels (one per worker) is the kernel packed
    /// at once, for the direct tiles and both Winograd tiles.
    @Test(arguments: [(8, 20, 28, 3, 1, 0), (24, 40, 9, 5, 2, 1), (64, 72, 14, 3, 1, 3), (64, 80, 28, 3, 1, 4), (32, 48, 7, 3, 1, 4)])
    func aKernelPackedInSharesIsTheKernelPackedAtOnce(c: Int, o: Int, side: Int, k: Int, pad: Int, shape: Int32) throws {
        guard Conv2D.directConvolutionAvailable else { return }
        var g = SeededGenerator(seed: 7)
        let w = Tensor(zeros: [o, c, k, k]); g.fillNormal(w, std: 0.3)
        let count = tlc_direct_conv_packed_count(shape, Int32(o), Int32(c), Int32(k))
        let whole = Tensor(zeros: [count])
        tlc_direct_conv_pack(shape, w.pointer, Int32(o), Int32(c), Int32(k), whole.pointer)
        #expect(whole.values.contains { $0 != 0 })
        for parts in [2, 3, 4] {
            let shares = Tensor(zeros: [count]); shares.pointer.update(repeating: .nan, count: count)
            for part in 0..<parts {
                tlc_direct_conv_pack_part(shape, w.pointer, Int32(o), Int32(c), Int32(k), Int32(part), Int32(parts), shares.pointer)
            }
            #expect(shares.values == whole.values, "\(parts) parts")
        }
    }

    /// Winograd with AVX-512 or AVX2, and over the samples one call at a time or all at once
    /// (its blocks of tiles run across samples), gives bitwise the same result, in 2×2 tiles
    /// (shape 3: the backward pass's dx, and forward passes 4×4 tiles do not suit) or 4×4 (shape 4, forward passes).
    @Test(arguments: [(64, 72, 14, 1, 3), (80, 64, 11, 2, 3), (64, 64, 12, 0, 3), (36, 48, 13, 2, 4), (128, 128, 9, 1, 4)])
    func winogradGivesTheSameBitsWithEitherInstructionSetAndAnyCutOfTheSamples(c: Int, o: Int, side: Int, pad: Int, shape: Int32) throws {
        guard Conv2D.directConvolutionAvailable else { return }
        var g = SeededGenerator(seed: 5)
        let n = 5, out = side + 2 * pad - 2
        #expect(tlc_direct_conv_forward_shape(Int32(o), Int32(c), Int32(side), Int32(side), 3, Int32(pad)) == shape)
        let w = Tensor(zeros: [o, c, 3, 3]), b = Tensor(zeros: [o]), x = Tensor(zeros: [n, c, side, side]), mask = Tensor(zeros: x.shape)
        g.fillNormal(w, std: 0.3); g.fillNormal(b, std: 0.3); g.fillNormal(x, std: 1); g.fillNormal(mask, std: 1)
        let packed = Tensor(zeros: [tlc_direct_conv_packed_count(shape, Int32(o), Int32(c), 3)])
        tlc_direct_conv_pack(shape, w.pointer, Int32(o), Int32(c), 3, packed.pointer)
        let scratch = Tensor(zeros: [tlc_direct_conv_scratch_count(shape, Int32(o), Int32(c), Int32(side), Int32(side), 3, Int32(pad))])
        let (inCount, outCount) = (c * side * side, o * out * out)
        for masked in [false, true] {
            var results: [[Float]] = []
            for level in Int32(1)...Int32(Conv2D.directConvolutionLevel) {
                for cut in [n, 2, 1] {
                    let y = Tensor(zeros: [n, o, out, out])
                    for s0 in stride(from: 0, to: n, by: cut) {
                        let count = min(cut, n - s0)
                        tlc_direct_conv(level, shape, x.pointer + s0 * inCount, masked ? mask.pointer + s0 * inCount : nil, Int32(count), Int32(c),
                                        Int32(side), Int32(side), packed.pointer, masked ? nil : b.pointer, Int32(o), 3, Int32(pad),
                                        nil, nil, nil, masked ? 0 : 1, .infinity, scratch.pointer, y.pointer + s0 * outCount)
                    }
                    results.append(y.values)
                }
            }
            #expect(results.allSatisfy { $0 == results[0] }, "masked \(masked)")
            #expect(results[0].contains { $0 > 0 } && results[0].contains { $0 < 0 } == masked)
        }
    }

    /// tlc_direct_conv_relu_pool gives bitwise the pooled values and winners of tlc_direct_conv
    /// with a ReLU and then tlc_max_pool (2×2 at stride 2), with AVX-512 or AVX2, in 2×2 tiles
    /// and in 4×4 ones (28², 8²; 10² and 14² at 128 channels, whose last tiles hold one pooled
    /// row and column past the plane); ties (a band of zero input, whose windows are all zero
    /// after the ReLU) go to the first.
    @Test(arguments: [(32, 32, 28, 5), (32, 64, 14, 3), (64, 64, 14, 7), (40, 36, 8, 2), (64, 70, 10, 1), (128, 128, 10, 3), (128, 136, 14, 2)])
    func aReLUAndPoolInWinogradsEpilogueGiveTheBitsOfTheConvolutionAndThePool(c: Int, o: Int, side: Int, n: Int) throws {
        guard Conv2D.directConvolutionAvailable else { return }
        var g = SeededGenerator(seed: 13)
        let half = side / 2
        let w = Tensor(zeros: [o, c, 3, 3]), b = Tensor(zeros: [o]), x = Tensor(zeros: [n, c, side, side])
        g.fillNormal(w, std: 0.1); g.fillNormal(b, std: 0.3); g.fillNormal(x, std: 1)
        x.pointer.update(repeating: 0, count: x.count / 10)
        let (c32, o32, s32) = (Int32(c), Int32(o), Int32(side))
        let shape = tlc_direct_conv_forward_shape(o32, c32, s32, s32, 3, 1)
        // 4×4 tiles where they cover the plane as tightly as 2×2 ones (a side divisible by 4) or both sides have 128+ channels.
        #expect(shape == (side % 4 == 0 || min(c, o) >= 128 ? 4 : 3) && tlc_direct_conv_pools(shape, s32, s32, 3, 1) == 1)
        #expect(tlc_direct_conv_pools(shape, s32 + 1, s32 + 1, 3, 1) == 0 && tlc_direct_conv_pools(0, s32, s32, 3, 1) == 0)
        let packed = Tensor(zeros: [tlc_direct_conv_packed_count(shape, o32, c32, 3)])
        tlc_direct_conv_pack(shape, w.pointer, o32, c32, 3, packed.pointer)
        let scratch = Tensor(zeros: [tlc_direct_conv_scratch_count(shape, o32, c32, s32, s32, 3, 1)])
        for level in Int32(1)...Int32(Conv2D.directConvolutionLevel) {
            let y = Tensor(zeros: [n, o, side, side]), pooled = Tensor(zeros: [n, o, half, half]), fused = Tensor(zeros: pooled.shape)
            tlc_direct_conv(level, shape, x.pointer, nil, Int32(n), c32, s32, s32, packed.pointer, b.pointer, o32, 3, 1, nil, nil, nil, 1,
                            .infinity, scratch.pointer, y.pointer)
            var winners = [Int32](repeating: 0, count: pooled.count), fusedWinners = [Int32](repeating: -1, count: pooled.count)
            tlc_max_pool(y.pointer, n * o, s32, s32, Int32(half), Int32(half), 2, 2, 0, pooled.pointer, &winners)
            fused.pointer.update(repeating: .nan, count: fused.count)
            tlc_direct_conv_relu_pool(level, shape, x.pointer, Int32(n), c32, s32, s32, packed.pointer, b.pointer, o32, 3, 1, scratch.pointer,
                                      fused.pointer, &fusedWinners)
            #expect(bitwiseMismatch(fused.values, pooled.values) == nil, "level \(level)")
            #expect(fusedWinners.elementsEqual(winners), "level \(level)")
            #expect(pooled.values.contains { $0 == 0 } && pooled.values.contains { $0 > 0 })

            // Backward from the pooled gradient: the layer's gradients and dx of the gradient the pool's
            // and the ReLU's backward passes give (0 + dy at each winner whose output is positive, 0 elsewhere).
            let dyPooled = Tensor(zeros: pooled.shape); g.fillNormal(dyPooled, std: 1)
            for q in stride(from: 0, to: dyPooled.count, by: 7) { dyPooled[q] = -0.0 }
            let full = Tensor(zeros: y.shape)
            for plane in 0..<(n * o) {
                for q in 0..<(half * half) where pooled[plane * half * half + q] > 0 {
                    full[plane * side * side + Int(winners[plane * half * half + q])] += dyPooled[plane * half * half + q]
                }
            }
            let wt = Tensor(zeros: [c, o, 3, 3])
            Conv2D.flippedTransposedKernel(w.pointer, outputs: o, inputs: c, k: 3, into: wt.pointer)
            let dxShape = tlc_direct_conv_forward_shape(c32, o32, s32, s32, 3, 1)   // the forward pass's tiles, as dW's
            #expect(dxShape == shape)
            let dxPacked = Tensor(zeros: [tlc_direct_conv_packed_count(dxShape, c32, o32, 3)])
            tlc_direct_conv_pack(dxShape, wt.pointer, c32, o32, 3, dxPacked.pointer)
            let gradScratch = Tensor(zeros: [tlc_direct_conv_weight_grad_scratch_count(o32, c32, s32, s32, 3, 1)])
            let dxScratch = Tensor(zeros: [tlc_direct_conv_scratch_count(dxShape, c32, o32, s32, s32, 3, 1)])
            var results: [[Float]] = []
            for throughPool in [false, true] {
                let dW = Tensor(zeros: w.shape), db = Tensor(zeros: [o]), dx = Tensor(zeros: x.shape)
                dx.pointer.update(repeating: .nan, count: dx.count)
                // Scratch is not initialized: each call writes every value it reads (the pooled gradient's padding too).
                gradScratch.pointer.update(repeating: .nan, count: gradScratch.count)
                dxScratch.pointer.update(repeating: .nan, count: dxScratch.count)
                if throughPool {
                    let ran = tlc_direct_conv_backward_pooled(level, x.pointer, dyPooled.pointer, pooled.pointer, winners, Int32(n), c32, s32, s32,
                                                              o32, 3, 1, gradScratch.pointer, dW.pointer, db.pointer, dxShape, dxPacked.pointer,
                                                              dxScratch.pointer, dx.pointer)
                    #expect(ran == 1)
                } else {
                    tlc_direct_conv_backward(level, x.pointer, full.pointer, nil, Int32(n), c32, s32, s32, o32, 3, 1, gradScratch.pointer,
                                             dW.pointer, db.pointer, dxShape, dxPacked.pointer, dxScratch.pointer, dx.pointer)
                }
                results.append(dW.values + db.values + dx.values)
            }
            #expect(bitwiseMismatch(results[0], results[1]) == nil, "backward, level \(level)")
            #expect(results[1].contains { $0 != 0 } && !results[1].contains { $0.isNaN })
        }
    }

    /// (kernel, input and output channels, side): a 3×3 layer, 1×1 layers that write y in
    /// place (16 channels over 8 × 8; 64 over 32 × 32, finished in two chunks of positions)
    /// or not, and a 3×3 layer through Winograd; then no activation, a ReLU or a ReLU6
    /// (clamped in the same epilogue).
    @Test(arguments: ["none", "relu", "relu6"], [(3, 5, 12, 9), (1, 5, 16, 8), (1, 5, 64, 32), (1, 5, 12, 8), (3, 32, 32, 8)])
    func aFusedBatchNormAndActivationGiveWhatTheLayersGiveApart(activation: String, layer: (k: Int, c: Int, o: Int, side: Int)) throws {
        let o = layer.o
        let conv = Conv2D(name: "c", inChannels: layer.c, outChannels: o, kernel: layer.k, stride: 1, padding: layer.k / 2,
                          rng: SeededGenerator(seed: 6))
        let bn = BatchNorm(name: "bn", channels: o)
        var g = SeededGenerator(seed: 8)
        // ReLU6: a wide scale, so that some outputs reach the ceiling.
        g.fillNormal(bn.weight.value, std: activation == "relu6" ? 8 : 1); g.fillNormal(bn.bias.value, std: 1); g.fillNormal(bn.runningMean, std: 0.5)
        for i in 0..<o { bn.runningVar[i] = 0.2 + Float(i) * 0.3 }
        let act: (any Layer)? = activation == "relu" ? ReLU(name: "relu") : activation == "relu6" ? ReLU6(name: "relu6") : nil
        let net = Sequential(name: "s", layers: [conv, bn] + (act.map { [$0] } ?? []))
        let x = Tensor(zeros: [3, layer.c, layer.side, layer.side]); g.fillNormal(x, std: 1)
        var apart = try bn.forward(conv.forward(x, training: false), training: false)
        if let act { apart = try act.forward(apart, training: false) }
        let fused = try net.forward(x, training: false)
        #expect(conv.fusesBatchNorm(x, training: false) == Conv2D.directConvolutionAvailable)
        #expect(!conv.fusesBatchNorm(x, training: true))
        #expect(fused.values == apart.values)
        if activation == "relu6" { #expect(fused.values.contains { $0 == 6 } && fused.values.contains { $0 > 0 && $0 < 6 }) }
        if Conv2D.directConvolutionLevel == 2 {
            let ceiling: Float? = activation == "relu6" ? 6 : nil
            let avx2 = try conv.forward(x, training: false, fusingReLU: act != nil, batchNorm: bn, ceiling: ceiling, level: 1)
            #expect(avx2.values == fused.values)
        }
        // A training pass never fuses: the batch norm uses the batch's statistics.
        let trained = try net.forward(x, training: true)
        #expect(trained.values != fused.values)
    }
}
