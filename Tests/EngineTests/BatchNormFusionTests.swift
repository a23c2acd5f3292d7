// A BatchNorm followed by a ReLU or a ReLU6 runs fused (``Sequential``): in a training
// pass the output, the input gradient and the scale's and shift's gradients are bitwise
// those of the two layers run apart, with batch statistics and with a frozen batch norm;
// in an inference pass the output is.
import Testing
@testable import Engine

@Suite struct BatchNormFusionTests {
    @Test(arguments: [false, true], [false, true])
    func aFusedReLUGivesWhatTheLayersGiveApart(frozen: Bool, relu6: Bool) throws {
        func make() -> (BatchNorm, any Layer) {
            let bn = BatchNorm(name: "bn", channels: 6)
            var g = SeededGenerator(seed: 4)
            // ReLU6: a wide scale, so that some outputs reach the ceiling.
            g.fillNormal(bn.weight.value, std: relu6 ? 5 : 1); g.fillNormal(bn.bias.value, std: 1); g.fillNormal(bn.runningMean, std: 0.3)
            if frozen { bn.weight.frozen = true; bn.bias.frozen = true }
            return (bn, relu6 ? ReLU6(name: "relu6") : ReLU(name: "relu"))
        }
        var g = SeededGenerator(seed: 9)
        let x = Tensor(zeros: [4, 6, 5, 7]), dy = Tensor(zeros: [4, 6, 5, 7])
        g.fillNormal(x, std: 2); g.fillNormal(dy, std: 1)

        let (bn1, relu1) = make()
        let fused = Sequential(name: "s", layers: [bn1, relu1])
        let y1 = try fused.forward(x, training: true)
        let dx1 = try #require(try fused.backward(dy))

        let (bn2, relu2) = make()
        let y2 = try relu2.forward(bn2.forward(x, training: true), training: true)
        let through = try #require(try relu2.backward(dy))
        let dx2 = try #require(try bn2.backward(through))

        #expect(y1.values == y2.values)
        #expect(y1.values.contains { $0 == 0 } && y1.values.contains { $0 > 0 && $0 < 6 })
        if relu6 { #expect(y1.values.contains { $0 == 6 }) }
        #expect(dx1.values == dx2.values)
        #expect(bn1.weight.grad.values == bn2.weight.grad.values && bn1.bias.grad.values == bn2.bias.grad.values)
        #expect(bn1.runningMean.values == bn2.runningMean.values && bn1.runningVar.values == bn2.runningVar.values)
    }

    @Test(arguments: [false, true])
    func anInferencePassFusesTheActivationToo(relu6: Bool) throws {
        let bn = BatchNorm(name: "bn", channels: 6)
        var g = SeededGenerator(seed: 5)
        g.fillNormal(bn.weight.value, std: relu6 ? 5 : 1); g.fillNormal(bn.bias.value, std: 1); g.fillNormal(bn.runningMean, std: 0.3)
        for i in 0..<6 { bn.runningVar[i] = 0.5 + Float(i) * 0.2 }
        let act: any Layer = relu6 ? ReLU6(name: "relu6") : ReLU(name: "relu")
        // Large enough that the channels run in parts.
        let x = Tensor(zeros: [8, 6, 40, 40]); g.fillNormal(x, std: 2)
        let apart = try act.forward(bn.forward(x, training: false), training: false)
        let fused = try Sequential(name: "s", layers: [bn, act]).forward(x, training: false)
        #expect(fused.values == apart.values)
        #expect(fused.values.contains { $0 == 0 } && fused.values.contains { $0 > 0 && $0 < 6 })
        if relu6 { #expect(fused.values.contains { $0 == 6 }) }
    }

    /// A depthwise convolution, a batch norm and a ReLU or ReLU6 in an inference pass: the
    /// batch norm and the activation on each chunk of planes (130 × 130 planes: chunks of 3),
    /// bitwise what the three layers give apart, at stride 1 and 2.
    @Test(arguments: ["none", "relu", "relu6"], [1, 2])
    func aDepthwiseConvolutionFusesTheBatchNormInInference(activation: String, stride: Int) throws {
        let conv = GroupedConv2D(name: "dw", inChannels: 4, outChannels: 4, kernel: 3, stride: stride, padding: 1, groups: 4,
                                 rng: SeededGenerator(seed: 3))
        let bn = BatchNorm(name: "bn", channels: 4)
        var g = SeededGenerator(seed: 6)
        g.fillNormal(bn.weight.value, std: activation == "relu6" ? 8 : 1); g.fillNormal(bn.bias.value, std: 1); g.fillNormal(bn.runningMean, std: 0.3)
        for i in 0..<4 { bn.runningVar[i] = 0.5 + Float(i) * 0.4 }
        let act: (any Layer)? = activation == "relu" ? ReLU(name: "relu") : activation == "relu6" ? ReLU6(name: "relu6") : nil
        let x = Tensor(zeros: [2, 4, 130, 130]); g.fillNormal(x, std: 1)
        var apart = try bn.forward(conv.forward(x, training: false), training: false)
        if let act { apart = try act.forward(apart, training: false) }
        let net = Sequential(name: "s", layers: [conv, bn] + (act.map { [$0] } ?? []))
        let fused = try net.forward(x, training: false)
        #expect(conv.fusesBatchNorm(x, training: false) && !conv.fusesBatchNorm(x, training: true))
        #expect(fused.values == apart.values)
        if activation == "relu6" { #expect(fused.values.contains { $0 == 6 } && fused.values.contains { $0 > 0 && $0 < 6 }) }
        // A training pass does not fuse: batch statistics.
        #expect(try net.forward(x, training: true).values != fused.values)
    }
}
