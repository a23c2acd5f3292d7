// DARTS in the engine: finite-difference checks of the mixed operation (its input
// gradient, every candidate's weights, d loss / d alpha) and of the architecture
// gradient through a network whose cells share alpha; first-order search steps that
// train alpha only on validation batches, bitwise the same for 1, 2 or 4 threads.
import Testing
@testable import Engine
import ModelZoo

@Suite struct DartsTests {
    static let allOps = CellOperation.allCases

    /// A one-cell network on `input` (no head): the cell is `nodes`.
    static func cellNetwork(_ nodes: [[CellEdge]], input: FeatureShape) throws -> Network {
        try Network(architecture: Architecture(name: "cell", input: input, backbone: [.cell(name: "cell1", nodes: nodes, alpha: "alpha")], head: []),
                    seed: 11)
    }

    /// max |numeric − analytic| / max(0.1, |numeric|) over the checked entries of `t`,
    /// central differences of `loss` with step `eps`.
    static func worst(_ t: Tensor, _ analytic: Tensor, eps: Float, stride: Int = 1, loss: () throws -> Double) rethrows -> (Double, Int) {
        var worst = 0.0, n = 0
        for i in Swift.stride(from: 0, to: t.count, by: stride) {
            let old = t[i]
            t[i] = old + eps; let lp = try loss()
            t[i] = old - eps; let lm = try loss()
            t[i] = old
            let numeric = (lp - lm) / Double(2 * eps)
            worst = max(worst, abs(numeric - Double(analytic[i])) / max(0.1, abs(numeric)))
            n += 1
        }
        return (worst, n)
    }

    /// One mixed edge of all seven candidates: the input's gradient, each candidate's
    /// weights and alpha's gradient against central differences of L = Σ y·r.
    @Test func mixedOperationGradients() throws {
        let net = try Self.cellNetwork([[CellEdge(from: 0, operations: Self.allOps)]], input: FeatureShape(channels: 3, height: 6, width: 6))
        let cell = try #require(net.root.layers.first as? DartsCell)
        let alpha = try #require(cell.alpha)
        var rng = SeededGenerator(seed: 5)
        rng.fillNormal(alpha.value, std: 1)   // away from uniform, so the softmax's Jacobian matters
        // Inputs away from ReLU's kink and from ties in max pooling's windows (distinct
        // magnitudes 0.3, 0.35, …), so central differences see a smooth function.
        let x = Tensor(zeros: [4, 3, 6, 6]), r = Tensor(zeros: [4, 3, 6, 6])
        let order = rng.permutation(x.count)
        for i in 0..<x.count { x[i] = (rng.nextInt(below: 2) == 0 ? -1 : 1) * (0.3 + 0.05 * Float(order[i])) / 4 }
        rng.fillNormal(r, std: 1)
        _ = net.root.configureGradients(upstreamTrainable: true)
        func loss() throws -> Double {
            let y = try net.root.forward(x, training: true)
            var s = 0.0
            for i in 0..<y.count { s += Double(y[i]) * Double(r[i]) }
            return s
        }
        _ = try loss()
        let dx = try #require(try net.root.backward(r))
        let grads = Dictionary(uniqueKeysWithValues: net.parameterObjects.map { ($0.name, $0.grad.copy()) })
        let (inputErr, inputs) = try Self.worst(x, dx, eps: 2e-3, stride: 3, loss: loss)
        #expect(inputErr < 2e-2 && inputs == 144, "input gradient: worst relative error \(inputErr) (float32 differences of a 432-term sum)")
        // Every candidate with weights: 3×3 and 5×5 convolutions, the separable one's two, their batch norms.
        let names = net.parameterObjects.map(\.name).filter { $0 != "alpha" }
        for op in ["conv_3x3.conv", "conv_5x5.conv", "sep_conv_3x3.depthwise", "sep_conv_3x3.pointwise", "conv_3x3.bn", "sep_conv_3x3.bn"] {
            #expect(names.contains { $0.contains(op) }, "\(op) has parameters")
        }
        for p in net.parameterObjects where p.name != "alpha" {
            let (err, n) = try Self.worst(p.value, grads[p.name]!, eps: 1e-2, stride: max(1, p.value.count / 12), loss: loss)
            #expect(err < 1e-2 && n > 0, "\(p.name): worst relative error \(err)")
        }
        // d L / d alpha: smooth in alpha (the operations' outputs do not move), so tight.
        let (alphaErr, n) = try Self.worst(alpha.value, grads["alpha"]!, eps: 1e-2, loss: loss)
        #expect(n == 7 && alphaErr < 1e-3, "d loss / d alpha: worst relative error \(alphaErr)")
        #expect(grads["alpha"]!.values.contains { abs($0) > 1e-3 }, "alpha gets a real gradient")
    }

    /// Two cells of three nodes share alpha (each adds its part), with pooling, a dense
    /// head and the cross-entropy loss: d loss / d alpha against central differences.
    @Test func architectureGradientThroughSharedCells() throws {
        let ops: [CellOperation] = [.conv_3x3, .sep_conv_3x3, .max_pool_3x3, .avg_pool_3x3, .identity, .zero]
        let arch = try Zoo.architecture("darts_supernet", options: ["operations": .list(ops.map { .string($0.rawValue) }), "nodes": .int(3),
                                                                    "cells": .int(2), "channels": .int(3), "reductions": .list([.int(1)])],
                                        input: FeatureShape(channels: 1, height: 8, width: 8), classes: 4)
        let net = try Network(architecture: arch, seed: 2)
        let alpha = try #require(net.architectureParameters.first)
        #expect(net.architectureParameters.count == 1 && alpha.value.shape == [6, 6], "one alpha: 6 edges × 6 operations, shared")
        #expect(net.parameterObjects.filter { $0.name == "alpha" }.count == 1)
        var rng = SeededGenerator(seed: 9)
        rng.fillNormal(alpha.value, std: 0.5)
        let data = try blobs(8, seed: 4)
        let (x, y) = data.batch(Array(0..<8)[...])
        let lossFn = SoftmaxCrossEntropy()
        func loss() throws -> Double {
            let logits = try net.forward(x, training: true)
            // The mean cross-entropy in double precision (finite differences of a float loss are coarse).
            var total = 0.0
            let k = logits.shape[1]
            for n in 0..<logits.shape[0] {
                let row = (0..<k).map { Double(logits[n * k + $0]) }
                let m = row.max()!
                total += m + Foundation.log(row.reduce(0) { $0 + Foundation.exp($1 - m) }) - row[y[n]]
            }
            return total / Double(logits.shape[0])
        }
        let (_, g, _) = try lossFn(logits: try net.forward(x, training: true), labels: y)
        try net.backward(g)
        let analytic = alpha.grad.copy()
        let (err, n) = try Self.worst(alpha.value, analytic, eps: 1e-3, loss: loss)
        #expect(n == 36 && err < 5e-3, "d loss / d alpha over two cells: worst relative error \(err)")
        // A second pass gives the same gradient (the owner zeroes it each forward pass).
        try net.backward({ let (_, g2, _) = try lossFn(logits: try net.forward(x, training: true), labels: y); return g2 }())
        #expect(alpha.grad.values == analytic.values)
    }

    static func searchNetwork() throws -> Network {
        let arch = try Zoo.architecture("darts_supernet", options: ["operations": .list(["conv_3x3", "sep_conv_3x3", "max_pool_3x3", "identity", "zero"].map(OptionValue.string)),
                                                                    "nodes": .int(2), "cells": .int(2), "channels": .int(4), "reductions": .list([.int(1)])],
                                        input: FeatureShape(channels: 1, height: 8, width: 8), classes: 4)
        return try Network(architecture: arch, seed: 1)
    }

    /// First-order DARTS: alpha moves only through its own optimizer on validation
    /// batches, and the search is bitwise the same for any thread count.
    @Test func alphaStepsAreDeterministicWhateverTheThreadCount() throws {
        let train = try blobs(64, seed: 1), validation = try blobs(48, seed: 2)
        func search(alphaLR: Float = 3e-2) throws -> (alpha: [Float], weights: [Float]) {
            let net = try Self.searchNetwork()
            var config = TrainingConfig(epochs: 2, batchSize: 16, optimizer: .adam(), learningRate: 3e-3, seed: 7)
            config.architecture = ArchitectureStep(learningRate: alphaLR, weightDecay: 1e-3)
            try Trainer.fit(net, train: train, validation: validation, config: config)
            return (net.architectureParameters[0].value.values, net.parameterObjects.filter { $0.name != "alpha" }.flatMap(\.value.values))
        }
        let initial = try Self.searchNetwork().architectureParameters[0].value.values
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        Parallel.threads = 1
        let one = try search()
        Parallel.threads = 2
        let two = try search()
        Parallel.threads = 4
        let four = try search()
        #expect(one.alpha.map(\.bitPattern) == two.alpha.map(\.bitPattern) && two.alpha.map(\.bitPattern) == four.alpha.map(\.bitPattern),
                "same seed, same alphas bit for bit with 1, 2 and 4 threads")
        #expect(one.weights == two.weights)
        #expect(one.alpha != initial, "alpha was trained")
        // With alpha's learning rate 0 alpha stays exactly where it started: the
        // weights' optimizer never touches it.
        #expect(try search(alphaLR: 0).alpha == initial)
        // No validation split: an error, not a silent search on training data.
        let net = try Self.searchNetwork()
        var config = TrainingConfig(epochs: 1, batchSize: 16, seed: 7)
        config.architecture = ArchitectureStep()
        #expect(throws: EngineError.self) { try Trainer.fit(net, train: train, config: config) }
    }

    /// The derived (discrete) network: only the chosen operations, no alpha.
    @Test func derivedCellHasOnlyItsOperations() throws {
        let arch = try Zoo.architecture("darts_cell_net", options: ["genotype": .list([.list([.string("sep_conv_3x3@0")]),
                                                                                       .list([.string("identity@0"), .string("conv_5x5@1")])]),
                                                                    "cells": .int(2), "channels": .int(4), "reductions": .list([.int(0)])],
                                        input: FeatureShape(channels: 1, height: 14, width: 14), classes: 3)
        let net = try Network(architecture: arch, seed: 1)
        #expect(net.architectureParameters.isEmpty)
        #expect(net.parameterCount == net.summary.parameters)
        let names = Set(net.parameterObjects.map(\.name))
        #expect(names.contains("cell2.node2.in1.conv_5x5.conv.weight") && !names.contains { $0.contains("max_pool") })
        let out = try net.forward(Tensor(zeros: [2, 1, 14, 14]), training: false)
        #expect(out.shape == [2, 3])
    }
}

import Foundation
