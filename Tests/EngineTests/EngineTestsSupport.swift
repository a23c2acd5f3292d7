// EngineTests — Swift Testing suites for this module.
import Testing

/// nil when `a` and `b` hold the same floats bit for bit; otherwise how many differ and the
/// first of them. (An `#expect` on two large arrays that differ builds a diff of them, which
/// takes minutes for the hundreds of thousands of values a layer's gradients hold.)
func bitwiseMismatch(_ a: [Float], _ b: [Float]) -> String? {
    guard a.count == b.count else { return "\(a.count) values against \(b.count)" }
    var count = 0, first = -1
    for i in a.indices where a[i].bitPattern != b[i].bitPattern {
        if first < 0 { first = i }
        count += 1
    }
    return count == 0 ? nil : "\(count) of \(a.count) values differ, the first at \(first): \(a[first]) against \(b[first])"
}
