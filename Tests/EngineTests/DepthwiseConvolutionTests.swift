// GroupedConv2D's depthwise layers on CDepthwiseConv: the output and the weight, bias and
// input gradients against a float64 reference at every instruction set (plain C, AVX2,
// AVX-512 where the CPU has them) over strides 1 to 3, kernels 3 to 7, valid and same
// padding, odd planes and a 1×1 plane; and bitwise the same at every instruction set and
// with 1, 2 or 4 threads. (Its gradient checks are in TorchvisionLayerTests; mobilenet_v2
// against torchvision in TorchvisionTests.)
import Testing
@testable import Engine

@Suite(.serialized) struct DepthwiseConvolutionTests {
    /// One training pass at `level`: (y, dW, db, dx).
    static func pass(_ conv: GroupedConv2D, x: Tensor, dy: Tensor, level: Int) throws -> ([Float], [Float], [Float], [Float]) {
        let y = try conv.forward(x, training: true, level: level)
        let dx = try #require(try conv.backward(dy, level: level))
        return (y.values, conv.weight.grad.values, conv.bias.grad.values, dx.values)
    }

    /// (channels, height, width, kernel, stride, padding)
    @Test(arguments: [(3, 7, 6, 3, 1, 1), (5, 9, 11, 3, 2, 1), (4, 13, 8, 5, 2, 2), (4, 12, 9, 5, 1, 2), (6, 10, 10, 7, 3, 3),
                      (3, 6, 5, 3, 2, 0), (2, 1, 1, 3, 1, 1), (2, 7, 7, 4, 1, 2), (40, 17, 19, 3, 1, 1), (24, 28, 28, 3, 2, 1)])
    func matchesAFloat64Reference(c: Int, h: Int, w: Int, k: Int, stride: Int, pad: Int) throws {
        let conv = GroupedConv2D(name: "d", inChannels: c, outChannels: c, kernel: k, stride: stride, padding: pad, groups: c,
                                 rng: SeededGenerator(seed: 4))
        #expect(conv.isDepthwise)
        let (oh, ow, n) = ((h + 2 * pad - k) / stride + 1, (w + 2 * pad - k) / stride + 1, 3)
        var g = SeededGenerator(seed: 9)
        let x = Tensor(zeros: [n, c, h, w]), dy = Tensor(zeros: [n, c, oh, ow])
        g.fillNormal(x, std: 1); g.fillNormal(dy, std: 1)
        var ry = [Double](repeating: 0, count: dy.count), rx = [Double](repeating: 0, count: x.count)
        var rW = [Double](repeating: 0, count: c * k * k), rb = [Double](repeating: 0, count: c)
        for s in 0..<n { for ch in 0..<c { for i in 0..<oh { for j in 0..<ow {
            let yi = ((s * c + ch) * oh + i) * ow + j, d = Double(dy[yi])
            var sum = Double(conv.bias.value[ch])
            rb[ch] += d
            for ki in 0..<k { for kj in 0..<k {
                let (ii, jj) = (i * stride - pad + ki, j * stride - pad + kj)
                guard ii >= 0, ii < h, jj >= 0, jj < w else { continue }
                let xi = ((s * c + ch) * h + ii) * w + jj, wi = (ch * k + ki) * k + kj
                sum += Double(conv.weight.value[wi]) * Double(x[xi])
                rW[wi] += d * Double(x[xi])
                rx[xi] += d * Double(conv.weight.value[wi])
            } }
            ry[yi] = sum
        } } } }
        func close(_ a: [Float], _ r: [Double], _ what: String) {
            let scale = r.map(abs).max() ?? 1
            let worst = zip(a, r).map { abs(Double($0) - $1) }.max() ?? 0
            #expect(a.count == r.count && worst <= 1e-5 * max(scale, 1), "\(what): max |Δ| \(worst) for values up to \(scale)")
        }
        for level in 0...GroupedConv2D.depthwiseLevel {
            let (y, dW, db, dx) = try Self.pass(conv, x: x, dy: dy, level: level)
            close(y, ry, "y, level \(level)"); close(dW, rW, "dW, level \(level)")
            close(db, rb, "db, level \(level)"); close(dx, rx, "dx, level \(level)")
        }
        // A frozen weight: the bias gradient alone, the same bits.
        let full = try Self.pass(conv, x: x, dy: dy, level: GroupedConv2D.depthwiseLevel)
        conv.weight.frozen = true
        conv.weight.grad.pointer.update(repeating: 7, count: conv.weight.grad.count)
        let biasOnly = try Self.pass(conv, x: x, dy: dy, level: GroupedConv2D.depthwiseLevel)
        #expect(biasOnly.2 == full.2 && biasOnly.3 == full.3 && biasOnly.1.allSatisfy { $0 == 7 })
    }

    @Test(arguments: [(16, 14, 3, 1, 1), (24, 15, 3, 2, 1), (9, 11, 5, 2, 2), (32, 7, 3, 1, 1)])
    func everyInstructionSetAndThreadCountGiveTheSameBits(c: Int, side: Int, k: Int, stride: Int, pad: Int) throws {
        let conv = GroupedConv2D(name: "d", inChannels: c, outChannels: c, kernel: k, stride: stride, padding: pad, groups: c,
                                 rng: SeededGenerator(seed: 5))
        let out = (side + 2 * pad - k) / stride + 1, n = 7
        var g = SeededGenerator(seed: 13)
        let x = Tensor(zeros: [n, c, side, side]), dy = Tensor(zeros: [n, c, out, out])
        g.fillNormal(x, std: 1); g.fillNormal(dy, std: 1)
        let threads = Parallel.threads
        defer { Parallel.threads = threads }
        Parallel.threads = 1
        let reference = try Self.pass(conv, x: x, dy: dy, level: 0)
        #expect(reference.1.contains { $0 != 0 } && reference.3.contains { $0 != 0 })
        for t in [1, 2, 4] {
            Parallel.threads = t
            for level in 0...GroupedConv2D.depthwiseLevel {
                let other = try Self.pass(conv, x: x, dy: dy, level: level)
                #expect(other.0 == reference.0 && other.1 == reference.1 && other.2 == reference.2 && other.3 == reference.3,
                        "\(t) threads, level \(level)")
            }
        }
    }
}
