// CPooling's max pooling against the definition, one output at a time: the first of the
// largest values of the window in row-major order (compared with `>`, so ties keep the
// first, a NaN in the first place stays and later NaNs never win), bitwise, with the
// winner's index; over windows, strides, paddings and ceil mode's partial windows, with
// every instruction set this CPU has (AVX-512, AVX2, plain x86-64).
import CPooling
import Testing

@Suite struct PoolingKernelTests {
    /// The definition: output (i, j) over rows i·stride − pad … and columns j·stride − pad …, clipped.
    static func reference(_ x: [Float], h: Int, w: Int, oh: Int, ow: Int, size: Int, stride: Int, pad: Int) -> ([Float], [Int32]) {
        var y = [Float](repeating: 0, count: oh * ow), am = [Int32](repeating: 0, count: oh * ow)
        for i in 0..<oh {
            for j in 0..<ow {
                var best: Float = 0, bi = -1
                for a in 0..<size {
                    for b in 0..<size {
                        let r = i * stride - pad + a, q = j * stride - pad + b
                        guard r >= 0, r < h, q >= 0, q < w else { continue }
                        if bi < 0 || x[r * w + q] > best { best = x[r * w + q]; bi = r * w + q }
                    }
                }
                y[i * ow + j] = bi < 0 ? 0 : best
                am[i * ow + j] = Int32(max(bi, 0))
            }
        }
        return (y, am)
    }

    @Test(arguments: [(2, 2, 0), (3, 2, 1), (3, 1, 1), (3, 2, 0), (2, 1, 0), (5, 3, 2), (3, 3, 1)])
    func matchesTheDefinitionBitwise(size: Int, stride: Int, pad: Int) {
        var rng = SystemRandomNumberGenerator()
        for (h, w) in [(1, 1), (7, 9), (20, 37), (56, 56), (13, 64)] where h + 2 * pad >= size && w + 2 * pad >= size {
            // Floor mode, and one more row and column as ceil mode can ask for (a window partly or wholly in the padding).
            for extra in [0, 1] {
                let oh = (h + 2 * pad - size) / stride + 1 + extra, ow = (w + 2 * pad - size) / stride + 1 + extra
                let planes = 3
                // Few distinct values (many ties), signed zeros, and a NaN here and there.
                var x = (0..<(planes * h * w)).map { _ in Float(Int.random(in: -3...3, using: &rng)) * 0.5 }
                for k in stride..<x.count where k % 17 == 0 { x[k] = k % 2 == 0 ? -0.0 : .nan }
                for level in 0...tlc_max_pool_level() {
                    var y = [Float](repeating: 7, count: planes * oh * ow), am = [Int32](repeating: -1, count: planes * oh * ow)
                    var yOnly = [Float](repeating: 7, count: planes * oh * ow)
                    tlc_max_pool_at(level, x, planes, Int32(h), Int32(w), Int32(oh), Int32(ow), Int32(size), Int32(stride), Int32(pad), &y, &am)
                    tlc_max_pool_at(level, x, planes, Int32(h), Int32(w), Int32(oh), Int32(ow), Int32(size), Int32(stride), Int32(pad), &yOnly, nil)
                    for p in 0..<planes {
                        let (ry, ra) = Self.reference(Array(x[(p * h * w)..<((p + 1) * h * w)]), h: h, w: w, oh: oh, ow: ow,
                                                      size: size, stride: stride, pad: pad)
                        let range = (p * oh * ow)..<((p + 1) * oh * ow)
                        let what = "level \(level) size \(size) stride \(stride) pad \(pad) \(h)×\(w) +\(extra)"
                        #expect(y[range].map(\.bitPattern) == ry.map(\.bitPattern), "\(what)")
                        #expect(yOnly[range].map(\.bitPattern) == ry.map(\.bitPattern), "\(what)")
                        #expect(Array(am[range]) == ra, "\(what)")
                    }
                }
            }
        }
    }
}
