// Conv2D's 1×1 layers as plain OpenBLAS GEMMs (Conv2DPointwise.swift): the forward pass (with
// a bias, fused ReLU, and chunks of positions: planes wider than one chunk) and the weight, bias
// and input gradients against a float64 reference, with and without a fused ReLU; bitwise the
// same with 1, 2 or 4 threads; an inference batch norm and ReLU6 fused give bitwise what the
// layers give apart.
import Foundation
import Testing
@testable import Engine

@Suite(.serialized) struct PointwiseConvolutionTests {
    /// (inputs, outputs, side, samples): several chunks of positions (128 K floats of outputs
    /// per chunk: 40 channels → 3,264 positions, a 72² plane is two), small planes, one sample.
    @Test(arguments: [(24, 40, 72, 2), (13, 5, 6, 3), (64, 96, 7, 5), (3, 8, 9, 1)])
    func passesMatchAFloat64Reference(c: Int, o: Int, side: Int, n: Int) throws {
        let conv = Conv2D(name: "c", inChannels: c, outChannels: o, kernel: 1, rng: SeededGenerator(seed: 3))
        let geo = Conv2D.Geo(h: side, w: side, oh: side, ow: side, c: c, k: 1, stride: 1, pad: 0)
        #expect(conv.isPointwise(geo))
        var g = SeededGenerator(seed: 5)
        let hw = side * side
        let x = Tensor(zeros: [n, c, side, side]), dy = Tensor(zeros: [n, o, side, side])
        g.fillNormal(x, std: 1); g.fillNormal(dy, std: 1)
        for relu in [false, true] {
            var y = [Double](repeating: 0, count: dy.count)
            for s in 0..<n { for m in 0..<o { for p in 0..<hw {
                var a = Double(conv.bias.value[m])
                for ch in 0..<c { a += Double(conv.weight.value[m * c + ch]) * Double(x[(s * c + ch) * hw + p]) }
                y[(s * o + m) * hw + p] = relu ? max(a, 0) : a
            } } }
            var rW = [Double](repeating: 0, count: o * c), rb = [Double](repeating: 0, count: o), rx = [Double](repeating: 0, count: x.count)
            for s in 0..<n { for m in 0..<o { for p in 0..<hw {
                let at = (s * o + m) * hw + p, d = !relu || y[at] > 0 ? Double(dy[at]) : 0
                rb[m] += d
                for ch in 0..<c {
                    rW[m * c + ch] += d * Double(x[(s * c + ch) * hw + p])
                    rx[(s * c + ch) * hw + p] += d * Double(conv.weight.value[m * c + ch])
                }
            } } }
            func close(_ a: [Float], _ r: [Double], _ what: String) {
                let scale = r.map(abs).max() ?? 1
                let worst = zip(a, r).map { abs(Double($0) - $1) }.max() ?? 0
                #expect(a.count == r.count && worst <= 1e-5 * max(scale, 1), "\(what), relu \(relu): max |Δ| \(worst) for values up to \(scale)")
            }
            let inference = Tensor(uninitialized: dy.shape)
            conv.forwardPointwise(x.pointer, g: geo, n: n, y: inference.pointer, fusingReLU: relu, batchNorm: nil, ceiling: nil)
            close(inference.values, y, "inference")
            // The layer's own training pass where it runs pointwise (otherwise on CDirectConv), and the pointwise backward always.
            let trained = try conv.forward(x, training: true, fusingReLU: relu)
            close(trained.values, y, "training")
            let dx = Tensor(uninitialized: x.shape)
            conv.backwardPointwise(dy, x: x, g: geo, dx: dx, wantW: true, wantB: true)
            close(conv.weight.grad.values, rW, "dW"); close(conv.bias.grad.values, rb, "db"); close(dx.values, rx, "dx")
        }
    }

    @Test func everyThreadCountGivesTheSameBits() throws {
        let conv = Conv2D(name: "c", inChannels: 32, outChannels: 48, kernel: 1, rng: SeededGenerator(seed: 7))
        var g = SeededGenerator(seed: 12)
        let n = 9, side = 20
        let x = Tensor(zeros: [n, 32, side, side]), dy = Tensor(zeros: [n, 48, side, side])
        g.fillNormal(x, std: 1); g.fillNormal(dy, std: 1)
        let geo = Conv2D.Geo(h: side, w: side, oh: side, ow: side, c: 32, k: 1, stride: 1, pad: 0)
        let threads = Parallel.threads
        defer { Parallel.threads = threads }
        func run(_ t: Int) -> [[Float]] {
            Parallel.threads = t
            let y = Tensor(uninitialized: dy.shape), dx = Tensor(uninitialized: x.shape)
            conv.forwardPointwise(x.pointer, g: geo, n: n, y: y.pointer, fusingReLU: true, batchNorm: nil, ceiling: nil)
            conv.rectifiedOutput = y
            conv.backwardPointwise(dy, x: x, g: geo, dx: dx, wantW: true, wantB: true)
            conv.rectifiedOutput = nil
            return [y.values, conv.weight.grad.values, conv.bias.grad.values, dx.values]
        }
        let reference = run(1)
        #expect(reference.allSatisfy { $0.contains { $0 != 0 } })
        for t in [2, 4] { #expect(run(t) == reference, "\(t) threads") }
    }

    /// A batch norm and ReLU6 fused into the GEMMs' epilogue give bitwise what the layers give apart.
    @Test func aFusedBatchNormAndReLU6GiveWhatTheLayersGiveApart() throws {
        let conv = Conv2D(name: "c", inChannels: 16, outChannels: 24, kernel: 1, bias: false, rng: SeededGenerator(seed: 6))
        let bn = BatchNorm(name: "bn", channels: 24)
        var g = SeededGenerator(seed: 8)
        g.fillNormal(bn.weight.value, std: 8); g.fillNormal(bn.bias.value, std: 1); g.fillNormal(bn.runningMean, std: 0.5)
        for i in 0..<24 { bn.runningVar[i] = 0.2 + Float(i) * 0.3 }
        let act = ReLU6(name: "relu6")
        let x = Tensor(zeros: [3, 16, 60, 60]); g.fillNormal(x, std: 1)
        let geo = Conv2D.Geo(h: 60, w: 60, oh: 60, ow: 60, c: 16, k: 1, stride: 1, pad: 0)
        let apart = try act.forward(bn.forward(conv.forward(x, training: false), training: false), training: false)
        let fused = Tensor(uninitialized: apart.shape)
        conv.forwardPointwise(x.pointer, g: geo, n: 3, y: fused.pointer, fusingReLU: true, batchNorm: bn, ceiling: 6)
        // The layer's own unfused output may come from CDirectConv (other sums): compare against the pointwise GEMMs' own.
        let plain = Tensor(uninitialized: apart.shape)
        conv.forwardPointwise(x.pointer, g: geo, n: 3, y: plain.pointer, fusingReLU: false, batchNorm: nil, ceiling: nil)
        let expected = try act.forward(bn.forward(plain, training: false), training: false)
        #expect(fused.values == expected.values)
        #expect(fused.values.contains { $0 == 6 } && fused.values.contains { $0 > 0 && $0 < 6 })
        if Conv2D.pointwiseOnBLAS { #expect(apart.values == expected.values) }
    }
}
