import Testing
@testable import Engine

/// One parameter [1, 2] with gradient [0.5, -1].
func param(_ values: [Float] = [1, 2], grad: [Float] = [0.5, -1]) throws -> Parameter {
    let p = Parameter(name: "w", value: try Tensor(shape: [values.count], values: values), isWeight: true)
    for (i, g) in grad.enumerated() { p.grad[i] = g }
    return p
}

func close(_ a: [Float], _ b: [Float], _ tol: Float = 1e-6) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= tol * max(1, abs($1)) }
}

@Suite struct Optimizers {
    @Test func sgdPlainWithWeightDecay() throws {
        let p = try param()
        let o = try Optimizer(kind: .sgd(), parameters: [p], learningRate: 0.1, weightDecay: 0.01)
        o.step()
        // w -= 0.1 * (g + 0.01 w)
        let want: [Float] = [1 - 0.1 * (0.5 + 0.01), 2 - 0.1 * (-1 + 0.02)]
        #expect(close(p.value.values, want))
    }
    @Test func sgdMomentumTwoSteps() throws {
        let p = try param()
        let o = try Optimizer(kind: .sgd(momentum: 0.9), parameters: [p], learningRate: 0.1)
        o.step(); o.step()
        // buf1 = g, w1 = w0 - 0.1 g; buf2 = 0.9 g + g = 1.9 g; w2 = w1 - 0.19 g
        #expect(close(p.value.values, [1 - 0.29 * 0.5, 2 + 0.29]))
    }
    @Test func sgdNesterov() throws {
        let p = try param()
        let o = try Optimizer(kind: .sgd(momentum: 0.9, nesterov: true), parameters: [p], learningRate: 0.1)
        o.step(); o.step()
        // step1: buf=g, update g+0.9g = 1.9g; step2: buf=1.9g, update g + 0.9*1.9g = 2.71g
        #expect(close(p.value.values, [1 - 0.1 * 4.61 * 0.5, 2 + 0.1 * 4.61]))
    }
    @Test func adamTwoSteps() throws {
        let p = try param()
        let o = try Optimizer(kind: .adam(), parameters: [p], learningRate: 0.01)
        o.step()
        // First Adam step moves each weight by lr·sign(g) (up to eps).
        #expect(close(p.value.values, [0.99, 2.01], 1e-5))
        p.grad[0] = 0.5; p.grad[1] = -1
        o.step()
        // Constant gradient: m̂ = g, v̂ = g² again → another lr·sign(g).
        #expect(close(p.value.values, [0.98, 2.02], 1e-5))
    }
    @Test func adamL2VersusAdamWDecoupled() throws {
        let a = try param(grad: [0, 0]), b = try param(grad: [0, 0])
        try Optimizer(kind: .adam(), parameters: [a], learningRate: 0.1, weightDecay: 0.5).step()
        try Optimizer(kind: .adamW(), parameters: [b], learningRate: 0.1, weightDecay: 0.5).step()
        // Adam: gradient becomes wd·w > 0 → moves by lr. AdamW: w·(1 - lr·wd), zero Adam step.
        #expect(close(a.value.values, [0.9, 1.9], 1e-5))
        #expect(close(b.value.values, [0.95, 1.9], 1e-6))
    }
    @Test func rmspropOneStep() throws {
        let p = try param()
        try Optimizer(kind: .rmsprop(alpha: 0.9, epsilon: 0), parameters: [p], learningRate: 0.01).step()
        // sq = 0.1 g²; step = lr g / sqrt(0.1 g²) = lr / sqrt(0.1) · sign(g)
        let d: Float = 0.01 / Float(0.1).squareRoot()
        #expect(close(p.value.values, [1 - d, 2 + d], 1e-5))
    }
    @Test func clippingByGlobalNorm() throws {
        let p = try param(grad: [3, 4])  // norm 5
        let o = try Optimizer(kind: .sgd(), parameters: [p], learningRate: 1, clipNorm: 1)
        let n = o.step()
        #expect(abs(n! - 5) < 1e-5)
        #expect(close(p.value.values, [1 - 0.6, 2 - 0.8], 1e-5))
    }
    @Test func frozenParametersAreNotUpdated() throws {
        let p = try param(); p.frozen = true
        try Optimizer(kind: .adam(), parameters: [p], learningRate: 1).step()
        #expect(p.value.values == [1, 2])
    }
    @Test func groupsHaveTheirOwnRates() throws {
        let a = try param(), b = try param()
        let o = try Optimizer(kind: .sgd(), groups: [ParameterGroup(parameters: [a], learningRate: 0.1),
                                                     ParameterGroup(parameters: [b], learningRate: 0.01)])
        o.step(lrScale: 0.5)
        #expect(close(a.value.values, [1 - 0.025, 2 + 0.05]))
        #expect(close(b.value.values, [1 - 0.0025, 2 + 0.005]))
        #expect(throws: EngineError.self) { try Optimizer(kind: .sgd(), groups: [ParameterGroup(parameters: [a], learningRate: 1), ParameterGroup(parameters: [a], learningRate: 1)]) }
    }
    @Test func schedules() {
        #expect(LRSchedule.constant.factor(step: 100) == 1)
        let s = LRSchedule.step(stepSize: 10, gamma: 0.5)
        #expect(s.factor(step: 9) == 1 && s.factor(step: 10) == 0.5 && s.factor(step: 25) == 0.25)
        let c = LRSchedule.cosine(warmupSteps: 4, totalSteps: 14)
        #expect(c.factor(step: 0) == 0.25 && c.factor(step: 3) == 1)
        #expect(abs(c.factor(step: 4) - 1) < 1e-6)
        #expect(abs(c.factor(step: 9) - 0.5) < 1e-6)
        #expect(abs(c.factor(step: 14)) < 1e-6)
        let o = LRSchedule.oneCycle(totalSteps: 100)
        #expect(abs(o.factor(step: 0) - 0.04) < 1e-6)
        #expect(abs(o.factor(step: 29) - 1) < 1e-6)
        #expect(o.factor(step: 99) < 1e-5)
        #expect(o.factor(step: 60) < o.factor(step: 40))
        let r = LearningRateSchedule.cosine(warmupEpochs: 1, minFactor: 0).resolve(epochs: 3, stepsPerEpoch: 10)
        #expect(r == .cosine(warmupSteps: 10, totalSteps: 30, minFactor: 0))
    }
}
