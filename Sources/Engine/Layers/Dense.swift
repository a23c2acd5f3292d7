// Dense — fully connected layer y = x·Wᵀ + b with PyTorch's layout W[out, in]
// and PyTorch's default (Kaiming-uniform) initialisation; GEMMs through OpenBLAS.

/// Fully connected layer. Input `[N, in]` (or any `[N, …]` with `in` elements per sample).
public final class Dense: Layer {
    public let name: String
    public let inFeatures: Int, outFeatures: Int
    public let weight: Parameter, bias: Parameter
    public var needsInputGradient = true
    private var input: Tensor?

    /// A dense layer whose parameters are initialised from `rng.split(label: "<name>.weight")` etc.
    public init(name: String, inFeatures: Int, outFeatures: Int, rng: SeededGenerator) {
        self.name = name
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        weight = Parameter(name: name + ".weight", value: Tensor(zeros: [outFeatures, inFeatures]), isWeight: true)
        bias = Parameter(name: name + ".bias", value: Tensor(zeros: [outFeatures]), isWeight: false)
        let bound = 1 / Float(inFeatures).squareRoot()
        var wr = rng.split(label: weight.name), br = rng.split(label: bias.name)
        wr.fillUniform(weight.value, -bound, bound)
        br.fillUniform(bias.value, -bound, bound)
    }

    public var parameters: [Parameter] { [weight, bias] }

    public func outputShape(for input: [Int]) throws -> [Int] {
        guard input.reduce(1, *) == inFeatures else {
            throw EngineError.shapeMismatch(layer: name, message: "expected \(inFeatures) input features, got \(input)")
        }
        return [outFeatures]
    }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        let n = x.batch
        guard x.shape.count >= 2, x.sampleCount == inFeatures else {
            throw EngineError.shapeMismatch(layer: name, message: "expected input [N, \(inFeatures)], got \(x.shape)")
        }
        let y = Tensor(zeros: [n, outFeatures])
        let yp = y.pointer, bp = bias.value.pointer
        for i in 0..<n { (yp + i * outFeatures).update(from: bp, count: outFeatures) }
        gemm(transB: true, m: n, n: outFeatures, k: inFeatures, a: x.pointer, lda: inFeatures,
             b: weight.value.pointer, ldb: inFeatures, beta: 1, c: yp, ldc: outFeatures)
        input = training ? x : nil
        return y
    }

    public func backward(_ dy: Tensor) throws -> Tensor? {
        guard let x = input else {
            throw EngineError.invalidArgument("layer '\(name)': backward without a training forward pass")
        }
        let n = x.batch
        guard dy.shape == [n, outFeatures] else {
            throw EngineError.shapeMismatch(layer: name, message: "gradient shape \(dy.shape), expected [\(n), \(outFeatures)]")
        }
        if !weight.frozen {
            gemm(transA: true, m: outFeatures, n: inFeatures, k: n, a: dy.pointer, lda: outFeatures,
                 b: x.pointer, ldb: inFeatures, c: weight.grad.pointer, ldc: inFeatures)
        }
        if !bias.frozen {
            let g = bias.grad.pointer, d = dy.pointer
            for j in 0..<outFeatures { g[j] = 0 }
            for i in 0..<n { let row = d + i * outFeatures; for j in 0..<outFeatures { g[j] += row[j] } }
        }
        guard needsInputGradient else { return nil }
        let dx = Tensor(zeros: x.shape)
        gemm(m: n, n: inFeatures, k: outFeatures, a: dy.pointer, lda: outFeatures,
             b: weight.value.pointer, ldb: inFeatures, c: dx.pointer, ldc: inFeatures)
        return dx
    }
}
