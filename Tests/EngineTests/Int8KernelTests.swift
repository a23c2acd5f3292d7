// The int8 GEMM kernels (AVX-512 VNNI, AVX2, portable) against each other and against
// the integer pipeline written out plainly in Swift: every kernel this CPU runs gives
// exact GEMM integers and bit-identical logits, on networks whose shapes exercise the
// padding (outputs not a multiple of 16, reductions not a multiple of 4, strided and
// padded convolutions, both poolings), and the machine's best kernel is chosen at run time.
import Foundation
import ModelZoo
import Testing
@testable import Engine

@Suite struct Int8KernelTests {
    static let kernels = Int8Kernel.allCases.filter(\.isSupported)

    @Test(arguments: [(1, 1, 1), (7, 5, 9), (33, 17, 96), (13, 40, 25), (64, 64, 576), (100, 6, 28), (37, 33, 300)])
    func everyKernelComputesExactIntegers(n: Int, m: Int, k: Int) {
        var g = SeededGenerator(seed: UInt64(n * 1000 + m * 10 + k))
        let b = (0..<(n * k)).map { _ in UInt8(g.nextInt(below: 128)) }
        let a = (0..<(m * k)).map { _ in Int8(g.nextInt(below: 255) - 127) }
        var reference = [Int32](repeating: 0, count: n * m)
        for i in 0..<n { for j in 0..<m { for t in 0..<k { reference[i * m + j] += Int32(b[i * k + t]) * Int32(a[j * k + t]) } } }
        for kernel in Self.kernels {
            #expect(QuantizedNetwork.integerGEMM(b, a, n: n, m: m, k: k, kernel: kernel) == reference, "\(kernel)")
            // Extremes: 127 × ±127 everywhere (AVX2's largest 16-bit pair sums) stay exact.
            let low = QuantizedNetwork.integerGEMM([UInt8](repeating: 127, count: n * k), [Int8](repeating: -127, count: m * k), n: n, m: m, k: k, kernel: kernel)
            let high = QuantizedNetwork.integerGEMM([UInt8](repeating: 127, count: n * k), [Int8](repeating: 127, count: m * k), n: n, m: m, k: k, kernel: kernel)
            #expect(low == [Int32](repeating: Int32(-127 * 127 * k), count: n * m), "\(kernel)")
            #expect(high == [Int32](repeating: Int32(127 * 127 * k), count: n * m), "\(kernel)")
        }
    }

    @Test func theBestKernelFollowsTheCPU() throws {
        #expect(Int8Kernel.portable.isSupported)
        #expect(Int8Kernel.best.isSupported)
        guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flagLine = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return }
        let flags = Set(flagLine.split(separator: " ").map(String.init))
        let vnni = ["avx512f", "avx512bw", "avx512vl", "avx512_vnni"].allSatisfy(flags.contains)
        #expect(Int8Kernel.avx512VNNI.isSupported == vnni)
        #expect(Int8Kernel.avx2.isSupported == flags.contains("avx2"))
        #expect(Int8Kernel.best == (vnni ? .avx512VNNI : flags.contains("avx2") ? .avx2 : .portable))
    }

    static let networks: [String: Architecture] = [
        // LeNet-like: a 1-channel 5×5 padded conv (K = 25 → rows of 8), 6 outputs, an unpadded one over 6 channels (K = 150).
        "lenetish": Architecture(name: "lenetish", input: FeatureShape(channels: 1, height: 12, width: 12),
                     backbone: [.conv2d(name: "c1", filters: 6, kernel: 5, stride: 1, padding: 2), .relu(name: "r1"),
                                .maxPool(name: "p1", size: 2, stride: 2, padding: 0),
                                .conv2d(name: "c2", filters: 16, kernel: 5, stride: 1, padding: 0), .relu(name: "r2"),
                                .avgPool(name: "p2", size: 2, stride: 1, padding: 1), .flatten(name: "f")],
                     head: [.dense(name: "fc", units: 30), .relu(name: "r3"), .dense(name: "out", units: 10)]),
        // Three channels, a strided padded conv with batchnorm (20 outputs: two panels), a 1×1 conv with 33 outputs
        // (three panels) and no ReLU, a global pool and a dense layer over 33 inputs.
        "strided": Architecture(name: "strided", input: FeatureShape(channels: 3, height: 9, width: 9),
                     backbone: [.conv2d(name: "c1", filters: 20, kernel: 3, stride: 2, padding: 1), .batchNorm(name: "bn"), .relu(name: "r1"),
                                .maxPool(name: "p1", size: 3, stride: 1, padding: 1),
                                .conv2d(name: "c2", filters: 33, kernel: 1, stride: 1, padding: 0), .globalAvgPool(name: "gap"),
                                .flatten(name: "f")],
                     head: [.dense(name: "out", units: 7)]),
        // Few outputs: two output pixels per GEMM row on a strided layer, four on the next; then a 2×2 kernel without padding.
        "few-outputs": Architecture(name: "few-outputs", input: FeatureShape(channels: 2, height: 16, width: 16),
                                    backbone: [.conv2d(name: "c1", filters: 5, kernel: 3, stride: 2, padding: 1), .relu(name: "r1"),
                                               .conv2d(name: "c2", filters: 3, kernel: 3, stride: 1, padding: 1), .relu(name: "r2"),
                                               .conv2d(name: "c3", filters: 4, kernel: 2, stride: 1, padding: 0), .flatten(name: "f")],
                                    head: [.dense(name: "out", units: 5)]),
        // Dense only, inputs not a multiple of 4.
        "odd-mlp": Architecture(name: "odd-mlp", input: FeatureShape(channels: 1, height: 1, width: 23),
                     backbone: [.flatten(name: "f"), .dense(name: "fc1", units: 37), .relu(name: "r1"), .dense(name: "fc2", units: 18)],
                     head: [.dense(name: "out", units: 5)]),
    ]

    @Test(arguments: ["lenetish", "strided", "few-outputs", "odd-mlp"])
    func everyKernelRunsTheReferencePipelineBitForBit(_ name: String) throws {
        let arch = try #require(Self.networks[name])
        let net = try Network(architecture: arch, seed: 7)
        var g = SeededGenerator(seed: 5)
        let classes = net.outputFeatures
        func data(_ n: Int, std: Float) throws -> Dataset {
            try Dataset(sampleShape: arch.input, features: (0..<(n * arch.input.count)).map { _ in g.normal(std: std) },
                        labels: (0..<n).map { $0 % classes }, classNames: (0..<classes).map(String.init))
        }
        let q = try QuantizedNetwork.quantize(net, calibration: try data(64, std: 1), config: QuantizationConfig(calibrationBatches: 2, batchSize: 32))
        // Wider inputs than calibrated: codes saturate at both ends.
        let test = try data(13, std: 2.5)
        let (x, _) = test.batch(Array(0..<13)[...])
        let reference = Self.referenceLogits(q, x)
        #expect(reference.contains { $0 != 0 })
        for kernel in Self.kernels {
            let y = try q.forward(x, kernel: kernel)
            let differing = zip(y.values, reference).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(y.count == reference.count && differing == 0, "\(kernel) on \(name): \(differing) of \(reference.count) logits differ")
        }
    }

    /// The integer pipeline written out plainly: NHWC uint8, direct convolution loops, the
    /// documented requantization (CInt8's header) in Swift's own float arithmetic.
    static func referenceLogits(_ q: QuantizedNetwork, _ x: Tensor) -> [Float] {
        let amax = q.config.activationMax
        func code(_ v: Float, _ inverseScale: Float, _ zero: Int) -> Int {
            let t = min(max(v * inverseScale, -1e6), 1e6)
            return min(max(Int(t.rounded(.toNearestOrEven)) + zero, 0), amax)
        }
        var logits: [Float] = []
        let (c, h, w) = (q.input.channels, q.input.height, q.input.width)
        for s in 0..<x.batch {
            var act = [Int](repeating: 0, count: q.input.count)
            for ch in 0..<c { for p in 0..<(h * w) { act[p * c + ch] = code(x[s * q.input.count + ch * h * w + p], 1 / q.inputScale, q.inputZero) } }
            for (index, op) in q.ops.enumerated() {
                switch op {
                case .linear(let l):
                    var acc = [Int32](repeating: 0, count: l.outputShape.reduce(1, *))
                    if l.kernel > 0 {
                        let (ih, iw, ic) = (l.inputShape[0], l.inputShape[1], l.inputShape[2]), (oh, ow) = (l.outputShape[0], l.outputShape[1])
                        for y in 0..<oh { for xx in 0..<ow { for m in 0..<l.outputs {
                            var a: Int32 = 0
                            for ki in 0..<l.kernel { for kj in 0..<l.kernel { for ch in 0..<ic {
                                let (yy, xi) = (y * l.stride - l.padding + ki, xx * l.stride - l.padding + kj)
                                let v = yy >= 0 && yy < ih && xi >= 0 && xi < iw ? act[(yy * iw + xi) * ic + ch] : l.inZero
                                a += Int32(v) * Int32(l.weights[m * l.kPadded + (ki * l.kernel + kj) * ic + ch])
                            } } }
                            acc[(y * ow + xx) * l.outputs + m] = a
                        } } }
                    } else {
                        for m in 0..<l.outputs { for j in 0..<l.k { acc[m] += Int32(act[j]) * Int32(l.weights[m * l.kPadded + j]) } }
                    }
                    let last = index == q.ops.count - 1
                    act = acc.indices.map { i in
                        let m = i % l.outputs
                        var v = Float(acc[i] - Int32(l.inZero) * l.rowSums[m]) * (l.weightScales[m] * l.inScale)
                        v = v + l.bias[m]
                        if l.relu && v <= 0 { v = 0 }
                        if last { logits.append(v); return 0 }
                        return code(v, 1 / l.outScale, l.outZero)
                    }
                case .maxPool(let size, let stride, let padding, let inShape, let outShape),
                     .avgPool(let size, let stride, let padding, let inShape, let outShape):
                    var isMax = false
                    if case .maxPool = op { isMax = true }
                    let (ih, iw, ic) = (inShape[0], inShape[1], inShape[2])
                    var out = [Int](repeating: 0, count: outShape.reduce(1, *))
                    for y in 0..<outShape[0] { for xx in 0..<outShape[1] { for ch in 0..<ic {
                        var best = -1, sum = 0
                        for ki in 0..<size { for kj in 0..<size {
                            let (yy, xi) = (y * stride - padding + ki, xx * stride - padding + kj)
                            guard yy >= 0, yy < ih, xi >= 0, xi < iw else { continue }
                            best = max(best, act[(yy * iw + xi) * ic + ch]); sum += act[(yy * iw + xi) * ic + ch]
                        } }
                        out[(y * outShape[1] + xx) * ic + ch] = isMax ? max(best, 0) : (sum + size * size / 2) / (size * size)
                    } } }
                    act = out
                }
            }
        }
        return logits
    }
}
