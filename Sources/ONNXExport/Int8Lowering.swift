// Int8Lowering — a QuantizedNetwork as ONNX integer operators that onnxruntime runs
// in integer arithmetic, reproducing tlc's integer path step for step, so the two
// give the same integers:
//   input      × 1/scale, QuantizeLinear (scale 1, the input zero point: round half to
//              even, as tlc), Clip to [0, activationMax] (tlc's activations are 7-bit,
//              4-bit below 8 bits);
//   conv       ConvInteger (uint8 activations minus their zero point, padded with it;
//              int8 weights, OIHW) — exact int32 sums, as tlc's GEMM;
//   dense      MatMulInteger on the flattened activations (the same sums);
//   requantize Cast, × the accumulator scales, + the float bias, [Relu], × 1/output
//              scale, QuantizeLinear (scale 1, the output zero point), Clip — tlc's
//              `tlc_requantize` operation for operation;
//   last dense the same sums, Cast, × the accumulator scales, + the bias: float logits;
//   max pool   MaxPool on uint8; average pool in float (sums are exact) with tlc's
//              rounding `(sum + n/2) / n` in int32.
// tlc holds activations NHWC and orders a conv's K (and a dense layer's inputs after a
// flatten) as (h, w, c); ONNX is NCHW, so weights are permuted back to PyTorch's order.
import Engine
import ModelZoo

struct Int8Lowering {
    var graph: GraphBuilder
    let network: QuantizedNetwork
    let scope: String

    /// Lowers the float input `x` (`[N, C, H, W]` or `[N, F]`, already normalized) to logits `[N, outputs]`.
    mutating func lower(_ x: String) throws(ExportError) -> String {
        let qmax = network.config.activationMax
        let input = network.input
        let scaled = graph.node("Mul", [x, graph.constant(scope + "input.inverse_scale", floats: [1 / network.inputScale], dims: [])],
                                name: scope + "input.scale")
        var value = quantize(scaled, zero: network.inputZero, low: 0, high: qmax, node: scope + "input")
        // (h, w, c) of the current activation (NHWC in tlc, NCHW here); [K] when flat.
        var shape = input.isFlat ? [input.channels] : [input.height, input.width, input.channels]
        for (index, op) in network.ops.enumerated() {
            let isLast = index == network.ops.count - 1
            switch op {
            case .linear(let l):
                if isLast {
                    guard l.kernel == 0 else { throw ExportError("int8 layer '\(l.name)': the last layer must be dense") }
                    value = lastDense(value, l, inputShape: shape)
                } else {
                    let sums = l.kernel > 0 ? convolution(value, l) : denseSums(value, l, inputShape: shape)
                    value = requantize(sums, l, image: l.kernel > 0, qmax: qmax)
                }
                shape = l.outputShape
            case .maxPool(let size, let stride, let padding, _, let outputShape):
                value = graph.node("MaxPool", [value], name: scope + "maxpool_\(index)",
                                   attributes: [.ints("kernel_shape", [size, size]), .ints("strides", [stride, stride]),
                                                .ints("pads", [padding, padding, padding, padding])])
                shape = outputShape
            case .avgPool(let size, let stride, let padding, _, let outputShape):
                value = averagePool(value, size: size, stride: stride, padding: padding, node: scope + "avgpool_\(index)")
                shape = outputShape
            }
        }
        return value
    }

    /// `round_half_even(x) + zero`, clamped to [low, high], as uint8.
    private mutating func quantize(_ x: String, zero: Int, low: Int, high: Int, node: String) -> String {
        let one = graph.constant(node + ".unit_scale", floats: [1], dims: [])
        let zp = graph.constant(node + ".zero_point", uint8: [UInt8(zero)], dims: [])
        let q = graph.node("QuantizeLinear", [x, one, zp], name: node + ".quantize")
        let lo = graph.constant(node + ".min", uint8: [UInt8(low)], dims: [])
        let hi = graph.constant(node + ".max", uint8: [UInt8(high)], dims: [])
        return graph.node("Clip", [q, lo, hi], name: node + ".clip")
    }

    /// tlc's `(h·w + x)·c + ch` column order to PyTorch's `(ch·h + y)·w + x`, for each row.
    private static func weightsInTorchOrder(_ l: QuantizedLinear, h: Int, w: Int, c: Int) -> [Int8] {
        var out = [Int8](repeating: 0, count: l.outputs * l.k)
        for o in 0..<l.outputs {
            let row = o * l.kPadded, dst = o * l.k
            for ch in 0..<c { for y in 0..<h { for x in 0..<w {
                out[dst + (ch * h + y) * w + x] = l.weights[row + (y * w + x) * c + ch]
            } } }
        }
        return out
    }

    /// The layer's exact int32 sums `Σ (x − inZero)·w`, `[N, outputs, H, W]`.
    private mutating func convolution(_ x: String, _ l: QuantizedLinear) -> String {
        let c = l.inputShape[2], k = l.kernel, node = scope + l.name
        // tlc's K order is (ki, kj, c); OIHW's is (c, ki, kj): the same permutation as a flatten of k×k×c.
        let w = graph.constant(node + ".weight", int8: Self.weightsInTorchOrder(l, h: k, w: k, c: c), dims: [l.outputs, c, k, k])
        let zp = graph.constant(node + ".input_zero_point", uint8: [UInt8(l.inZero)], dims: [])
        return graph.node("ConvInteger", [x, w, zp], name: node,
                          attributes: [.ints("kernel_shape", [k, k]), .ints("strides", [l.stride, l.stride]),
                                       .ints("pads", [l.padding, l.padding, l.padding, l.padding])])
    }

    /// The sums as floats, scaled, biased, [ReLU], quantized to the next layer's uint8: `tlc_requantize`.
    private mutating func requantize(_ sums: String, _ l: QuantizedLinear, image: Bool, qmax: Int) -> String {
        let node = scope + l.name
        let dims = FloatLowering.channelDims(l.outputs, image: image)
        let floats = graph.node("Cast", [sums], name: node + ".cast", attributes: [.int("to", Int(ElementType.float.rawValue))])
        let scaled = graph.node("Mul", [floats, graph.constant(node + ".accumulator_scale", floats: l.accumulatorScales, dims: dims)], name: node + ".scale")
        var v = graph.node("Add", [scaled, graph.constant(node + ".bias", floats: l.bias, dims: dims)], name: node + ".bias")
        if l.relu { v = graph.node("Relu", [v], name: node + ".relu") }
        let t = graph.node("Mul", [v, graph.constant(node + ".inverse_output_scale", floats: [1 / l.outScale], dims: [])], name: node + ".output_scale")
        return quantize(t, zero: l.outZero, low: 0, high: qmax, node: node + ".output")
    }

    /// Dense weights in PyTorch's input order: after a flatten of C×H×W, tlc held (h, w, c).
    private static func denseWeights(_ l: QuantizedLinear, inputShape: [Int]) -> [Int8] {
        let (h, w, c) = inputShape.count == 3 ? (inputShape[0], inputShape[1], inputShape[2]) : (1, 1, l.k)
        return weightsInTorchOrder(l, h: h, w: w, c: c)
    }

    /// `[N, outputs]` int32 sums of a dense layer (its input flattened as PyTorch does).
    private mutating func denseSums(_ x: String, _ l: QuantizedLinear, inputShape: [Int]) -> String {
        let node = scope + l.name
        let flat = graph.node("Flatten", [x], name: node + ".flatten", attributes: [.int("axis", 1)])
        // MatMulInteger's B is [K, outputs].
        let rows = Self.denseWeights(l, inputShape: inputShape)
        var transposed = [Int8](repeating: 0, count: rows.count)
        for o in 0..<l.outputs { for j in 0..<l.k { transposed[j * l.outputs + o] = rows[o * l.k + j] } }
        let w = graph.constant(node + ".weight", int8: transposed, dims: [l.k, l.outputs])
        let zp = graph.constant(node + ".input_zero_point", uint8: [UInt8(l.inZero)], dims: [])
        return graph.node("MatMulInteger", [flat, w, zp], name: node)
    }

    /// The last layer: float logits `sums · accumulatorScale + bias`, as tlc writes them.
    private mutating func lastDense(_ x: String, _ l: QuantizedLinear, inputShape: [Int]) -> String {
        let node = scope + l.name
        let sums = denseSums(x, l, inputShape: inputShape)
        let floats = graph.node("Cast", [sums], name: node + ".cast", attributes: [.int("to", Int(ElementType.float.rawValue))])
        let scaled = graph.node("Mul", [floats, graph.constant(node + ".accumulator_scale", floats: l.accumulatorScales, dims: [l.outputs])],
                                name: node + ".scale")
        return graph.node("Add", [scaled, graph.constant(node + ".bias", floats: l.bias, dims: [l.outputs])], name: node + ".bias")
    }

    /// tlc's uint8 average pooling: the window's exact sum (padding counted as zeros),
    /// then `(sum + n/2) / n` in integers.
    private mutating func averagePool(_ x: String, size: Int, stride: Int, padding: Int, node: String) -> String {
        let n = size * size
        let toFloat = graph.node("Cast", [x], name: node + ".to_float", attributes: [.int("to", Int(ElementType.float.rawValue))])
        let mean = graph.node("AveragePool", [toFloat], name: node,
                              attributes: [.ints("kernel_shape", [size, size]), .ints("strides", [stride, stride]),
                                           .ints("pads", [padding, padding, padding, padding]), .int("count_include_pad", 1)])
        let sum = graph.node("Round", [graph.node("Mul", [mean, graph.constant(node + ".count", floats: [Float(n)], dims: [])], name: node + ".sum")],
                             name: node + ".round")
        let integer = graph.node("Cast", [sum], name: node + ".to_int", attributes: [.int("to", Int(ElementType.int32.rawValue))])
        let half = graph.node("Add", [integer, graph.constant(node + ".half", int32: [Int32(n / 2)], dims: [])], name: node + ".half")
        let divided = graph.node("Div", [half, graph.constant(node + ".divisor", int32: [Int32(n)], dims: [])], name: node + ".divide")
        return graph.node("Cast", [divided], name: node + ".to_uint8", attributes: [.int("to", Int(ElementType.uint8.rawValue))])
    }
}
