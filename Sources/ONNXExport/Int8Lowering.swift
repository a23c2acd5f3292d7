// Int8Lowering — a QuantizedNetwork as ONNX integer operators that onnxruntime runs
// in integer arithmetic, reproducing tlc's integer path step for step:
//   input      QuantizeLinear (the network's input scale and zero point), then Clip to
//              [0, activationMax] (tlc's activations are 7-bit, 4-bit below 8 bits);
//   conv       QLinearConv: uint8 activations, int8 weights (OIHW) with per-output-
//              channel scales, int32 bias, requantized to the layer's output scale and
//              zero point, then Clip to [0 (or the zero point after a ReLU), activationMax];
//   dense      the same as a 1×1 QLinearConv on `[N, K, 1, 1]` (QLinearMatMul has no bias);
//   last dense MatMulInteger (exact int32 sums with the input zero point subtracted),
//              Cast, × the accumulator scales, + the bias: float logits as tlc computes them;
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
        let scale = graph.constant(scope + "input.scale", floats: [network.inputScale], dims: [])
        let zero = graph.constant(scope + "input.zero_point", uint8: [UInt8(network.inputZero)], dims: [])
        let quantized = graph.node("QuantizeLinear", [x, scale, zero], name: scope + "input.quantize")
        var value = clip(quantized, low: 0, high: qmax, node: scope + "input.clip")
        // (h, w, c) of the current activation (NHWC in tlc, NCHW here); [K] when flat.
        var shape = input.isFlat ? [input.channels] : [input.height, input.width, input.channels]
        for (index, op) in network.ops.enumerated() {
            let isLast = index == network.ops.count - 1
            switch op {
            case .linear(let l):
                if isLast {
                    guard l.kernel == 0 else { throw ExportError("int8 layer '\(l.name)': the last layer must be dense") }
                    value = lastDense(value, l, inputShape: shape)
                } else if l.kernel > 0 {
                    value = convolution(value, l, qmax: qmax)
                } else {
                    value = hiddenDense(value, l, inputShape: shape, qmax: qmax)
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

    private mutating func clip(_ x: String, low: Int, high: Int, node: String) -> String {
        let lo = graph.constant(node + ".min", uint8: [UInt8(low)], dims: [])
        let hi = graph.constant(node + ".max", uint8: [UInt8(high)], dims: [])
        return graph.node("Clip", [x, lo, hi], name: node)
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

    /// QLinearConv's int32 bias: the float bias in accumulator units (`inScale · weightScale`).
    private static func integerBias(_ l: QuantizedLinear) -> [Int32] {
        zip(l.bias, l.weightScales).map { b, s in
            let unit = l.inScale * s
            return unit > 0 ? Int32(max(-2.0e9, min(2.0e9, (b / unit).rounded(.toNearestOrEven)))) : 0
        }
    }

    private mutating func qlinearConv(_ x: String, _ l: QuantizedLinear, weights: [Int8], weightDims: [Int],
                                      kernel: Int, stride: Int, padding: Int, qmax: Int) -> String {
        let node = scope + l.name
        let inputs = [
            x,
            graph.constant(node + ".input_scale", floats: [l.inScale], dims: []),
            graph.constant(node + ".input_zero_point", uint8: [UInt8(l.inZero)], dims: []),
            graph.constant(node + ".weight", int8: weights, dims: weightDims),
            graph.constant(node + ".weight_scale", floats: l.weightScales, dims: [l.outputs]),
            graph.constant(node + ".weight_zero_point", int8: [Int8](repeating: 0, count: l.outputs), dims: [l.outputs]),
            graph.constant(node + ".output_scale", floats: [l.outScale], dims: []),
            graph.constant(node + ".output_zero_point", uint8: [UInt8(l.outZero)], dims: []),
            graph.constant(node + ".bias", int32: Self.integerBias(l), dims: [l.outputs]),
        ]
        let y = graph.node("QLinearConv", inputs, name: node,
                           attributes: [.ints("kernel_shape", [kernel, kernel]), .ints("strides", [stride, stride]),
                                        .ints("pads", [padding, padding, padding, padding])])
        return clip(y, low: l.relu ? l.outZero : 0, high: qmax, node: node + ".clip")
    }

    private mutating func convolution(_ x: String, _ l: QuantizedLinear, qmax: Int) -> String {
        let c = l.inputShape[2], k = l.kernel
        // tlc's K order is (ki, kj, c); OIHW's is (c, ki, kj): the same permutation as a flatten of k×k×c.
        let w = Self.weightsInTorchOrder(l, h: k, w: k, c: c)
        return qlinearConv(x, l, weights: w, weightDims: [l.outputs, c, k, k], kernel: k, stride: l.stride, padding: l.padding, qmax: qmax)
    }

    /// Dense weights in PyTorch's input order: after a flatten of C×H×W, tlc held (h, w, c).
    private static func denseWeights(_ l: QuantizedLinear, inputShape: [Int]) -> [Int8] {
        let (h, w, c) = inputShape.count == 3 ? (inputShape[0], inputShape[1], inputShape[2]) : (1, 1, l.k)
        return weightsInTorchOrder(l, h: h, w: w, c: c)
    }

    private mutating func hiddenDense(_ x: String, _ l: QuantizedLinear, inputShape: [Int], qmax: Int) -> String {
        let shape = graph.constant(scope + l.name + ".shape", int64: [0, -1, 1, 1], dims: [4])
        let column = graph.node("Reshape", [x, shape], name: scope + l.name + ".reshape")
        return qlinearConv(column, l, weights: Self.denseWeights(l, inputShape: inputShape), weightDims: [l.outputs, l.k, 1, 1],
                           kernel: 1, stride: 1, padding: 0, qmax: qmax)
    }

    private mutating func lastDense(_ x: String, _ l: QuantizedLinear, inputShape: [Int]) -> String {
        let node = scope + l.name
        let flat = graph.node("Flatten", [x], name: node + ".flatten", attributes: [.int("axis", 1)])
        // MatMulInteger's B is [K, outputs].
        let rows = Self.denseWeights(l, inputShape: inputShape)
        var transposed = [Int8](repeating: 0, count: rows.count)
        for o in 0..<l.outputs { for j in 0..<l.k { transposed[j * l.outputs + o] = rows[o * l.k + j] } }
        let w = graph.constant(node + ".weight", int8: transposed, dims: [l.k, l.outputs])
        let zp = graph.constant(node + ".input_zero_point", uint8: [UInt8(l.inZero)], dims: [])
        let sums = graph.node("MatMulInteger", [flat, w, zp], name: node)
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
