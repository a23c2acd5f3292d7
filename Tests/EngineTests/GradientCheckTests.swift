// Finite-difference gradient checks for every layer and the loss.
import Testing
@testable import Engine

/// Loss L = Σ y·r for a fixed random r; checks dL/dx and dL/dθ against central differences.
func gradCheck(_ layer: Layer, inputShape: [Int], seed: UInt64 = 1, training: Bool = true,
               eps: Float = 1e-2, checkInput: Bool = true) throws -> (maxErr: Double, checked: Int) {
    var rng = SeededGenerator(seed: seed)
    let x = Tensor(zeros: inputShape)
    rng.fillNormal(x, std: 1)
    _ = layer.configureGradients(upstreamTrainable: checkInput)
    let y0 = try layer.forward(x, training: training)
    let r = Tensor(zeros: y0.shape)
    rng.fillNormal(r, std: 1)
    func loss() throws -> Double {
        let y = try layer.forward(x, training: training)
        var s = 0.0
        for i in 0..<y.count { s += Double(y[i]) * Double(r[i]) }
        return s
    }
    _ = try loss()
    let dx = try layer.backward(r)
    var worst = 0.0, checked = 0
    func compare(_ analytic: Float, _ t: Tensor, _ i: Int) throws {
        let old = t[i]
        t[i] = old + eps; let lp = try loss()
        t[i] = old - eps; let lm = try loss()
        t[i] = old
        let numeric = (lp - lm) / Double(2 * eps)
        let err = abs(numeric - Double(analytic)) / max(1, abs(numeric), abs(Double(analytic)))
        worst = max(worst, err); checked += 1
    }
    let grads = layer.parameters.map { $0.grad.copy() }
    if checkInput {
        let g = try #require(dx)
        #expect(g.shape == x.shape)
        for i in stride(from: 0, to: x.count, by: max(1, x.count / 40)) { try compare(g[i], x, i) }
    }
    for (p, g) in zip(layer.parameters, grads) where !p.frozen {
        for i in stride(from: 0, to: p.value.count, by: max(1, p.value.count / 40)) { try compare(g[i], p.value, i) }
    }
    return (worst, checked)
}

@Suite struct GradientChecks {
    let rng = SeededGenerator(seed: 42)

    @Test func dense() throws {
        let r = try gradCheck(Dense(name: "fc", inFeatures: 5, outFeatures: 4, rng: rng), inputShape: [3, 5])
        #expect(r.maxErr < 1e-2); #expect(r.checked > 20)
    }
    @Test func conv2dPadded() throws {
        let r = try gradCheck(Conv2D(name: "c", inChannels: 2, outChannels: 3, kernel: 3, stride: 1, padding: 1, rng: rng), inputShape: [2, 2, 5, 5])
        #expect(r.maxErr < 1e-2); #expect(r.checked > 40)
    }
    @Test func conv2dStrided() throws {
        let c = Conv2D(name: "c", inChannels: 2, outChannels: 2, kernel: 3, stride: 2, padding: 1, rng: rng)
        c.chunkFloats = 50 // force several chunks
        let r = try gradCheck(c, inputShape: [3, 2, 6, 7])
        #expect(r.maxErr < 1e-2); #expect(r.checked > 40)
    }
    @Test func conv2dChunkedWithWidePaddingAndPointwise() throws {
        // Stride 1 takes the transposed-convolution input gradient; several chunks per part.
        let wide = Conv2D(name: "c", inChannels: 3, outChannels: 2, kernel: 3, stride: 1, padding: 2, rng: rng)
        wide.chunkFloats = 60
        let r = try gradCheck(wide, inputShape: [5, 3, 4, 5])
        #expect(r.maxErr < 1e-2); #expect(r.checked > 40)
        let pointwise = try gradCheck(Conv2D(name: "p", inChannels: 4, outChannels: 3, kernel: 1, rng: rng), inputShape: [2, 4, 3, 3])
        #expect(pointwise.maxErr < 1e-2)
    }
    /// Large output planes (with c·k ≥ 16) run one sample at a time over column shifts.
    @Test func conv2dOverColumnShifts() throws {
        func conv(_ c: Int, _ o: Int, _ k: Int, _ p: Int, _ shape: [Int]) throws -> Conv2D {
            let layer = Conv2D(name: "c", inChannels: c, outChannels: o, kernel: k, padding: p, rng: rng)
            let (oh, ow) = layer.outSize(shape[2], shape[3])
            #expect(layer.usesColumnShifts(Conv2D.Geo(h: shape[2], w: shape[3], oh: oh, ow: ow, c: c, k: k, stride: 1, pad: p)))
            return layer
        }
        // "Same" padding: the input gradient is the transposed convolution.
        let same = try gradCheck(try conv(6, 3, 3, 1, [3, 6, 12, 12]), inputShape: [3, 6, 12, 12])
        #expect(same.maxErr < 1e-2); #expect(same.checked > 40)
        // A valid (unpadded) convolution: its input gradient takes W^T·dy and col2im.
        let valid = try gradCheck(try conv(6, 3, 3, 0, [2, 6, 14, 13]), inputShape: [2, 6, 14, 13])
        #expect(valid.maxErr < 1e-2); #expect(valid.checked > 40)
        // Five column shifts, and padding wider than "same".
        let five = try gradCheck(try conv(4, 2, 5, 2, [2, 4, 12, 11]), inputShape: [2, 4, 12, 11])
        #expect(five.maxErr < 1e-2); #expect(five.checked > 40)
        let wide = try gradCheck(try conv(6, 2, 3, 2, [2, 6, 11, 12]), inputShape: [2, 6, 11, 12])
        #expect(wide.maxErr < 1e-2); #expect(wide.checked > 40)
    }
    @Test func conv2dNoPadding5x5() throws {
        let r = try gradCheck(Conv2D(name: "c", inChannels: 1, outChannels: 2, kernel: 5, stride: 1, padding: 0, rng: rng), inputShape: [2, 1, 7, 6])
        #expect(r.maxErr < 1e-2)
    }
    @Test func maxPool() throws {
        let r = try gradCheck(MaxPool2D(name: "p", size: 2, stride: 2), inputShape: [2, 2, 4, 5], eps: 1e-3)
        #expect(r.maxErr < 2e-2); #expect(r.checked > 20)
    }
    @Test func avgPool() throws {
        let r = try gradCheck(AvgPool2D(name: "p", size: 3, stride: 2), inputShape: [2, 2, 7, 7])
        #expect(r.maxErr < 1e-2)
    }
    @Test func globalAvgPool() throws {
        let r = try gradCheck(GlobalAvgPool(name: "g"), inputShape: [2, 3, 3, 4])
        #expect(r.maxErr < 1e-2)
    }
    @Test func batchNormTraining() throws {
        let bn = BatchNorm(name: "bn", channels: 3)
        var g = SeededGenerator(seed: 3)
        g.fillNormal(bn.weight.value, mean: 1, std: 0.3); g.fillNormal(bn.bias.value, std: 0.3)
        let r = try gradCheck(bn, inputShape: [4, 3, 2, 2], eps: 1e-2)
        #expect(r.maxErr < 2e-2); #expect(r.checked > 20)
    }
    @Test func batchNorm1d() throws {
        let r = try gradCheck(BatchNorm(name: "bn", channels: 4), inputShape: [6, 4])
        #expect(r.maxErr < 2e-2)
    }
    @Test func relu() throws {
        let r = try gradCheck(ReLU(name: "r"), inputShape: [3, 7], eps: 1e-3)
        #expect(r.maxErr < 1e-2)
    }
    @Test func convolutionFusedWithReLU() throws {
        let seq = Sequential(name: "s", layers: [Conv2D(name: "c", inChannels: 2, outChannels: 3, kernel: 3, padding: 1, rng: rng),
                                                 ReLU(name: "r")])
        let r = try gradCheck(seq, inputShape: [2, 2, 5, 5], eps: 1e-3)
        #expect(r.maxErr < 2e-2); #expect(r.checked > 40)
    }
    /// The fused Conv2D+ReLU of a Sequential gives bitwise the same output and gradients
    /// as the two layers run one after the other.
    @Test(arguments: [6, 12]) func fusedConvolutionAndReLUMatchTheLayersApart(side: Int) throws {
        func make() -> (Conv2D, ReLU) {
            (Conv2D(name: "c", inChannels: 6, outChannels: 4, kernel: 3, padding: 1, rng: SeededGenerator(seed: 9)), ReLU(name: "r"))
        }
        var g = SeededGenerator(seed: 3)
        let x = Tensor(zeros: [5, 6, side, side]); g.fillNormal(x, std: 1)
        let dy = Tensor(zeros: [5, 4, side, side]); g.fillNormal(dy, std: 1)
        let (c1, r1) = make(), (c2, r2) = make()
        let fused = Sequential(name: "s", layers: [c1, r1])
        _ = fused.configureGradients(upstreamTrainable: true)
        _ = c2.configureGradients(upstreamTrainable: true); _ = r2.configureGradients(upstreamTrainable: true)
        let y1 = try fused.forward(x, training: true)
        let y2 = try r2.forward(try c2.forward(x, training: true), training: true)
        #expect(y1.values == y2.values)
        let dr2 = try #require(try r2.backward(dy))
        let dx1 = try #require(try fused.backward(dy)), dx2 = try #require(try c2.backward(dr2))
        #expect(dx1.values == dx2.values)
        #expect(c1.weight.grad.values == c2.weight.grad.values)
        #expect(c1.bias.grad.values == c2.bias.grad.values)
        // An unfused pass after a fused one uses no stale mask. (Compared with a training
        // pass: inference may run another lowering — Conv2D's direct convolution.)
        let y3 = try c1.forward(x, training: true)
        let dx3 = try #require(try c1.backward(dy)), dx4 = try #require(try c2.backward(dy))
        #expect(y3.values == (try c2.forward(x, training: true)).values)
        #expect(dx3.values == dx4.values)
    }
    @Test func flatten() throws {
        let r = try gradCheck(Flatten(name: "f"), inputShape: [2, 2, 3, 3])
        #expect(r.maxErr < 1e-2)
    }
    @Test func dropoutInference() throws {
        let r = try gradCheck(Dropout(name: "d", rate: 0.5, rng: rng), inputShape: [2, 5], training: false)
        #expect(r.maxErr < 1e-2)
    }
    @Test func residualWithProjection() throws {
        let body = Sequential(name: "res", layers: [
            Conv2D(name: "res.c1", inChannels: 2, outChannels: 3, kernel: 3, stride: 1, padding: 1, rng: rng),
            ReLU(name: "res.r"),
            Conv2D(name: "res.c2", inChannels: 3, outChannels: 3, kernel: 3, stride: 1, padding: 1, rng: rng)])
        let sc = Sequential(name: "res.shortcut", layers: [
            Conv2D(name: "res.shortcut.proj", inChannels: 2, outChannels: 3, kernel: 1, stride: 1, padding: 0, rng: rng)])
        let r = try gradCheck(Residual(name: "res", body: body, shortcut: sc), inputShape: [2, 2, 4, 4], eps: 1e-3)
        #expect(r.maxErr < 2e-2)
    }
    @Test func residualIdentity() throws {
        let body = Sequential(name: "res", layers: [Dense(name: "res.fc", inFeatures: 4, outFeatures: 4, rng: rng)])
        let r = try gradCheck(Residual(name: "res", body: body, shortcut: Sequential(name: "res.shortcut", layers: [])), inputShape: [3, 4])
        #expect(r.maxErr < 1e-2)
    }
    @Test func concat() throws {
        let b0 = Sequential(name: "inc.branch0", layers: [Conv2D(name: "inc.branch0.c", inChannels: 2, outChannels: 2, kernel: 1, rng: rng)])
        let b1 = Sequential(name: "inc.branch1", layers: [Conv2D(name: "inc.branch1.c", inChannels: 2, outChannels: 3, kernel: 3, padding: 1, rng: rng)])
        let b2 = Sequential(name: "inc.branch2", layers: [])
        let r = try gradCheck(Concat(name: "inc", branches: [b0, b1, b2]), inputShape: [2, 2, 3, 3])
        #expect(r.maxErr < 1e-2)
    }

    @Test(arguments: [Float(0), 0.1])
    func softmaxCrossEntropy(smoothing: Float) throws {
        var g = SeededGenerator(seed: 9)
        let logits = Tensor(zeros: [4, 5]); g.fillNormal(logits, std: 2)
        let labels = [0, 3, 4, 1]
        let loss = SoftmaxCrossEntropy(labelSmoothing: smoothing)
        let (_, grad, _) = try loss(logits: logits, labels: labels)
        for i in 0..<logits.count {
            let old = logits[i], e: Float = 1e-2
            logits[i] = old + e; let lp = try loss(logits: logits, labels: labels).loss
            logits[i] = old - e; let lm = try loss(logits: logits, labels: labels).loss
            logits[i] = old
            let num = (lp - lm) / (2 * e)
            #expect(abs(num - grad[i]) < 2e-3, "element \(i): numeric \(num) analytic \(grad[i])")
        }
    }

    @Test func crossEntropyValue() throws {
        // Uniform logits: loss = log K.
        let logits = Tensor(zeros: [2, 4])
        let (l, _, _) = try SoftmaxCrossEntropy()(logits: logits, labels: [1, 2])
        #expect(abs(l - 1.3862944) < 1e-5)
    }
}

@Suite struct PaddedPooling {
    @Test func maxPoolPadded() throws {
        let r = try gradCheck(MaxPool2D(name: "p", size: 3, stride: 2, padding: 1), inputShape: [2, 2, 5, 5], eps: 1e-3)
        #expect(r.maxErr < 2e-2)
        let y = try MaxPool2D(name: "p", size: 3, stride: 2, padding: 1).forward(Tensor(shape: [1, 1, 5, 5], repeating: -1), training: false)
        #expect(y.shape == [1, 1, 3, 3]); #expect(y.values.allSatisfy { $0 == -1 })  // padding never wins
    }
    @Test func avgPoolPadded() throws {
        let r = try gradCheck(AvgPool2D(name: "p", size: 3, stride: 1, padding: 1), inputShape: [1, 2, 4, 4])
        #expect(r.maxErr < 1e-2)
        let y = try AvgPool2D(name: "p", size: 3, stride: 1, padding: 1).forward(Tensor(shape: [1, 1, 3, 3], repeating: 9), training: false)
        #expect(abs(y[0] - 4) < 1e-5)  // corner: 4 of 9 cells inside, padding counts
        #expect(abs(y[4] - 9) < 1e-5)
    }
}
