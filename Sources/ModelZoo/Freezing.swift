// Which parameters a `freeze` selection covers. Pure over layer paths, so the
// front end can check names and the engine can apply the same answer.

/// A freeze selection, as the spec language writes it.
public enum FreezeSelection: Hashable, Sendable {
    case all                     // every backbone layer
    case none
    case names([String])         // layer or block paths, or glob patterns (`*` within a name segment, `**` across)
    case upTo(String)            // every backbone layer up to and including this one, in forward order
}

extension ArchitectureSummary {
    /// Paths of parameter-holding layers that `selection` freezes. Head layers can be
    /// frozen only by naming them. Unknown names are reported by `unmatched(_:)`.
    public func frozenLayers(_ selection: FreezeSelection) -> [String] {
        let leaves = layers.filter { !$0.isGroup && $0.parameters > 0 }
        switch selection {
        case .none: return []
        case .all: return leaves.filter(\.inBackbone).map(\.path)
        case .names(let patterns):
            return leaves.filter { leaf in patterns.contains { Self.matches(pattern: $0, path: leaf.path) } }.map(\.path)
        case .upTo(let name):
            guard let end = layers.firstIndex(where: { $0.path == name }) else { return [] }
            let endPath = layers[end].path
            var out: [String] = []
            for (i, info) in layers.enumerated() where !info.isGroup && info.parameters > 0 && info.inBackbone {
                if i <= end || info.path.hasPrefix(endPath + ".") { out.append(info.path) }
            }
            return out
        }
    }

    /// Names or patterns in a selection that match no layer or group.
    public func unmatched(_ patterns: [String]) -> [String] {
        patterns.filter { p in !layers.contains { Self.matches(pattern: p, path: $0.path) } }
    }

    /// A pattern matches a path when it matches the path itself or one of its
    /// ancestors (naming a block names everything inside it).
    public static func matches(pattern: String, path: String) -> Bool {
        let segments = path.split(separator: ".").map(String.init)
        for end in 1...max(1, segments.count) {
            if glob(pattern, segments.prefix(end).joined(separator: ".")) { return true }
        }
        return false
    }

    /// `*` matches within a segment (no '.'), `**` matches anything, `?` one character.
    static func glob(_ pattern: String, _ text: String) -> Bool {
        let p = Array(pattern), t = Array(text)
        // memoised recursion over (i, j) — sizes are tiny
        var memo = [Int: Bool]()
        func go(_ i: Int, _ j: Int) -> Bool {
            let key = i * (t.count + 1) + j
            if let m = memo[key] { return m }
            var r: Bool
            if i == p.count { r = j == t.count }
            else if p[i] == "*" {
                let double = i + 1 < p.count && p[i + 1] == "*"
                let next = double ? i + 2 : i + 1
                r = go(next, j)
                var k = j
                while !r && k < t.count && (double || t[k] != ".") { k += 1; r = go(next, k) }
            } else if j < t.count && (p[i] == "?" ? t[j] != "." : p[i] == t[j]) {
                r = go(i + 1, j + 1)
            } else { r = false }
            memo[key] = r
            return r
        }
        return go(0, 0)
    }
}
