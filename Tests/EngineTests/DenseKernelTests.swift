// Dense's inference kernel (CDense): AVX-512 and AVX2 give the same bits, both match a
// float64 reference, a frozen layer's training pass is its inference pass, and a ReLU
// fused into it, or a chain of dense layers run as one (DenseChain), gives what the
// layers give apart. PartPool (the workers that run Parallel's parts) runs every part
// exactly once, through spinning and sleeping workers.
import CDense
import Foundation
import Testing
@testable import Engine

@Suite struct DenseKernelTests {
    /// (rows, inputs, outputs): tails of rows, of the 4 × 4 tiles and of the 16-wide k steps.
    static let shapes = [(7, 37, 11), (256, 784, 64), (5, 16, 3), (1, 1, 1), (9, 130, 10), (4, 3136, 6)]

    private func layer(_ rows: Int, _ inputs: Int, _ outputs: Int) -> (Dense, Tensor) {
        let dense = Dense(name: "fc", inFeatures: inputs, outFeatures: outputs, rng: SeededGenerator(seed: UInt64(inputs)))
        var g = SeededGenerator(seed: 11)
        let x = Tensor(zeros: [rows, inputs]); g.fillNormal(x, std: 1)
        return (dense, x)
    }

    @Test(arguments: shapes)
    func avx512AndAVX2GiveTheSameBits(rows: Int, inputs: Int, outputs: Int) throws {
        guard Dense.kernelLevel >= 2 else { return }   // this CPU has no AVX-512 to compare with
        let (dense, x) = layer(rows, inputs, outputs)
        for relu in [false, true] {
            let wide = try dense.forward(x, training: false, fusingReLU: relu, level: 2)
            let narrow = try dense.forward(x, training: false, fusingReLU: relu, level: 1)
            #expect(wide.values == narrow.values)
        }
    }

    @Test(arguments: shapes)
    func inferenceMatchesAFloat64Reference(rows: Int, inputs: Int, outputs: Int) throws {
        let (dense, x) = layer(rows, inputs, outputs)
        let y = try dense.forward(x, training: false)
        let w = dense.weight.value, b = dense.bias.value
        var worst = 0.0, scale = 1e-30
        for i in 0..<rows {
            for j in 0..<outputs {
                var a = Double(b[j])
                for p in 0..<inputs { a += Double(x[i * inputs + p]) * Double(w[j * inputs + p]) }
                worst = max(worst, abs(a - Double(y[i * outputs + j]))); scale = max(scale, abs(a))
            }
        }
        #expect(worst <= 2e-6 * scale, "max |Δ| \(worst) for outputs up to \(scale)")
        let trained = try dense.forward(x, training: true)
        #expect(zip(trained.values, y.values).allSatisfy { abs($0 - $1) <= 1e-5 * Float(scale) })
    }

    @Test func aFrozenLayersTrainingPassIsItsInferencePass() throws {
        let (dense, x) = layer(12, 50, 9)
        dense.weight.frozen = true; dense.bias.frozen = true
        #expect(try dense.forward(x, training: true).values == dense.forward(x, training: false).values)
    }

    @Test func aFusedReLUGivesWhatTheLayersGiveApart() throws {
        let (dense, x) = layer(33, 70, 20)
        let relu = ReLU(name: "relu")
        let fused = try Sequential(name: "s", layers: [dense, relu]).forward(x, training: false)
        let apart = try relu.forward(dense.forward(x, training: false), training: false)
        #expect(fused.values == apart.values)
        #expect(fused.values.contains(0) && fused.values.contains { $0 > 0 })
    }

    @Test func aChainOfDenseLayersGivesWhatTheLayersGiveOneAtATime() throws {
        let g = SeededGenerator(seed: 21)
        let fc1 = Dense(name: "fc1", inFeatures: 45, outFeatures: 33, rng: g), fc2 = Dense(name: "fc2", inFeatures: 33, outFeatures: 17, rng: g)
        let out = Dense(name: "out", inFeatures: 17, outFeatures: 5, rng: g)
        let (r1, r2) = (ReLU(name: "r1"), ReLU(name: "r2"))
        let net = Sequential(name: "mlp", layers: [Flatten(name: "flatten"), fc1, r1, fc2, r2, Sequential(name: "head", layers: [out])])
        let chain = try #require(DenseChain.starting(at: 1, in: net.layers))
        #expect(chain.steps.count == 3 && chain.span == 5)
        var rng = SeededGenerator(seed: 3)
        let x = Tensor(zeros: [37, 5, 3, 3]); rng.fillNormal(x, std: 1)
        let flat = Tensor(viewing: x, shape: [37, 45])
        var h = try fc1.forward(flat, training: false, fusingReLU: true)
        h = try fc2.forward(h, training: false, fusingReLU: true)
        h = try out.forward(h, training: false)
        let chained = try net.forward(x, training: false)
        #expect(chained.shape == [37, 5])
        #expect(chained.values == h.values)
        // Training passes take the layers one at a time (OpenBLAS), close to the kernel's values.
        let trained = try net.forward(x, training: true)
        #expect(zip(trained.values, h.values).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
    }

    @Test func everyPartRunsOnceThroughSpinningAndSleepingWorkers() throws {
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        Parallel.threads = Parallel.parts
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: Parallel.parts)
        defer { counts.deallocate() }
        for round in 0..<300 {
            counts.initialize(repeating: 0, count: Parallel.parts)
            let n = 1 + round % 9
            nonisolated(unsafe) let slots = counts
            Parallel.forEachPart(n) { part, range in slots[part] += range.count }   // each part writes only its own slot
            let ranges = Parallel.ranges(n)
            #expect((0..<Parallel.parts).map { counts[$0] } == (0..<Parallel.parts).map { $0 < ranges.count ? ranges[$0].count : 0 })
            // Now and then wait past the workers' spin, so they sleep and must be woken.
            if round % 50 == 0 { Thread.sleep(forTimeInterval: 0.002) }
        }
    }
}
