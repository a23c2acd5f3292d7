// Preprocessing — normalization fit on the training split only (standardization
// or min-max, per channel or over all channels; none), saved as plain numbers with the model, and seeded
// augmentations (random crop with zero padding, random resized crop, horizontal flip) applied to batches.

import ModelZoo

/// A fitted normalization: `x' = (x - shift[c]) / scale[c]` per channel.
public struct Normalization: Hashable, Sendable, Codable {
    public enum Kind: String, Hashable, Sendable, Codable { case none, standardize, minMax = "min_max" }
    public var kind: Kind
    public var shift: [Float]
    public var scale: [Float]

    public init(kind: Kind, shift: [Float], scale: [Float]) { self.kind = kind; self.shift = shift; self.scale = scale }

    /// The identity.
    public static let identity = Normalization(kind: .none, shift: [], scale: [])
    /// torchvision's ImageNet statistics (`Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])`).
    public static let imagenet = Normalization(kind: .standardize, shift: [0.485, 0.456, 0.406], scale: [0.229, 0.224, 0.225])

    /// Fits on `data` (the training split): mean/std, or min/(max-min), per channel —
    /// or, with `global`, one pair over every channel (stored once per channel).
    public static func fit(_ kind: Kind, global: Bool = false, on data: Dataset) throws -> Normalization {
        if kind == .none { return .identity }
        guard !data.isEmpty else { throw EngineError.invalidArgument("cannot fit \(kind.rawValue) normalization on an empty data set") }
        let c = data.sampleShape.channels, hw = data.sampleShape.height * data.sampleShape.width
        var shift = [Float](repeating: 0, count: c), scale = [Float](repeating: 1, count: c)
        // The channels each statistic pools: one each, or all of them.
        let pools: [[Int]] = global ? [Array(0..<c)] : (0..<c).map { [$0] }
        data.features.withUnsafeBufferPointer { f in
            for pool in pools {
                var sum = 0.0, sq = 0.0, lo = Float.infinity, hi = -Float.infinity
                for s in 0..<data.count {
                    for ch in pool {
                        let p = f.baseAddress! + (s * c + ch) * hw
                        for i in 0..<hw { let v = p[i]; sum += Double(v); sq += Double(v) * Double(v); lo = min(lo, v); hi = max(hi, v) }
                    }
                }
                let m = Double(data.count * hw * pool.count)
                var a: Float, b: Float
                if kind == .standardize {
                    let mean = sum / m
                    let std = max(sq / m - mean * mean, 0).squareRoot()
                    (a, b) = (Float(mean), std > 1e-12 ? Float(std) : 1)
                } else {
                    (a, b) = (lo, hi - lo > 0 ? hi - lo : 1)
                }
                for ch in pool { shift[ch] = a; scale[ch] = b }
            }
        }
        return Normalization(kind: kind, shift: shift, scale: scale)
    }

    /// Applies the normalization to a data set.
    public func apply(to data: Dataset) throws -> Dataset {
        if kind == .none { return data }
        let c = data.sampleShape.channels, hw = data.sampleShape.height * data.sampleShape.width
        guard shift.count == c, scale.count == c else {
            throw EngineError.invalidArgument("normalization fitted for \(shift.count) channels applied to data with \(c)")
        }
        var out = data
        out.features.withUnsafeMutableBufferPointer { f in
            for s in 0..<data.count {
                for ch in 0..<c {
                    let p = f.baseAddress! + (s * c + ch) * hw, a = shift[ch], b = 1 / scale[ch]
                    for i in 0..<hw { p[i] = (p[i] - a) * b }
                }
            }
        }
        return out
    }
}

/// Seeded augmentations applied to a training batch in place.
public struct Augmentation: Hashable, Sendable {
    /// Pad by this many zeros on each side, then crop back at a random offset (0 = off).
    public var cropPadding: Int
    /// Flip horizontally with probability 1/2.
    public var horizontalFlip: Bool
    /// torchvision's RandomResizedCrop back to the sample's size, before the flip (nil = off).
    public var randomResizedCrop: RandomResizedCrop?
    public init(cropPadding: Int = 0, horizontalFlip: Bool = false, randomResizedCrop: RandomResizedCrop? = nil) {
        self.cropPadding = cropPadding; self.horizontalFlip = horizontalFlip; self.randomResizedCrop = randomResizedCrop
    }
    public var isIdentity: Bool { cropPadding == 0 && !horizontalFlip && randomResizedCrop == nil }

    /// Augments `x` (`[N, C, H, W]`) in place, drawing from `rng`.
    public func apply(to x: Tensor, rng: inout SeededGenerator) throws {
        if isIdentity { return }
        let (n, c, h, w) = try x.nchw(layer: "augmentation")
        let p = cropPadding
        var tmp = [Float](repeating: 0, count: c * h * w)
        for s in 0..<n {
            let base = x.pointer + s * c * h * w
            if let rrc = randomResizedCrop {
                tmp.withUnsafeMutableBufferPointer { t in rrc.apply(base, channels: c, height: h, width: w, scratch: t.baseAddress!, rng: &rng) }
            }
            let dy = p > 0 ? rng.nextInt(below: 2 * p + 1) - p : 0
            let dx = p > 0 ? rng.nextInt(below: 2 * p + 1) - p : 0
            let flip = horizontalFlip && rng.next() & 1 == 1
            if dy == 0 && dx == 0 && !flip { continue }
            tmp.withUnsafeMutableBufferPointer { t in
                for ch in 0..<c {
                    let src = base + ch * h * w, dst = t.baseAddress! + ch * h * w
                    for i in 0..<h {
                        let si = i + dy
                        for j in 0..<w {
                            let jj = flip ? w - 1 - j : j
                            let sj = jj + dx
                            dst[i * w + j] = (si >= 0 && si < h && sj >= 0 && sj < w) ? src[si * w + sj] : 0
                        }
                    }
                }
                base.update(from: t.baseAddress!, count: c * h * w)
            }
        }
    }
}

import Foundation

extension Normalization {
    /// Compact JSON for checkpoint metadata (`tlc.normalization`), e.g.
    /// `{"kind":"standardize","scale":[0.353],"shift":[0.286]}`.
    public var json: String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return String(decoding: (try? enc.encode(self)) ?? Data(), as: UTF8.self)
    }

    /// A checkpoint's `tlc.normalization` text: `KIND shift=[a, b] scale=[c, d]`.
    public var metadataText: String { "\(kind.rawValue) shift=\(shift) scale=\(scale)" }

    /// Reads a checkpoint's `tlc.normalization` text, `KIND shift=[a, b] scale=[c, d]`
    /// (nil when it is not that).
    public init?(metadata text: String) {
        let parts = text.components(separatedBy: " shift=")
        guard parts.count == 2, let kind = Kind(rawValue: parts[0]) else { return nil }
        let rest = parts[1].components(separatedBy: " scale=")
        func floats(_ s: String) -> [Float]? {
            let inner = s.trimmingCharacters(in: CharacterSet(charactersIn: "[] "))
            if inner.isEmpty { return [] }
            let values = inner.components(separatedBy: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
            return values.contains(nil) ? nil : values.compactMap { $0 }
        }
        guard rest.count == 2, let shift = floats(rest[0]), let scale = floats(rest[1]), shift.count == scale.count,
              scale.allSatisfy({ $0.isFinite && $0 != 0 }), shift.allSatisfy(\.isFinite) else { return nil }
        self.init(kind: kind, shift: shift, scale: scale)
    }

    /// Reads the JSON written by ``json``.
    public init(json: String) throws {
        do { self = try JSONDecoder().decode(Normalization.self, from: Data(json.utf8)) } catch {
            throw EngineError.invalidArgument("normalization metadata is not valid: \(json.prefix(80))")
        }
        guard shift.count == scale.count else { throw EngineError.invalidArgument("normalization metadata: shift and scale differ in length") }
    }
}
