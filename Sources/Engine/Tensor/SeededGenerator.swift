// SeededGenerator — the engine's deterministic, splittable random source
// (xoshiro256** seeded through SplitMix64). `split(label:)` derives independent,
// process-stable child streams by hashing the label with FNV-1a (never `hashValue`).

/// A deterministic, splittable pseudo-random generator.
///
/// Two generators built from the same seed produce the same sequence on every
/// platform and in every process. `split(label:)` depends only on the generator's
/// key and the label, not on how many numbers have been drawn, so children are
/// stable regardless of the order in which they are derived.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    /// The key that identifies this stream (from the seed and the chain of split labels).
    public let key: UInt64
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    /// A generator for `seed`.
    public init(seed: UInt64) {
        self.init(key: SeededGenerator.mix(seed &+ 0x9E37_79B9_7F4A_7C15))
    }

    private init(key: UInt64) {
        self.key = key
        var sm = key
        s0 = SeededGenerator.splitMix(&sm); s1 = SeededGenerator.splitMix(&sm)
        s2 = SeededGenerator.splitMix(&sm); s3 = SeededGenerator.splitMix(&sm)
        if s0 | s1 | s2 | s3 == 0 { s0 = 1 }
    }

    /// The stream's position (its key and four state words), to resume it exactly.
    public var snapshot: [UInt64] { [key, s0, s1, s2, s3] }

    /// A stream at a position `snapshot` recorded; nil for anything else.
    public init?(snapshot: [UInt64]) {
        guard snapshot.count == 5, snapshot[1] | snapshot[2] | snapshot[3] | snapshot[4] != 0 else { return nil }
        key = snapshot[0]; s0 = snapshot[1]; s1 = snapshot[2]; s2 = snapshot[3]; s3 = snapshot[4]
    }

    /// An independent child stream named by `label`.
    public func split(label: String) -> SeededGenerator {
        SeededGenerator(key: SeededGenerator.mix(key ^ SeededGenerator.fnv1a(label)))
    }

    /// FNV-1a 64-bit hash of the UTF-8 bytes of `s` (stable across processes).
    public static func fnv1a(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 { h ^= UInt64(b); h = h &* 0x0000_0100_0000_01B3 }
        return h
    }

    static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    static func splitMix(_ state: inout UInt64) -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return mix(state)
    }

    @inline(__always) private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// The next 64 random bits (xoshiro256**).
    public mutating func next() -> UInt64 {
        let result = SeededGenerator.rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t
        s3 = SeededGenerator.rotl(s3, 45)
        return result
    }

    /// Uniform in [0, 1) with 24 random bits.
    public mutating func nextFloat() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }
    /// Uniform in [0, 1) with 53 random bits.
    public mutating func nextDouble() -> Double { Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0) }
    /// Uniform in [low, high).
    public mutating func uniform(_ low: Float, _ high: Float) -> Float { low + (high - low) * nextFloat() }
    /// Standard normal times `std` plus `mean` (Box–Muller).
    public mutating func normal(mean: Float = 0, std: Float = 1) -> Float {
        var u1 = nextDouble()
        if u1 < 1e-300 { u1 = 1e-300 }
        let u2 = nextDouble()
        let z = (-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2)
        return mean + std * Float(z)
    }
    /// Uniform integer in 0..<bound, without modulo bias.
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0)
        let b = UInt64(bound)
        let limit = UInt64.max - UInt64.max % b
        while true {
            let r = next()
            if r < limit { return Int(r % b) }
        }
    }
    /// Fisher–Yates shuffle in place.
    public mutating func shuffle<T>(_ a: inout [T]) {
        if a.count < 2 { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) {
            let j = nextInt(below: i + 1)
            if i != j { a.swapAt(i, j) }
        }
    }
    /// A random permutation of 0..<n.
    public mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        shuffle(&p)
        return p
    }
    /// Fills `t` with uniform values in [low, high).
    public mutating func fillUniform(_ t: Tensor, _ low: Float, _ high: Float) {
        for i in 0..<t.count { t.storage[i] = uniform(low, high) }
    }
    /// Fills `t` with normal values.
    public mutating func fillNormal(_ t: Tensor, mean: Float = 0, std: Float) {
        for i in 0..<t.count { t.storage[i] = normal(mean: mean, std: std) }
    }
}

#if canImport(Glibc)
import Glibc
@inline(__always) func _log(_ x: Double) -> Double { Glibc.log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Glibc.cos(x) }
#else
import Darwin
@inline(__always) func _log(_ x: Double) -> Double { Darwin.log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Darwin.cos(x) }
#endif
