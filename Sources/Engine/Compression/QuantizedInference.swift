// QuantizedInference — running a QuantizedNetwork. Inference never goes back to
// floats between layers: the input is quantized once to uint8 NHWC, every conv and
// dense layer is one GEMM over packed int8 weights (CInt8: AVX-512 VNNI, AVX2 or
// portable, bit-identical) whose epilogue requantizes straight to the next layer's
// uint8 with ReLU fused; pooling runs on uint8. Only the last layer's outputs (the
// logits) are produced as floats.
//
// Owns: Int8Kernel (which GEMM kernel runs), PackedLinear (a layer's weights packed
// once for the kernels), QuantizedNetwork.forward and evaluate with their reusable
// workspaces, and the integer GEMM as a call of its own (tests, benchmarks).

import CInt8
import Foundation

/// The integer GEMM kernels; all give identical results.
public enum Int8Kernel: Int32, CaseIterable, Sendable, CustomStringConvertible {
    case portable = 0      // TLC_INT8_PORTABLE
    case avx2 = 1          // TLC_INT8_AVX2
    case avx512VNNI = 2    // TLC_INT8_AVX512_VNNI

    /// The fastest kernel this CPU runs (chosen at run time).
    public static let best = Int8Kernel(rawValue: tlc_int8_best_kernel()) ?? .portable

    /// Whether this CPU runs the kernel.
    public var isSupported: Bool { tlc_int8_kernel_supported(rawValue) != 0 }

    public var description: String {
        switch self {
        case .portable: "portable"
        case .avx2: "AVX2"
        case .avx512VNNI: "AVX-512 VNNI"
        }
    }
}

/// A conv or dense layer's weights packed for the kernels (panels of 16 output
/// channels, groups of 4 along K, convolutions in the implicit GEMM's column order,
/// several output pixels per row when there are few channels) with its requantization
/// constants, built once per network.
final class PackedLinear: @unchecked Sendable {
    let packed: UnsafeMutableRawPointer
    let offsets: UnsafeMutablePointer<Int32>
    let zeroTerm: UnsafeMutablePointer<Int32>, scale: UnsafeMutablePointer<Float>, bias: UnsafeMutablePointer<Float>
    /// The convolution's geometry (kernel > 0).
    let shape: tlc_qconv_shape?
    /// What the kernels read (pointers into the buffers above).
    private(set) var layer = tlc_qlayer()

    init(_ l: QuantizedLinear, activationMax: Int) {
        // Rows of `columns` weights; a convolution's in the implicit GEMM's order, `group`
        // output pixels per row when it has few outputs (lanes that would stay empty).
        var columns = (l.k + 3) / 4 * 4, rows: [Int8], group = 1
        var shape: tlc_qconv_shape? = nil
        if l.kernel > 0 {
            let (c, ow) = (l.inputShape[2], l.outputShape[1])
            group = [4, 2].first { $0 * l.outputs <= Int(TLC_INT8_PANEL) && ow % $0 == 0 } ?? 1
            var s = tlc_qconv_shape(H: Int32(l.inputShape[0]), W: Int32(l.inputShape[1]), C: Int32(c),
                                    k: Int32(l.kernel), stride: Int32(l.stride), pad: Int32(l.padding),
                                    OH: Int32(l.outputShape[0]), OW: Int32(ow), zpIn: UInt8(l.inZero), group: Int32(group))
            let span = Int(tlc_int8_conv_span(&s))
            columns = l.kernel * span
            rows = [Int8](repeating: 0, count: group * l.outputs * columns)
            for j in 0..<group {
                for o in 0..<l.outputs {
                    let row = (j * l.outputs + o) * columns
                    for ki in 0..<l.kernel { for kj in 0..<l.kernel { for ch in 0..<c {
                        rows[row + ki * span + (kj + l.stride * j) * c + ch] = l.weights[o * l.kPadded + (ki * l.kernel + kj) * c + ch]
                    } } }
                }
            }
            shape = s
        } else {
            rows = [Int8](repeating: 0, count: l.outputs * columns)
            for o in 0..<l.outputs { for j in 0..<l.k { rows[o * columns + j] = l.weights[o * l.kPadded + j] } }
        }
        self.shape = shape
        let outputs = group * l.outputs
        let packed = UnsafeMutableRawPointer.allocate(byteCount: max(tlc_int8_packed_size(Int32(outputs), Int32(columns)), 64), alignment: 64)
        rows.withUnsafeBufferPointer { w in
            tlc_int8_pack(w.baseAddress, Int32(outputs), Int32(columns), columns, packed.assumingMemoryBound(to: Int8.self))
        }
        self.packed = packed
        offsets = .allocate(capacity: columns / 4)
        if var s = shape { tlc_int8_conv_offsets(&s, offsets) } else { tlc_int8_dense_offsets(Int32(columns), offsets) }
        let lanes = (outputs + Int(TLC_INT8_PANEL) - 1) / Int(TLC_INT8_PANEL) * Int(TLC_INT8_PANEL)
        zeroTerm = .allocate(capacity: lanes); scale = .allocate(capacity: lanes); bias = .allocate(capacity: lanes)
        zeroTerm.initialize(repeating: 0, count: lanes); scale.initialize(repeating: 0, count: lanes); bias.initialize(repeating: 0, count: lanes)
        let accumulatorScales = l.accumulatorScales
        for m in 0..<outputs {
            zeroTerm[m] = Int32(l.inZero) * l.rowSums[m % l.outputs]
            scale[m] = accumulatorScales[m % l.outputs]
            bias[m] = l.bias[m % l.outputs]
        }
        layer = tlc_qlayer(M: Int32(outputs), Kp: Int32(columns),
                           packed: UnsafePointer(packed.assumingMemoryBound(to: Int8.self)), offsets: UnsafePointer(offsets),
                           zeroTerm: UnsafePointer(zeroTerm), scale: UnsafePointer(scale), bias: UnsafePointer(bias),
                           relu: l.relu ? 1 : 0, invOut: 1 / l.outScale, zpOut: Int32(l.outZero), qmax: Int32(activationMax))
    }

    /// Bytes of the padded input copy a convolution needs.
    var paddedBytes: Int {
        guard var s = shape else { return 0 }
        return tlc_int8_conv_padded_size(&s)
    }

    deinit { packed.deallocate(); offsets.deallocate(); zeroTerm.deallocate(); scale.deallocate(); bias.deallocate() }
}

/// Buffers for running one part of a batch: two activation buffers (uint8 NHWC) and
/// a convolution's padded input. Kept by the network between calls so a forward pass allocates (and
/// page-faults) nothing.
final class Int8Workspace {
    /// Slack past every buffer: kernels read a row's last group of 4 whole.
    static let slack = 64
    let samples: Int
    let a: UnsafeMutablePointer<UInt8>, b: UnsafeMutablePointer<UInt8>, padded: UnsafeMutablePointer<UInt8>
    init(samples: Int, activationBytes: Int, paddedBytes: Int) {
        self.samples = samples
        let act = samples * activationBytes + Self.slack, pad = paddedBytes + Self.slack
        a = .allocate(capacity: act); b = .allocate(capacity: act); padded = .allocate(capacity: pad)
        a.initialize(repeating: 0, count: act); b.initialize(repeating: 0, count: act); padded.initialize(repeating: 0, count: pad)
    }
    deinit { a.deallocate(); b.deallocate(); padded.deallocate() }
}

extension QuantizedNetwork {
    /// The kernel `forward` uses unless told otherwise.
    public static var kernel: Int8Kernel { .best }

    /// The integer GEMM on its own (tests, benchmarks): `C[n][m] = Σ_k b[n][k]·a[m][k]`
    /// for `b` uint8 in [0, 127] (`n × k`) and `a` int8 in [-127, 127] (`m × k`).
    public static func integerGEMM(_ b: [UInt8], _ a: [Int8], n: Int, m: Int, k: Int, kernel: Int8Kernel = .best) -> [Int32] {
        precondition(b.count == n * k && a.count == m * k)
        let kPadded = (k + 31) / 32 * 32
        var weights = [Int8](repeating: 0, count: m * kPadded)
        for o in 0..<m { for j in 0..<k { weights[o * kPadded + j] = a[o * k + j] } }
        let l = QuantizedLinear(name: "gemm", outputs: m, k: k, kernel: 0, stride: 1, padding: 0, inputShape: [k], outputShape: [m], relu: false,
                                inScale: 1, inZero: 0, outScale: 1, outZero: 0, weights: weights,
                                weightScales: [Float](repeating: 1, count: m), bias: [Float](repeating: 0, count: m))
        let packed = PackedLinear(l, activationMax: 127)
        // Rows padded to a multiple of 4 (the kernels read whole groups of 4).
        let kp = (k + 3) / 4 * 4
        var rows = [UInt8](repeating: 0, count: n * kp + Int8Workspace.slack)
        for i in 0..<n { for j in 0..<k { rows[i * kp + j] = b[i * k + j] } }
        var c = [Int32](repeating: 0, count: n * m)
        var layer = packed.layer
        rows.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
            tlc_int8_gemm_s32(kernel.rawValue, &layer, bp.baseAddress, kp, Int32(n), cp.baseAddress, m)
        } }
        return withExtendedLifetime(packed) { c }
    }

    /// Logits `[N, outputs]` for a float batch `[N, C, H, W]` (or `[N, F]`), computed
    /// through the integer pipeline. Batches are cut into ``Parallel/parts`` parts.
    public func forward(_ x: Tensor, kernel: Int8Kernel = QuantizedNetwork.kernel) throws -> Tensor {
        let n = x.batch
        guard x.shape.count >= 2, x.sampleCount == input.count else {
            throw EngineError.shapeMismatch(layer: "int8", message: "expected inputs of \(input) features, got \(x.shape)")
        }
        guard kernel.isSupported else { throw EngineError.invalidArgument("the \(kernel) int8 kernel does not run on this CPU") }
        let y = Tensor(zeros: [n, outputs])
        let xp = UnsafePointer(x.pointer), yp = y.pointer
        Parallel.forEachPart(n) { _, range in
            let workspace = self.takeWorkspace(samples: range.count)
            self.run(xp, samples: range, into: yp, kernel: kernel, workspace: workspace)
            self.returnWorkspace(workspace)
        }
        return y
    }

    /// A workspace for `samples` samples: a kept one when one is free and big enough.
    private func takeWorkspace(samples: Int) -> Int8Workspace {
        workspaceLock.lock()
        defer { workspaceLock.unlock() }
        if let i = freeWorkspaces.firstIndex(where: { $0.samples >= samples }) { return freeWorkspaces.remove(at: i) }
        var activation = input.count, padded = 0
        for (index, op) in ops.enumerated() {
            switch op {
            case .linear(let l):
                activation = max(activation, l.outputShape.reduce(1, *))
                padded = max(padded, packedLayers[index]!.paddedBytes)
            case .maxPool(_, _, _, _, let o), .avgPool(_, _, _, _, let o): activation = max(activation, o.reduce(1, *))
            }
        }
        return Int8Workspace(samples: samples, activationBytes: activation, paddedBytes: padded)
    }

    private func returnWorkspace(_ w: Int8Workspace) {
        workspaceLock.lock()
        defer { workspaceLock.unlock() }
        if freeWorkspaces.count < Parallel.parts { freeWorkspaces.append(w) }
    }

    /// Runs samples `range` of the batch at `x` (float NCHW) and writes their logits.
    private func run(_ x: UnsafePointer<Float>, samples range: Range<Int>, into y: UnsafeMutablePointer<Float>,
                     kernel: Int8Kernel, workspace: Int8Workspace) {
        let nc = range.count
        tlc_int8_quantize_input(x + range.lowerBound * input.count, Int32(nc), Int32(input.channels), Int32(input.count / input.channels),
                                1 / inputScale, Int32(inputZero), Int32(config.activationMax), workspace.a)
        var cur = workspace.a, next = workspace.b
        var curCount = input.count
        for (index, op) in ops.enumerated() {
            switch op {
            case .linear(let l):
                let packed = packedLayers[index]!
                var layer = packed.layer
                if var shape = packed.shape {
                    tlc_int8_conv(kernel.rawValue, &layer, &shape, cur, Int32(nc), next, workspace.padded)
                } else if index == ops.count - 1 {
                    tlc_int8_gemm_requant(kernel.rawValue, &layer, cur, curCount, Int32(nc), nil, 0, y + range.lowerBound * l.outputs, l.outputs)
                } else {
                    tlc_int8_gemm_requant(kernel.rawValue, &layer, cur, curCount, Int32(nc), next, l.outputs, nil, 0)
                }
                curCount = l.outputShape.reduce(1, *)
            case .maxPool(let size, let stride, let padding, let inShape, let outShape),
                 .avgPool(let size, let stride, let padding, let inShape, let outShape):
                var isMax: Int32 = 0
                if case .maxPool = op { isMax = 1 }
                tlc_int8_pool(cur, Int32(nc), Int32(inShape[0]), Int32(inShape[1]), Int32(inShape[2]), Int32(size), Int32(stride), Int32(padding),
                              Int32(outShape[0]), Int32(outShape[1]), isMax, next)
                curCount = outShape.reduce(1, *)
            }
            swap(&cur, &next)
        }
    }

    /// Evaluates through the integer path.
    public func evaluate(_ data: Dataset, batchSize: Int = 256, topK: Int = 5) throws -> EvaluationResult {
        guard outputs == data.numClasses else {
            throw EngineError.shapeMismatch(layer: "int8", message: "network has \(outputs) outputs but the data set has \(data.numClasses) classes")
        }
        return try evaluateClassifier(data, batchSize: batchSize, topK: topK) { try self.forward($0) }
    }
}
