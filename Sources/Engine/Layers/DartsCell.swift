// DartsCell — the cell of differentiable architecture search (DARTS, Liu et al. 2018)
// as a layer: node 0 is the input, node j the sum of its edges from earlier nodes,
// the output the sum of nodes 1…N. An edge of one operation is that operation; an
// edge of several mixes them by the softmax of its row of `alpha`, the architecture
// weights every cell of a network shares. The cell that owns `alpha` (the first)
// lists it among its parameters and zeroes its gradient in its forward pass; each
// cell's backward pass adds its part, so after one forward and backward pass through
// the network alpha's gradient is the whole d loss / d alpha:
//   d loss / d alpha[e, k] = w_k · (⟨g, o_k⟩ − Σ_k' w_k' ⟨g, o_k'⟩),
// with w = softmax(alpha[e]), o_k operation k's output and g the node's gradient.
// Sums run in a fixed order on one thread, so results do not depend on thread counts.

/// One DARTS cell; see the file's comment.
public final class DartsCell: Layer {
    /// An edge: its source node, each operation (nil: zero; no layers: identity) and,
    /// for a mixed edge, its row of alpha.
    public struct Edge {
        public var from: Int
        public var operations: [Sequential?]
        public var row: Int?
    }
    public let name: String
    public let nodes: [[Edge]]
    /// The shared architecture weights `[mixed edges, operations]` (nil: a discrete cell).
    public let alpha: Parameter?
    /// Whether this cell lists alpha as its parameter (and zeroes its gradient).
    public let ownsAlpha: Bool
    public var needsInputGradient = true

    private var states: [Tensor] = []
    private var outputs: [[[Tensor?]]] = []
    private var weights: [[Float]] = []

    public init(name: String, nodes: [[Edge]], alpha: Parameter?, ownsAlpha: Bool) {
        self.name = name; self.nodes = nodes; self.alpha = alpha; self.ownsAlpha = ownsAlpha
    }

    var operationLayers: [Sequential] { nodes.flatMap { $0.flatMap { $0.operations.compactMap { $0 } } } }

    public var parameters: [Parameter] { operationLayers.flatMap(\.parameters) + (ownsAlpha ? [alpha!] : []) }
    public var buffers: [(name: String, tensor: Tensor)] { operationLayers.flatMap(\.buffers) }

    public func outputShape(for input: [Int]) throws -> [Int] { input }

    /// softmax of each row of alpha.
    public func mixingWeights() -> [[Float]] { alpha.map { Self.softmaxRows($0.value) } ?? [] }

    /// softmax of each row of a `[rows, k]` tensor.
    public static func softmaxRows(_ t: Tensor) -> [[Float]] {
        let k = t.shape.count == 2 ? t.shape[1] : t.count
        return (0..<(t.count / max(k, 1))).map { r in
            let row = (0..<k).map { t.pointer[r * k + $0] }
            let m = row.max() ?? 0
            let e = row.map { Float(exp(Double($0 - m))) }
            let s = e.reduce(0, +)
            return e.map { $0 / s }
        }
    }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        if ownsAlpha, let alpha { alpha.grad.fill(0) }
        weights = mixingWeights()
        states = [x]
        outputs = []
        for edges in nodes {
            let acc = Tensor(zeros: x.shape)
            var nodeOutputs: [[Tensor?]] = []
            for e in edges {
                var outs: [Tensor?] = []
                for (k, op) in e.operations.enumerated() {
                    guard let op else { outs.append(nil); continue }
                    let o = try op.forward(states[e.from], training: training)
                    guard o.count == acc.count else {
                        throw EngineError.shapeMismatch(layer: op.name, message: "output \(o.shape) differs from the cell's input \(x.shape)")
                    }
                    let w: Float = e.row.map { weights[$0][k] } ?? 1
                    let a = acc.pointer, p = o.pointer
                    for i in 0..<acc.count { a[i] += w * p[i] }
                    outs.append(o)
                }
                nodeOutputs.append(outs)
            }
            outputs.append(nodeOutputs)
            states.append(acc)
        }
        let y = Tensor(zeros: x.shape)
        for s in states.dropFirst() {
            let a = y.pointer, p = s.pointer
            for i in 0..<y.count { a[i] += p[i] }
        }
        return y
    }

    public func backward(_ dy: Tensor) throws -> Tensor? {
        guard states.count == nodes.count + 1 else {
            throw EngineError.invalidArgument("\(name): backward without a forward pass")
        }
        var grads: [Tensor?] = [nil] + nodes.map { _ in dy.copy() }
        func accumulate(_ g: Tensor, into i: Int) {
            if let t = grads[i] {
                let a = t.pointer, p = g.pointer
                for j in 0..<t.count { a[j] += p[j] }
            } else { grads[i] = g.copy() }
        }
        let k = alpha?.value.shape[1] ?? 0
        for j in stride(from: nodes.count, through: 1, by: -1) {
            guard let g = grads[j] else { continue }
            for (ei, e) in nodes[j - 1].enumerated() {
                let outs = outputs[j - 1][ei]
                if let row = e.row, let alpha, !alpha.frozen {
                    // ⟨g, o_k⟩ per operation (zero: 0), then the softmax's Jacobian.
                    let dots = outs.map { o -> Double in
                        guard let o else { return 0 }
                        var s = 0.0
                        let a = g.pointer, b = o.pointer
                        for i in 0..<g.count { s += Double(a[i]) * Double(b[i]) }
                        return s
                    }
                    let w = weights[row]
                    let mean = zip(w, dots).reduce(0.0) { $0 + Double($1.0) * $1.1 }
                    for q in 0..<k { alpha.grad.pointer[row * k + q] += Float(Double(w[q]) * (dots[q] - mean)) }
                }
                let needed = e.from > 0 || needsInputGradient
                for (q, op) in e.operations.enumerated() {
                    guard let op else { continue }
                    var scaled = g
                    if let row = e.row {
                        let w = weights[row][q]
                        scaled = Tensor(zeros: g.shape)
                        let a = scaled.pointer, p = g.pointer
                        for i in 0..<g.count { a[i] = w * p[i] }
                    }
                    if op.layers.isEmpty {
                        if needed { accumulate(scaled, into: e.from) }
                    } else if op.requiresBackward || needed {
                        if let gin = try op.backward(scaled), needed { accumulate(gin, into: e.from) }
                    }
                }
            }
        }
        return needsInputGradient ? (grads[0] ?? Tensor(zeros: dy.shape)) : nil
    }

    public func configureGradients(upstreamTrainable: Bool) -> Bool {
        needsInputGradient = upstreamTrainable
        let inside = operationLayers.contains { $0.hasTrainableParameters } || (alpha.map { !$0.frozen } ?? false)
        for edges in nodes {
            for e in edges {
                for op in e.operations.compactMap({ $0 }) {
                    _ = op.configureGradients(upstreamTrainable: e.from == 0 ? upstreamTrainable : (upstreamTrainable || inside))
                }
            }
        }
        return upstreamTrainable || inside
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
