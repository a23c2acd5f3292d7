import Testing
import ModelZoo
@testable import Engine

func tinyCNN(classes: Int = 3) -> Architecture {
    Architecture(name: "tiny", input: FeatureShape(channels: 1, height: 6, width: 6),
                 backbone: [
                    .block(name: "block1", layers: [.conv2d(name: "conv1", filters: 2, kernel: 3, stride: 1, padding: 1),
                                                    .batchNorm(name: "bn1"), .relu(name: "relu1"),
                                                    .maxPool(name: "pool", size: 2, stride: 2, padding: 0)]),
                    .residual(name: "res", body: [.conv2d(name: "conv", filters: 2, kernel: 3, stride: 1, padding: 1), .relu(name: "relu")],
                              shortcut: []),
                    .concat(name: "inc", branches: [[.conv2d(name: "a", filters: 1, kernel: 1, stride: 1, padding: 0)],
                                                    [.avgPool(name: "p", size: 3, stride: 1, padding: 1)]]),
                    .flatten(name: "flatten")],
                 head: [.dense(name: "fc", units: 4), .dropout(name: "drop", rate: 0.2), .relu(name: "r"), .dense(name: "out", units: classes)])
}

@Suite struct NetworkTests {
    @Test func namesAndCountsMatchModelZoo() throws {
        let net = try Network(architecture: tinyCNN(), seed: 1)
        #expect(net.parameters.map(\.name) == [
            "block1.conv1.weight", "block1.conv1.bias", "block1.bn1.weight", "block1.bn1.bias",
            "res.conv.weight", "res.conv.bias", "inc.branch0.a.weight", "inc.branch0.a.bias",
            "fc.weight", "fc.bias", "out.weight", "out.bias"])
        #expect(net.buffers.map(\.name) == ["block1.bn1.running_mean", "block1.bn1.running_var"])
        #expect(net.parameterCount == net.summary.parameters)
        #expect(net.parameters[0].tensor.shape == [2, 1, 3, 3])
        #expect(net.parameters.first { $0.name == "fc.weight" }!.tensor.shape == [4, 27])
        let y = try net.forward(Tensor(zeros: [5, 1, 6, 6]), training: false)
        #expect(y.shape == [5, 3])
        #expect(throws: EngineError.self) { try net.forward(Tensor(zeros: [5, 1, 5, 6]), training: false) }
    }

    @Test func sameSeedSameWeightsDifferentSeedDifferent() throws {
        let a = try Network(architecture: tinyCNN(), seed: 1), b = try Network(architecture: tinyCNN(), seed: 1)
        let c = try Network(architecture: tinyCNN(), seed: 2)
        #expect(a.parameters.map { $0.tensor.values } == b.parameters.map { $0.tensor.values })
        #expect(a.parameters[0].tensor.values != c.parameters[0].tensor.values)
    }

    @Test func zooArchitecturesBuildAndRun() throws {
        for name in ["mlp", "lenet5", "cnn", "vgg-mini", "resnet-8", "alexnet-mini", "inception-mini"] {
            let arch = try Zoo.architecture(name, classes: 10)
            let net = try Network(architecture: arch, seed: 0)
            #expect(net.parameterCount == net.summary.parameters, "\(name)")
            let y = try net.forward(Tensor(zeros: [2, 1, 28, 28]), training: false)
            #expect(y.shape == [2, 10], "\(name)")
        }
    }

    @Test func wholeNetworkGradientMatchesFiniteDifferences() throws {
        let net = try Network(architecture: Architecture(name: "t", input: FeatureShape(channels: 1, height: 5, width: 5),
            backbone: [.conv2d(name: "c", filters: 2, kernel: 3, stride: 2, padding: 1), .batchNorm(name: "bn"), .flatten(name: "f")],  // smooth: ReLU kinks are checked on their own
            head: [.dense(name: "fc", units: 3)]), seed: 3)
        var g = SeededGenerator(seed: 5)
        let x = Tensor(zeros: [4, 1, 5, 5]); g.fillNormal(x, std: 1)
        let y = [0, 2, 1, 2]
        let loss = SoftmaxCrossEntropy(labelSmoothing: 0.1)
        let (_, dy, _) = try loss(logits: try net.forward(x, training: true), labels: y)
        try net.backward(dy)
        for p in net.parameterObjects {
            for i in 0..<p.value.count {
                let old = p.value[i], e: Float = 1e-3
                p.value[i] = old + e; let lp = try loss(logits: try net.forward(x, training: true), labels: y).loss
                p.value[i] = old - e; let lm = try loss(logits: try net.forward(x, training: true), labels: y).loss
                p.value[i] = old
                let num = (lp - lm) / (2 * e)
                #expect(abs(num - p.grad[i]) < 3e-3 * max(1, abs(num)), "\(p.name)[\(i)]")
            }
        }
    }

    @Test func frozenPrefixCostsNoGradientWork() throws {
        let net = try Network(architecture: tinyCNN(), seed: 1)
        let frozen = net.freeze(["block1", "res"])
        #expect(frozen == ["block1.conv1.weight", "block1.conv1.bias", "block1.bn1.weight", "block1.bn1.bias", "res.conv.weight", "res.conv.bias"])
        let layers = net.root.layers
        #expect(!layers[0].requiresBackward)   // block1: frozen, nothing before
        #expect(!layers[1].requiresBackward)   // res: frozen, nothing trainable before
        #expect(layers[2].requiresBackward)    // inc has a trainable conv
        #expect(!layers[2].needsInputGradient)
        // Sentinel gradients must survive a backward pass untouched.
        for p in net.parameterObjects where p.frozen { p.grad.fill(42) }
        let x = Tensor(zeros: [4, 1, 6, 6]); var g = SeededGenerator(seed: 1); g.fillNormal(x, std: 1)
        let (_, dy, _) = try SoftmaxCrossEntropy()(logits: try net.forward(x, training: true), labels: [0, 1, 2, 0])
        try net.backward(dy)
        for p in net.parameterObjects where p.frozen { #expect(p.grad.values.allSatisfy { $0 == 42 }, "\(p.name)") }
        #expect(net.parameterObjects.first { $0.name == "fc.weight" }!.grad.values.contains { $0 != 0 })
        // Freezing only a later layer keeps input gradients flowing to the earlier trainable ones.
        net.unfreezeAll(); net.freeze(["fc"])
        #expect(net.root.layers.last(where: { $0.name == "fc" })!.needsInputGradient)
    }
}
