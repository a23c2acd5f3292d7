// Quantization — building a network's post-training integer form. Weights are
// symmetric int8 (per output channel or per tensor), activations per-tensor uint8 in
// [0, 127] with a zero point, calibrated (min/max) on a few training batches or taken
// from quantization-aware training's observers. Batchnorm after a conv is folded into
// it, ReLU is fused into the requantization.
//
// Owns: the integer network's types (QuantizationConfig, QuantizedLinear, QuantizedOp,
// QuantizedNetwork) and QuantizedNetwork.quantize (calibration, activation ranges,
// weight quantization). Running it: QuantizedInference.swift; saving and loading it:
// QuantizedCheckpoint.swift. Does not know about stages, specs or the cache.

import Foundation
import ModelZoo

/// Settings of post-training quantization.
public struct QuantizationConfig: Hashable, Sendable {
    /// 8 or 4: weights use [-(2^(b-1)-1), 2^(b-1)-1]; activations [0, 127] (8) or [0, 15] (4).
    public var bits: Int
    /// One weight scale per output channel (else one per tensor).
    public var perChannel: Bool
    /// Training batches run through the float network to calibrate activation ranges.
    public var calibrationBatches: Int
    public var batchSize: Int
    public init(bits: Int = 8, perChannel: Bool = true, calibrationBatches: Int = 10, batchSize: Int = 128) {
        self.bits = bits; self.perChannel = perChannel; self.calibrationBatches = calibrationBatches; self.batchSize = batchSize
    }
    public var weightMax: Int { (1 << (bits - 1)) - 1 }
    public var activationMax: Int { bits >= 8 ? 127 : 15 }
}

/// A conv or dense layer in integer form (batchnorm folded, ReLU fused).
public struct QuantizedLinear: Codable, Hashable, Sendable {
    public var name: String
    /// Output channels (rows of the weight matrix) and reduction length K.
    public var outputs: Int, k: Int
    /// K rounded up to a multiple of 32 (the GEMM's stride; the padding is zero).
    public var kPadded: Int
    /// Conv geometry (kernel 0 for dense layers); input is H×W×C (NHWC).
    public var kernel: Int, stride: Int, padding: Int
    public var inputShape: [Int]
    public var outputShape: [Int]
    public var relu: Bool
    public var inScale: Float, inZero: Int, outScale: Float, outZero: Int
    /// `[outputs][kPadded]`, K in (kh, kw, c) order for convs and (h, w, c) after a flatten.
    public var weights: [Int8]
    public var weightScales: [Float]
    public var bias: [Float]
    /// Sum of each weight row (for the input zero point).
    public var rowSums: [Int32]
    enum CodingKeys: String, CodingKey {
        case name, outputs, k, kPadded, kernel, stride, padding, inputShape, outputShape, relu, inScale, inZero, outScale, outZero
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name); outputs = try c.decode(Int.self, forKey: .outputs)
        k = try c.decode(Int.self, forKey: .k); kPadded = try c.decode(Int.self, forKey: .kPadded)
        kernel = try c.decode(Int.self, forKey: .kernel); stride = try c.decode(Int.self, forKey: .stride)
        padding = try c.decode(Int.self, forKey: .padding); inputShape = try c.decode([Int].self, forKey: .inputShape)
        outputShape = try c.decode([Int].self, forKey: .outputShape); relu = try c.decode(Bool.self, forKey: .relu)
        inScale = try c.decode(Float.self, forKey: .inScale); inZero = try c.decode(Int.self, forKey: .inZero)
        outScale = try c.decode(Float.self, forKey: .outScale); outZero = try c.decode(Int.self, forKey: .outZero)
        weights = []; weightScales = []; bias = []; rowSums = []
    }
    init(name: String, outputs: Int, k: Int, kernel: Int, stride: Int, padding: Int, inputShape: [Int], outputShape: [Int], relu: Bool,
         inScale: Float, inZero: Int, outScale: Float, outZero: Int, weights: [Int8], weightScales: [Float], bias: [Float]) {
        self.name = name; self.outputs = outputs; self.k = k; kPadded = (k + 31) / 32 * 32
        self.kernel = kernel; self.stride = stride; self.padding = padding
        self.inputShape = inputShape; self.outputShape = outputShape; self.relu = relu
        self.inScale = inScale; self.inZero = inZero; self.outScale = outScale; self.outZero = outZero
        self.weights = weights; self.weightScales = weightScales; self.bias = bias; rowSums = []
        computeRowSums()
    }
    mutating func computeRowSums() {
        rowSums = (0..<outputs).map { o in (0..<k).reduce(Int32(0)) { $0 + Int32(weights[o * kPadded + $1]) } }
    }
    /// Combined float scale of the accumulator of each row.
    public var accumulatorScales: [Float] { weightScales.map { $0 * inScale } }
}

/// One step of the integer pipeline.
public enum QuantizedOp: Codable, Hashable, Sendable {
    case linear(QuantizedLinear)
    /// Pooling on uint8 NHWC (scale and zero point pass through unchanged).
    case maxPool(size: Int, stride: Int, padding: Int, inputShape: [Int], outputShape: [Int])
    case avgPool(size: Int, stride: Int, padding: Int, inputShape: [Int], outputShape: [Int])
}

/// A network in integer form. Build it with ``QuantizedNetwork/quantize(_:calibration:config:)``.
public final class QuantizedNetwork: @unchecked Sendable {
    public let ops: [QuantizedOp]
    public let config: QuantizationConfig
    /// Input quantization (the network's first activation).
    public let inputScale: Float, inputZero: Int
    /// The float network's input shape (C, H, W) and the number of outputs.
    public let input: FeatureShape
    public let outputs: Int
    /// Parameter count of the float network it came from (weights + biases).
    public let parameterCount: Int

    /// Each linear op's weights packed for the GEMM kernels (nil for pools), by op index.
    let packedLayers: [PackedLinear?]
    /// Workspaces of finished forward passes, reused by the next (QuantizedInference.swift).
    let workspaceLock = NSLock()
    var freeWorkspaces: [Int8Workspace] = []

    init(ops: [QuantizedOp], config: QuantizationConfig, inputScale: Float, inputZero: Int, input: FeatureShape, outputs: Int, parameterCount: Int) {
        self.ops = ops; self.config = config; self.inputScale = inputScale; self.inputZero = inputZero
        self.input = input; self.outputs = outputs; self.parameterCount = parameterCount
        packedLayers = ops.map { op in
            guard case .linear(let l) = op else { return nil }
            return PackedLinear(l, activationMax: config.activationMax)
        }
    }

    /// Fraction of integer weights that are zero.
    public var sparsity: Double {
        var zeros = 0, total = 0
        for case .linear(let l) in ops {
            for o in 0..<l.outputs { for j in 0..<l.k where l.weights[o * l.kPadded + j] == 0 { zeros += 1 } }
            total += l.outputs * l.k
        }
        return total == 0 ? 0 : Double(zeros) / Double(total)
    }

    // MARK: building

    /// The leaf layers of a sequential network, or an error naming the first layer
    /// the integer path cannot run (residual additions, concatenations).
    static func leaves(_ network: Network) throws -> [Layer] {
        var out: [Layer] = []
        func walk(_ l: Layer) throws {
            if let s = l as? Sequential { for c in s.layers { try walk(c) } }
            else if l is Residual || l is Concat {
                throw EngineError.invalidArgument("int8 quantization supports sequential networks (mlp, lenet5, cnn, vgg, alexnet-mini); '\(l.name)' is a \(l is Residual ? "residual block" : "concatenation")")
            } else { out.append(l) }
        }
        try walk(network.root)
        return out
    }

    /// A group of leaves the integer path runs as one step: conv/dense [+ batchnorm]
    /// [+ relu] (its output is quantized), a pool, or a shape-only layer. `end` is the
    /// index of the first leaf after the unit.
    enum Unit {
        case linear(Layer, BatchNorm?, relu: Bool, end: Int)
        case pool(Layer, end: Int)
        case skip(end: Int)
        var end: Int {
            switch self { case .linear(_, _, _, let e), .pool(_, let e), .skip(let e): e }
        }
    }

    /// Groups a sequential network's leaves into units, or names the first leaf the
    /// integer path cannot run.
    static func units(_ layers: [Layer]) throws -> [Unit] {
        var units: [Unit] = []
        var i = 0
        while i < layers.count {
            let l = layers[i]
            if l is Conv2D || l is Dense {
                var j = i + 1
                var bn: BatchNorm? = nil, relu = false
                if j < layers.count, let b = layers[j] as? BatchNorm, l is Conv2D { bn = b; j += 1 }
                if j < layers.count, layers[j] is ReLU { relu = true; j += 1 }
                units.append(.linear(l, bn, relu: relu, end: j)); i = j
            } else if (l as? MaxPool2D)?.ceilMode == true {
                throw EngineError.invalidArgument("int8 quantization cannot run ceil-mode max pooling ('\(l.name)')")
            } else if l is MaxPool2D || l is AvgPool2D || l is GlobalAvgPool {
                units.append(.pool(l, end: i + 1)); i += 1
            } else if l is Flatten || l is Dropout {
                units.append(.skip(end: i + 1)); i += 1
            } else if l is ReLU {
                // A ReLU after a pool: the pool's input was already non-negative or is clamped here.
                throw EngineError.invalidArgument("int8 quantization: '\(l.name)' does not follow a conv or dense layer")
            } else {
                throw EngineError.invalidArgument("int8 quantization cannot run layer '\(l.name)' (\(type(of: l)))")
            }
        }
        return units
    }

    /// Quantizes `network`: folds batchnorm, fuses ReLU, calibrates activation ranges
    /// on `calibration` (the first `config.calibrationBatches` batches, in order) — or,
    /// when `ranges` is given (quantization-aware training's observers), takes the
    /// activation ranges from it and runs no calibration.
    public static func quantize(_ network: Network, calibration: Dataset, config: QuantizationConfig,
                                ranges given: ActivationRanges? = nil) throws -> QuantizedNetwork {
        guard config.bits == 8 || config.bits == 4 else { throw EngineError.invalidArgument("quantization supports 8 or 4 bits, not \(config.bits)") }
        let layers = try leaves(network)
        let units = try units(layers)
        let lastLinear = units.lastIndex { if case .linear = $0 { true } else { false } }
        var inputRange = (lo: Float(0), hi: Float(0))
        var ranges = [(lo: Float, hi: Float)](repeating: (0, 0), count: units.count)
        if let given {
            inputRange = (given.input.lo, given.input.hi)
            for (u, unit) in units.enumerated() {
                guard case .linear(let l, _, _, _) = unit, u != lastLinear else { continue }
                guard let r = given.units[l.name] else {
                    throw EngineError.invalidArgument("int8 quantization: no activation range for '\(l.name)'")
                }
                ranges[u] = (r.lo, r.hi)
            }
        } else {
            // Calibration: min/max of the network input and of every linear unit's output.
            let nCal = min(calibration.count, max(1, config.calibrationBatches) * config.batchSize)
            guard nCal > 0 else { throw EngineError.invalidArgument("quantization needs calibration data") }
            var start = 0
            while start < nCal {
                let end = min(start + config.batchSize, nCal)
                var (h, _) = calibration.batch(Array(start..<end)[...])
                if !network.architecture.input.isFlat && h.shape.count != 4 {
                    try h.reshape([end - start, network.architecture.input.channels, network.architecture.input.height, network.architecture.input.width])
                }
                inputRange = widen(inputRange, h)
                var li = 0
                for (u, unit) in units.enumerated() {
                    while li < unit.end { h = try layers[li].forward(h, training: false); li += 1 }
                    if case .linear = unit { ranges[u] = widen(ranges[u], h) }
                }
                start = end
            }
        }
        func qparams(_ r: (lo: Float, hi: Float)) -> (Float, Int) { activationParameters(lo: r.lo, hi: r.hi, activationMax: config.activationMax) }
        let (inScale, inZero) = qparams(inputRange)
        // Walk the units with the current activation layout (NHWC shape, scale, zero point).
        let inShape = network.architecture.input
        var shape = inShape.isFlat ? [inShape.channels] : [inShape.height, inShape.width, inShape.channels]
        var (scale, zero) = (inScale, inZero)
        var ops: [QuantizedOp] = []
        for (u, unit) in units.enumerated() {
            switch unit {
            case .skip:
                continue
            case .pool(let l, _):
                guard shape.count == 3 else { throw EngineError.invalidArgument("int8 quantization: pool '\(l.name)' on a flat input") }
                let (h, w, c) = (shape[0], shape[1], shape[2])
                if let p = l as? MaxPool2D {
                    let oh = (h + 2 * p.padding - p.size) / p.stride + 1, ow = (w + 2 * p.padding - p.size) / p.stride + 1
                    ops.append(.maxPool(size: p.size, stride: p.stride, padding: p.padding, inputShape: shape, outputShape: [oh, ow, c]))
                    shape = [oh, ow, c]
                } else if let p = l as? AvgPool2D {
                    let oh = (h + 2 * p.padding - p.size) / p.stride + 1, ow = (w + 2 * p.padding - p.size) / p.stride + 1
                    ops.append(.avgPool(size: p.size, stride: p.stride, padding: p.padding, inputShape: shape, outputShape: [oh, ow, c]))
                    shape = [oh, ow, c]
                } else {
                    ops.append(.avgPool(size: h, stride: 1, padding: 0, inputShape: shape, outputShape: [1, 1, c]))
                    shape = [1, 1, c]
                }
            case .linear(let l, let bn, let relu, _):
                let (outScale, outZero) = relu ? qparams((0, ranges[u].hi)) : qparams(ranges[u])
                var op = try quantizeLinear(l, bn: bn, relu: relu, shape: shape, inScale: scale, inZero: zero,
                                            outScale: outScale, outZero: outZero, config: config)
                if u == lastLinear { op.outScale = 1; op.outZero = 0 }
                ops.append(.linear(op))
                shape = op.outputShape
                (scale, zero) = (outScale, outZero)
            }
        }
        guard case .linear(let last)? = ops.last, last.outputs == network.outputFeatures else {
            throw EngineError.invalidArgument("int8 quantization: the network must end with a dense layer")
        }
        return QuantizedNetwork(ops: ops, config: config, inputScale: inScale, inputZero: inZero, input: inShape,
                                outputs: last.outputs, parameterCount: network.parameterCount)
    }

    /// Scale and zero point of a per-tensor activation range (widened to include 0)
    /// on [0, activationMax].
    static func activationParameters(lo: Float, hi: Float, activationMax aMax: Int) -> (scale: Float, zero: Int) {
        let lo = min(lo, 0), hi = max(hi, 0)
        let scale = hi > lo ? (hi - lo) / Float(aMax) : 1
        let zero = min(max(Int((-lo / scale).rounded()), 0), aMax)
        return (scale, zero)
    }

    private static func widen(_ r: (lo: Float, hi: Float), _ t: Tensor) -> (lo: Float, hi: Float) {
        var lo = r.lo, hi = r.hi
        let p = t.pointer
        for i in 0..<t.count { let v = p[i]; if v < lo { lo = v }; if v > hi { hi = v } }
        return (lo, hi)
    }

    private static func quantizeLinear(_ l: Layer, bn: BatchNorm?, relu: Bool, shape: [Int], inScale: Float, inZero: Int,
                                       outScale: Float, outZero: Int, config: QuantizationConfig) throws -> QuantizedLinear {
        // Float weights as [out][K] in the integer path's K order, with batchnorm folded.
        var rows: [[Float]], bias: [Float]
        var kernel = 0, stride = 1, padding = 0
        var outShape: [Int]
        if let conv = l as? Conv2D {
            guard shape.count == 3, shape[2] == conv.inChannels else {
                throw EngineError.shapeMismatch(layer: conv.name, message: "int8 path expected \(conv.inChannels) input channels, got \(shape)")
            }
            let (c, k) = (conv.inChannels, conv.kernel)
            let w = conv.weight.value.pointer
            rows = (0..<conv.outChannels).map { o in
                var r = [Float](repeating: 0, count: k * k * c)
                for ch in 0..<c { for ki in 0..<k { for kj in 0..<k { r[(ki * k + kj) * c + ch] = w[((o * c + ch) * k + ki) * k + kj] } } }
                return r
            }
            bias = conv.bias.value.values
            (kernel, stride, padding) = (k, conv.stride, conv.padding)
            let oh = (shape[0] + 2 * padding - k) / stride + 1, ow = (shape[1] + 2 * padding - k) / stride + 1
            outShape = [oh, ow, conv.outChannels]
        } else if let dense = l as? Dense {
            let inF = dense.inFeatures
            guard shape.reduce(1, *) == inF else {
                throw EngineError.shapeMismatch(layer: dense.name, message: "int8 path expected \(inF) inputs, got \(shape)")
            }
            let w = dense.weight.value.pointer
            // After a flatten of C×H×W (float order c, h, w), the integer path holds (h, w, c).
            let (h, wd, c) = shape.count == 3 ? (shape[0], shape[1], shape[2]) : (1, 1, inF)
            rows = (0..<dense.outFeatures).map { o in
                var r = [Float](repeating: 0, count: inF)
                for ch in 0..<c { for y in 0..<h { for x in 0..<wd { r[(y * wd + x) * c + ch] = w[o * inF + (ch * h + y) * wd + x] } } }
                return r
            }
            bias = dense.bias.value.values
            outShape = [dense.outFeatures]
        } else {
            throw EngineError.invalidArgument("int8 quantization: '\(l.name)' is not a conv or dense layer")
        }
        if let bn {
            for o in rows.indices {
                let g = bn.weight.value[o] / (bn.runningVar[o] + bn.epsilon).squareRoot()
                for j in rows[o].indices { rows[o][j] *= g }
                bias[o] = (bias[o] - bn.runningMean[o]) * g + bn.bias.value[o]
            }
        }
        let k = rows.first?.count ?? 0, kp = (k + 31) / 32 * 32
        let qmax = Float(config.weightMax)
        let tensorMax = rows.reduce(Float(0)) { m, r in r.reduce(m) { max($0, abs($1)) } }
        var q = [Int8](repeating: 0, count: rows.count * kp)
        var scales = [Float](repeating: 1, count: rows.count)
        for (o, r) in rows.enumerated() {
            let m = config.perChannel ? r.reduce(Float(0)) { max($0, abs($1)) } : tensorMax
            let s = m > 0 ? m / qmax : 1
            scales[o] = s
            for j in 0..<k { q[o * kp + j] = Int8(max(-qmax, min(qmax, (r[j] / s).rounded()))) }
        }
        return QuantizedLinear(name: l.name, outputs: rows.count, k: k, kernel: kernel, stride: stride, padding: padding,
                               inputShape: shape, outputShape: outShape, relu: relu, inScale: inScale, inZero: inZero,
                               outScale: outScale, outZero: outZero, weights: q, weightScales: scales, bias: bias)
    }
}
