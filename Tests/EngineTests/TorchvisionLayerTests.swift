// Gradient checks for the layers torchvision's architectures brought (bias-free and
// grouped/depthwise convolution, ReLU6, SiLU, sigmoid, adaptive average pooling,
// ceil-mode max pooling, stochastic depth, the constant channel affine, squeeze-and-
// excitation, the residual sum with a named shortcut), and determinism of a small
// network built from all of them: same seed, same weights, whatever the thread count.
import Testing
@testable import Engine
import ModelZoo

@Suite struct TorchvisionLayerGradients {
    let rng = SeededGenerator(seed: 11)

    @Test func convolutionWithoutBias() throws {
        let c = Conv2D(name: "c", inChannels: 3, outChannels: 4, kernel: 3, stride: 2, padding: 1, bias: false, rng: rng)
        #expect(c.parameters.map(\.name) == ["c.weight"] && c.bias.value.values.allSatisfy { $0 == 0 })
        let r = try gradCheck(c, inputShape: [2, 3, 6, 5])
        #expect(r.maxErr < 1e-2); #expect(r.checked > 40)
        #expect(c.bias.grad.values.allSatisfy { $0 == 0 })
    }

    @Test(arguments: [(groups: 3, inC: 3, outC: 3, k: 3, stride: 1, pad: 1),   // depthwise
                      (groups: 4, inC: 4, outC: 8, k: 5, stride: 2, pad: 2),   // depthwise, multiplier 2, strided
                      (groups: 2, inC: 4, outC: 6, k: 3, stride: 2, pad: 0)])  // grouped
    func groupedConvolution(_ g: (groups: Int, inC: Int, outC: Int, k: Int, stride: Int, pad: Int)) throws {
        let conv = GroupedConv2D(name: "g", inChannels: g.inC, outChannels: g.outC, kernel: g.k, stride: g.stride, padding: g.pad,
                                 groups: g.groups, rng: rng)
        #expect(conv.weight.value.shape == [g.outC, g.inC / g.groups, g.k, g.k])
        let r = try gradCheck(conv, inputShape: [5, g.inC, 7, 6])
        #expect(r.maxErr < 1e-2); #expect(r.checked > 60)
        let noBias = try gradCheck(GroupedConv2D(name: "n", inChannels: g.inC, outChannels: g.outC, kernel: g.k, stride: g.stride,
                                                 padding: g.pad, groups: g.groups, bias: false, rng: rng), inputShape: [2, g.inC, 7, 6])
        #expect(noBias.maxErr < 1e-2)
    }

    /// A grouped convolution equals the plain convolutions of its groups side by side.
    @Test func groupedConvolutionIsPerGroupConvolution() throws {
        let grouped = GroupedConv2D(name: "g", inChannels: 4, outChannels: 6, kernel: 3, stride: 1, padding: 1, groups: 2, rng: rng)
        var gen = SeededGenerator(seed: 5)
        let x = Tensor(zeros: [2, 4, 5, 5]); gen.fillNormal(x, std: 1)
        let y = try grouped.forward(x, training: false)
        for group in 0..<2 {
            let plain = Conv2D(name: "p", inChannels: 2, outChannels: 3, kernel: 3, stride: 1, padding: 1, rng: rng)
            for o in 0..<3 {
                plain.bias.value[o] = grouped.bias.value[group * 3 + o]
                for i in 0..<18 { plain.weight.value[o * 18 + i] = grouped.weight.value[(group * 3 + o) * 18 + i] }
            }
            let xs = Tensor(zeros: [2, 2, 5, 5])
            for s in 0..<2 { for i in 0..<50 { xs[s * 50 + i] = x[(s * 4 + group * 2) * 25 + i] } }
            let ys = try plain.forward(xs, training: false)
            for s in 0..<2 { for i in 0..<75 { #expect(abs(ys[s * 75 + i] - y[(s * 6 + group * 3) * 25 + i]) < 1e-5) } }
        }
    }

    @Test func activations() throws {
        // Inputs ~ N(0, 1) scaled so ReLU6 sees both kinks (away from them by more than eps).
        for layer: Layer in [SiLU(name: "s"), Sigmoid(name: "g")] {
            let r = try gradCheck(layer, inputShape: [3, 2, 4, 4], eps: 1e-3)
            #expect(r.maxErr < 1e-2); #expect(r.checked > 30)
        }
        let six = ReLU6(name: "r6")
        let x = try Tensor(shape: [1, 6], values: [-1, 0.5, 3, 5.9, 6.5, 20])
        #expect(try six.forward(x, training: false).values == [0, 0.5, 3, 5.9, 6, 6])
        let r = try gradCheck(six, inputShape: [3, 9], eps: 1e-3)
        #expect(r.maxErr < 1e-2)
        _ = six.configureGradients(upstreamTrainable: true)
        _ = try six.forward(x, training: true)
        #expect(try #require(try six.backward(Tensor(shape: [1, 6], repeating: 1))).values == [0, 1, 1, 1, 0, 0])
        let silu = try SiLU(name: "s").forward(try Tensor(shape: [1, 3], values: [-2, 0, 3]), training: false)
        #expect(abs(silu[0] - (-2 / (1 + Float(7.389056)))) < 1e-5 && silu[1] == 0 && abs(silu[2] - 3 / (1 + Float(0.049787))) < 1e-5)
    }

    @Test(arguments: [(5, 7, 2, 3), (4, 4, 1, 1), (2, 3, 7, 7), (6, 6, 6, 6)])
    func adaptiveAveragePooling(_ s: (h: Int, w: Int, oh: Int, ow: Int)) throws {
        let r = try gradCheck(AdaptiveAvgPool2D(name: "a", height: s.oh, width: s.ow), inputShape: [2, 3, s.h, s.w])
        #expect(r.maxErr < 1e-2)
    }

    @Test func adaptiveAveragePoolingBins() throws {
        // PyTorch's bins over 5 → 3: [0, 2), [1, 4), [3, 5).
        let x = try Tensor(shape: [1, 1, 1, 5], values: [1, 2, 3, 4, 5])
        let y = try AdaptiveAvgPool2D(name: "a", height: 1, width: 3).forward(x, training: false)
        #expect(y.values == [1.5, 3, 4.5])
    }

    @Test func ceilModeMaxPooling() throws {
        let pool = MaxPool2D(name: "p", size: 3, stride: 2, ceilMode: true)
        #expect(try pool.outputShape(for: [1, 8, 7]) == [1, 4, 3])   // floor mode: 3×3
        #expect(try MaxPool2D(name: "q", size: 3, stride: 1, padding: 1, ceilMode: true).outputShape(for: [1, 5, 5]) == [1, 5, 5])
        // The last window starts inside the input and is cut short.
        let x = try Tensor(shape: [1, 1, 2, 5], values: [1, 9, 2, 3, 7, 0, 0, 4, 0, 0])
        #expect(try MaxPool2D(name: "r", size: 2, stride: 2, ceilMode: true).forward(x, training: false).values == [9, 4, 7])
        #expect(try MaxPool2D(name: "r", size: 2, stride: 2).forward(x, training: false).values == [9, 4])
        #expect(try MaxPool2D(name: "s", size: 3, stride: 2, ceilMode: true).outputShape(for: [1, 3, 6]) == [1, 1, 3])
        let r = try gradCheck(pool, inputShape: [2, 2, 8, 7], eps: 1e-3)
        #expect(r.maxErr < 2e-2); #expect(r.checked > 20)
        let two = try gradCheck(MaxPool2D(name: "t", size: 2, stride: 2, ceilMode: true), inputShape: [2, 2, 5, 7], eps: 1e-3)
        #expect(two.maxErr < 2e-2)
    }

    @Test func stochasticDepth() throws {
        // Inference: the identity.
        let sd = StochasticDepth(name: "sd", rate: 0.5, rng: rng)
        var gen = SeededGenerator(seed: 2)
        let x = Tensor(zeros: [64, 3]); gen.fillNormal(x, std: 1)
        #expect(try sd.forward(x, training: false).values == x.values)
        // Training: whole samples are dropped or scaled by 2, the gradient likewise.
        _ = sd.configureGradients(upstreamTrainable: true)
        let y = try sd.forward(x, training: true)
        var kept = 0
        for s in 0..<64 {
            let row = (0..<3).map { y[s * 3 + $0] / x[s * 3 + $0] }
            #expect(row.allSatisfy { abs($0 - row[0]) < 1e-6 } && (abs(row[0]) < 1e-6 || abs(row[0] - 2) < 1e-6))
            if row[0] > 1 { kept += 1 }
        }
        #expect(kept > 16 && kept < 48)
        let dy = Tensor(shape: [64, 3], repeating: 1)
        let dx = try #require(try sd.backward(dy))
        for i in 0..<dx.count { #expect(dx[i] == y[i] / x[i] || abs(dx[i] - y[i] / x[i]) < 1e-6) }
        // Seeded: the same layer name and seed drop the same samples.
        let again = StochasticDepth(name: "sd", rate: 0.5, rng: rng)
        #expect(try again.forward(x, training: true).values == y.values)
        let r = try gradCheck(StochasticDepth(name: "sd", rate: 0.3, rng: rng), inputShape: [4, 2, 3, 3], training: false)
        #expect(r.maxErr < 1e-2)
    }

    @Test func channelAffine() throws {
        let r = try gradCheck(ChannelAffine(name: "t", scale: [0.5, 2, -1], shift: [0.1, 0, 3]), inputShape: [2, 3, 2, 3])
        #expect(r.maxErr < 1e-2)
        let y = try ChannelAffine(name: "t", scale: [2, 3], shift: [1, -1]).forward(try Tensor(shape: [1, 2, 1, 2], values: [1, 2, 3, 4]), training: false)
        #expect(y.values == [3, 5, 8, 11])
    }

    @Test func squeezeExcitation() throws {
        let gate = Sequential(name: "se", layers: [
            AdaptiveAvgPool2D(name: "se.avgpool", height: 1, width: 1),
            Conv2D(name: "se.fc1", inChannels: 4, outChannels: 2, kernel: 1, rng: rng), SiLU(name: "se.activation"),
            Conv2D(name: "se.fc2", inChannels: 2, outChannels: 4, kernel: 1, rng: rng), Sigmoid(name: "se.scale_activation")])
        let se = SqueezeExcitation(name: "se", gate: gate)
        #expect(se.parameters.map(\.name) == ["se.fc1.weight", "se.fc1.bias", "se.fc2.weight", "se.fc2.bias"])
        let r = try gradCheck(se, inputShape: [3, 4, 3, 3], eps: 1e-3)
        #expect(r.maxErr < 1e-2); #expect(r.checked > 60)
        // Frozen gate: still the right input gradient.
        for p in se.parameters { p.frozen = true }
        let frozen = try gradCheck(se, inputShape: [2, 4, 2, 2], eps: 1e-3)
        #expect(frozen.maxErr < 1e-2)
    }

    /// An inverted residual as the zoo describes it (`.sum` with children named under the
    /// block, batch norm with its own epsilon, depthwise conv; SiLU, which is smooth,
    /// where MobileNetV2 has ReLU6).
    @Test func invertedResidualFromTheZoo() throws {
        let block: LayerDescription = .sum(name: "b", body: [
            .conv(name: "0", filters: 6, kernel: 1, stride: 1, padding: 0, groups: 1, bias: false),
            .batchNormWith(name: "1", epsilon: 1e-3, momentum: 0.01), .silu(name: "2"),
            .conv(name: "3", filters: 6, kernel: 3, stride: 1, padding: 1, groups: 6, bias: false),
            .conv(name: "4", filters: 3, kernel: 1, stride: 1, padding: 0, groups: 1, bias: true),
        ], shortcut: [], after: [.silu(name: "act")])
        let arch = Architecture(name: "ir", input: FeatureShape(channels: 3, height: 4, width: 4), backbone: [block], head: [])
        let net = try Network(architecture: arch, seed: 1)
        #expect(net.parameters.map(\.name) == ["b.0.weight", "b.1.weight", "b.1.bias", "b.3.weight", "b.4.weight", "b.4.bias"])
        let bn = try #require(net.leafLayers.compactMap { $0 as? BatchNorm }.first)
        #expect(bn.epsilon == 1e-3 && bn.momentum == 0.01)
        let r = try gradCheck(net.root, inputShape: [4, 3, 4, 4], eps: 1e-2)
        #expect(r.maxErr < 3e-2); #expect(r.checked > 80)
    }
}

@Suite struct TorchvisionLayerDeterminism {
    /// A network of every new layer, trained for two epochs with stochastic depth and
    /// dropout on: bitwise equal weights for equal seeds and for 1 or 4 threads.
    @Test func sameSeedSameWeightsWhateverTheThreadCount() throws {
        let gate: [LayerDescription] = [.adaptiveAvgPool(name: "avgpool", height: 1, width: 1),
                                        .conv(name: "fc1", filters: 2, kernel: 1, stride: 1, padding: 0, groups: 1, bias: true),
                                        .silu(name: "activation"),
                                        .conv(name: "fc2", filters: 8, kernel: 1, stride: 1, padding: 0, groups: 1, bias: true),
                                        .sigmoid(name: "scale_activation")]
        let arch = Architecture(name: "mobile", input: FeatureShape(channels: 1, height: 8, width: 8), backbone: [
            .channelAffine(name: "t", scale: [2], shift: [-0.5]),
            .conv(name: "stem", filters: 8, kernel: 3, stride: 1, padding: 1, groups: 1, bias: false), .batchNorm(name: "bn"), .relu6(name: "r"),
            .sum(name: "mb", body: [.conv(name: "dw", filters: 8, kernel: 3, stride: 1, padding: 1, groups: 8, bias: false),
                                    .batchNormWith(name: "bn", epsilon: 1e-3, momentum: 0.1), .silu(name: "act"),
                                    .scale(name: "se", gate: gate),
                                    .stochasticDepth(name: "sd", rate: 0.3)], shortcut: [], after: []),
            .maxPoolCeil(name: "pool", size: 3, stride: 2, padding: 0),
            .adaptiveAvgPool(name: "avg", height: 2, width: 2), .flatten(name: "flat"),
        ], head: [.dropout(name: "d", rate: 0.2), .dense(name: "out", units: 4)])
        let train = try blobs(96, seed: 1)
        func run(_ seed: UInt64) throws -> [[Float]] {
            let net = try Network(architecture: arch, seed: 3)
            try Trainer.fit(net, train: train, config: TrainingConfig(epochs: 2, batchSize: 16, optimizer: .sgd(momentum: 0.9),
                                                                      learningRate: 0.05, seed: seed))
            return net.stateTensors.map { $0.tensor.values }
        }
        let a = try run(7), b = try run(7), c = try run(8)
        #expect(a == b)
        #expect(a != c)
        let saved = Parallel.threads
        Parallel.threads = 1
        let single = try run(7)
        Parallel.threads = 4
        let four = try run(7)
        Parallel.threads = saved
        #expect(single == a && four == a)
    }
}
