// "Did you mean …?" — picks the closest known name for a misspelled one, by
// case-insensitive Damerau-Levenshtein distance (optimal string alignment).

/// The candidate closest to `name`, or nil when none is close enough.
///
/// Close enough means an edit distance of at most `max(1, name.count / 3)`,
/// where an edit is an insertion, deletion, substitution or a swap of two
/// adjacent characters; case is ignored. Ties go to the earlier candidate, so
/// pass candidates in a stable order.
public func suggestion(for name: String, among candidates: [String]) -> String? {
    let target = Array(name.lowercased())
    let limit = max(1, target.count / 3)
    var best: (candidate: String, distance: Int)?
    for candidate in candidates {
        let other = Array(candidate.lowercased())
        // Lengths alone already put some candidates out of reach.
        guard abs(other.count - target.count) <= limit else { continue }
        let distance = editDistance(target, other)
        if distance <= limit, distance < (best?.distance ?? Int.max) {
            best = (candidate, distance)
        }
    }
    return best?.candidate
}

/// Optimal-string-alignment distance: Levenshtein plus adjacent transpositions.
func editDistance(_ a: [Character], _ b: [Character]) -> Int {
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    let width = b.count + 1
    // Three rolling rows: two back (for transpositions), previous, current.
    var twoBack = [Int](repeating: 0, count: width)
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: width)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            let cost = a[i - 1] == b[j - 1] ? 0 : 1
            var value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                value = min(value, twoBack[j - 2] + 1)
            }
            current[j] = value
        }
        (twoBack, previous, current) = (previous, current, twoBack)
    }
    return previous[b.count]
}
