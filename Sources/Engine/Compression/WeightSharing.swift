// WeightSharing — trained quantization by weight sharing (Han et al., 2016, Deep
// Compression §3): the nonzero weights of every conv and dense layer are clustered
// into 2^bits shared values (k-means in one dimension, centroids initialized
// linearly between the layer's smallest and largest weight, as the paper found
// best), every weight is replaced by its centroid, and fine-tuning updates the
// centroids: after each optimizer step a centroid becomes the mean of its members'
// updated values and the members take it again. Pruned (zero) weights stay zero.
//
// Owns: Codebooks. Deterministic: no randomness, sums in index order.

/// The shared values of every prunable layer and which one each weight uses.
public struct Codebooks: Sendable {
    public struct Layer: Sendable {
        /// Centroids in ascending order.
        public var centroids: [Float]
        /// Per weight: the index of its centroid, or -1 for a pruned (zero) weight.
        public var codes: [Int32]
        /// Bits a code needs.
        public var bits: Int { max(1, Int.bitWidth - (centroids.count - 1).leadingZeroBitCount) }
    }
    /// Bits of the codes asked for (a layer with fewer distinct values needs fewer).
    public var bits: Int
    /// Parameter name → its codebook.
    public var layers: [String: Layer]

    /// Clusters the nonzero weights of every prunable layer of `network` into at most
    /// 2^bits centroids and snaps the weights to them.
    public static func cluster(_ network: Network, bits: Int, iterations: Int = 50) throws -> Codebooks {
        guard (1...8).contains(bits) else { throw EngineError.invalidArgument("weight sharing needs 1 to 8 bits, got \(bits)") }
        var layers: [String: Layer] = [:]
        for p in PruningMasks.prunable(network) {
            layers[p.name] = clusterLayer(p.value, k: 1 << bits, iterations: iterations)
        }
        let books = Codebooks(bits: bits, layers: layers)
        books.snap(network)
        return books
    }

    /// Lloyd's algorithm on the sorted nonzero values: every cluster is a contiguous
    /// run of them, so an iteration is a pass over prefix sums.
    static func clusterLayer(_ w: Tensor, k: Int, iterations: Int) -> Layer {
        let n = w.count
        var order: [Int] = (0..<n).filter { w[$0] != 0 }
        order.sort { (w[$0], $0) < (w[$1], $1) }
        let values = order.map { Double(w[$0]) }
        var codes = [Int32](repeating: -1, count: n)
        guard let lo = values.first, let hi = values.last else { return Layer(centroids: [], codes: codes) }
        let count = min(k, values.count)
        var centroids = (0..<count).map { count == 1 ? (lo + hi) / 2 : lo + (hi - lo) * Double($0) / Double(count - 1) }
        var prefix = [0.0]
        prefix.reserveCapacity(values.count + 1)
        for v in values { prefix.append(prefix.last! + v) }
        var starts = [Int](repeating: 0, count: count + 1)
        for _ in 0..<iterations {
            // Boundaries: a value belongs to the nearest centroid (the lower one on a tie).
            var j = 0
            for c in 0..<count {
                starts[c] = j
                if c == count - 1 { j = values.count } else {
                    let mid = (centroids[c] + centroids[c + 1]) / 2
                    while j < values.count && values[j] <= mid { j += 1 }
                }
            }
            starts[count] = values.count
            var moved = false
            for c in 0..<count where starts[c + 1] > starts[c] {
                let mean = (prefix[starts[c + 1]] - prefix[starts[c]]) / Double(starts[c + 1] - starts[c])
                if mean != centroids[c] { centroids[c] = mean; moved = true }
            }
            // Keep them sorted (an empty cluster keeps its place, which stays in order).
            if !moved { break }
        }
        for c in 0..<count { for r in starts[c]..<starts[c + 1] { codes[order[r]] = Int32(c) } }
        return Layer(centroids: centroids.map { Float($0) }, codes: codes)
    }

    /// The codebooks a network's weights already are: every layer whose nonzero
    /// weights take at most 2^maxBits distinct values (a shared or pruned-and-shared
    /// model) gets them as its centroids; other layers get none (stored as values).
    public static func fromValues(_ network: Network, maxBits: Int = 8) -> Codebooks {
        var layers: [String: Layer] = [:]
        for p in PruningMasks.prunable(network) {
            let v = p.value
            let distinct = Set((0..<v.count).map { v[$0] }.filter { $0 != 0 })
            guard !distinct.isEmpty, distinct.count <= 1 << maxBits else { continue }
            let centroids = distinct.sorted()
            let index = Dictionary(uniqueKeysWithValues: centroids.enumerated().map { ($1, Int32($0)) })
            layers[p.name] = Layer(centroids: centroids, codes: (0..<v.count).map { v[$0] == 0 ? -1 : index[v[$0]]! })
        }
        return Codebooks(bits: maxBits, layers: layers)
    }

    /// Replaces every weight by its centroid (pruned weights by zero).
    public func snap(_ network: Network) {
        for p in network.parameterObjects {
            guard let layer = layers[p.name], layer.codes.count == p.value.count else { continue }
            let v = p.value.pointer
            for i in 0..<layer.codes.count {
                let c = layer.codes[i]
                v[i] = c < 0 ? 0 : layer.centroids[Int(c)]
            }
        }
    }

    /// After an optimizer step: each centroid becomes the mean of its members' new
    /// values (the members' averaged update), then the weights are snapped again.
    public mutating func update(from network: Network) {
        for p in network.parameterObjects {
            guard var layer = layers[p.name], layer.codes.count == p.value.count else { continue }
            var sums = [Double](repeating: 0, count: layer.centroids.count)
            var counts = [Int](repeating: 0, count: layer.centroids.count)
            let v = p.value.pointer
            for i in 0..<layer.codes.count where layer.codes[i] >= 0 {
                let c = Int(layer.codes[i])
                sums[c] += Double(v[i]); counts[c] += 1
            }
            for c in layer.centroids.indices where counts[c] > 0 { layer.centroids[c] = Float(sums[c] / Double(counts[c])) }
            layers[p.name] = layer
        }
        snap(network)
    }

    /// Distinct values in use per layer (at most 2^bits).
    public var centroidCounts: [String: Int] { layers.mapValues(\.centroids.count) }
}
