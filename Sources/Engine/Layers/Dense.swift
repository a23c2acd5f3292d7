// Dense — fully connected layer y = x·Wᵀ + b with PyTorch's layout W[out, in]
// and PyTorch's default (Kaiming-uniform) initialisation. Passes that train none of
// its weights (inference, a frozen layer) run CDense's kernel (AVX-512 or AVX2, the
// same bits on both, a following ReLU fused in inference); training passes and backward
// are GEMMs through OpenBLAS. Either way on the parts of the batch in parallel.

import CDense

/// Fully connected layer. Input `[N, in]` (or any `[N, …]` with `in` elements per sample).
public final class Dense: Layer {
    public let name: String
    public let inFeatures: Int, outFeatures: Int
    public let weight: Parameter, bias: Parameter
    public var needsInputGradient = true
    private var input: Tensor?

    /// A dense layer whose parameters are initialised from `rng.split(label: "<name>.weight")` etc.
    let workspace = Workspace()

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

    /// The instruction set of CDense's kernel on this CPU (0: none, OpenBLAS throughout).
    static let kernelLevel = Int(tlc_dense_level())

    /// Whether a pass runs CDense's kernel: one that trains none of this layer's weights
    /// (so a frozen layer's training pass equals its inference pass).
    func usesKernel(training: Bool) -> Bool { Dense.kernelLevel > 0 && (!training || weight.frozen) }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        try forward(x, training: training, fusingReLU: false)
    }

    /// The forward pass; `fusingReLU` (inference only, see ``Sequential``) rectifies the
    /// output as the following ReLU would. `level` chooses CDense's instruction set (tests).
    func forward(_ x: Tensor, training: Bool, fusingReLU: Bool, level: Int = Dense.kernelLevel) throws -> Tensor {
        let n = x.batch
        guard x.shape.count >= 2, x.sampleCount == inFeatures else {
            throw EngineError.shapeMismatch(layer: name, message: "expected input [N, \(inFeatures)], got \(x.shape)")
        }
        guard !fusingReLU || (!training && level > 0) else {
            throw EngineError.invalidArgument("layer '\(name)': a ReLU is fused only into an inference pass of the dense kernel")
        }
        let y = Tensor(uninitialized: [n, outFeatures])
        let yp = y.pointer, bp = bias.value.pointer, xp = x.pointer, wp = weight.value.pointer
        let (inF, outF) = (inFeatures, outFeatures)
        if level > 0 && (!training || weight.frozen) {
            Parallel.forEachPart(n) { _, r in
                tlc_dense(Int32(level), xp + r.lowerBound * inF, r.count, inF, wp, bp, outF, fusingReLU ? 1 : 0, yp + r.lowerBound * outF)
            }
        } else {
            Parallel.forEachPart(n) { _, r in
                for i in r { let row = yp + i * outF; for j in 0..<outF { row[j] = bp[j] } }
                gemm(transB: true, m: r.count, n: outF, k: inF, a: xp + r.lowerBound * inF, lda: inF,
                     b: wp, ldb: inF, beta: 1, c: yp + r.lowerBound * outF, ldc: outF)
            }
        }
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
        let (inF, outF) = (inFeatures, outFeatures)
        let dyp = dy.pointer, xp = x.pointer, wp = weight.value.pointer
        let wantW = !weight.frozen
        let dx: Tensor? = needsInputGradient ? Tensor(uninitialized: x.shape) : nil
        let dxp = dx?.pointer
        // dW = dyᵀ·x over the whole batch, cut by output rows: each part owns its rows of
        // the gradient (no partial sums to add up; the same result for any thread count).
        if wantW {
            let gw = weight.grad.pointer
            Parallel.forEachPart(outF) { _, rows in
                gemm(transA: true, m: rows.count, n: inF, k: n, a: dyp + rows.lowerBound, lda: outF,
                     b: xp, ldb: inF, c: gw + rows.lowerBound * inF, ldc: inF)
            }
        }
        if let dxp {
            Parallel.forEachPart(n) { _, r in
                gemm(m: r.count, n: inF, k: outF, a: dyp + r.lowerBound * outF, lda: outF,
                     b: wp, ldb: inF, c: dxp + r.lowerBound * inF, ldc: inF)
            }
        }
        if !bias.frozen {
            let g = bias.grad.pointer, d = dy.pointer
            for j in 0..<outFeatures { g[j] = 0 }
            for i in 0..<n { let row = d + i * outFeatures; for j in 0..<outFeatures { g[j] += row[j] } }
        }
        return dx
    }
}
