// StageCache — the content-addressed store of finished stage outputs under
// `<output root>/.cache/<stage-hash>/`. An entry is built in a private temporary
// folder, every file fsynced, a manifest with every file's size and SHA-256
// written last, and the folder renamed into place: an entry either is complete or
// does not exist. Reading an entry checks it against its manifest (`verify`): a
// damaged entry is never used. A per-entry flock keeps two processes from
// computing the same stage at once; the second one waits and then reuses the
// first one's entry.
import Crypto
import Execution
import Foundation

public final class StageCache: @unchecked Sendable {
    public let root: String
    public init(root: String) { self.root = root }

    public func entry(_ hash: String) -> String { (root as NSString).appendingPathComponent(hash) }

    /// An entry counts only when its manifest is there (it is written last).
    public func isComplete(_ hash: String) -> Bool {
        FileManager.default.fileExists(atPath: (entry(hash) as NSString).appendingPathComponent("manifest.json"))
    }

    /// Runs `body` holding an exclusive lock for `hash` (blocks while another process holds it).
    public func withLock<T>(_ hash: String, _ body: () throws -> T) throws -> T {
        let locks = (root as NSString).appendingPathComponent(".locks")
        try FileManager.default.createDirectory(atPath: locks, withIntermediateDirectories: true)
        let path = (locks as NSString).appendingPathComponent(hash + ".lock")
        let fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CacheError.io("cannot open lock \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            if errno != EINTR { throw CacheError.io("cannot lock \(path): \(String(cString: strerror(errno)))") }
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }

    /// Builds an entry: `fill` writes files into a temporary folder; then the files
    /// are fsynced, the manifest (file names and sizes) written, and the folder renamed
    /// into place. An existing complete entry is replaced only when `replace` is set.
    public func store(_ hash: String, kind: String, replace: Bool = false, fill: (String) throws -> Void) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: root, withIntermediateDirectories: true)
        let tmp = (root as NSString).appendingPathComponent(".tmp-\(hash.prefix(16))-\(getpid())-\(UInt32.random(in: 0...UInt32.max))-\(Self.hostTag)")
        try? fm.removeItem(atPath: tmp)
        try fm.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        do {
            try fill(tmp)
            var files: [String: Manifest.File] = [:]
            for name in try fm.contentsOfDirectory(atPath: tmp).sorted() {
                let path = (tmp as NSString).appendingPathComponent(name)
                try Self.fsync(path)
                files[name] = try Self.describe(path)
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            let manifestPath = (tmp as NSString).appendingPathComponent("manifest.json")
            try encoder.encode(Manifest(hash: hash, kind: kind, files: files)).write(to: URL(fileURLWithPath: manifestPath))
            try Self.fsync(manifestPath)
            try Self.fsync(tmp)
            let final = entry(hash)
            if fm.fileExists(atPath: final) {
                if isComplete(hash) && !replace { try fm.removeItem(atPath: tmp); return }
                // A replaced entry (--force) or an incomplete leftover of a hand-edited
                // cache: move it aside under a hidden temporary name (so a kill during
                // the removal leaves only a folder that sweepTemporaries deletes and that
                // never looks like an entry), then take its place.
                let aside = (root as NSString).appendingPathComponent(
                    ".tmp-\(hash.prefix(16))-\(getpid())-old\(UInt32.random(in: 0...UInt32.max))-\(Self.hostTag)")
                try fm.moveItem(atPath: final, toPath: aside)
                try? fm.removeItem(atPath: aside)
            }
            guard rename(tmp, final) == 0 else {
                throw CacheError.io("cannot publish cache entry \(final): \(String(cString: strerror(errno)))")
            }
            try Self.fsync(root)
        } catch {
            try? fm.removeItem(atPath: tmp)
            throw error
        }
    }

    /// What manifest.json records: every file of the entry with its size and SHA-256.
    struct Manifest: Codable {
        struct File: Codable, Equatable { var size: Int; var sha256: String }
        var hash: String
        var kind: String
        var files: [String: File]
    }

    static func describe(_ path: String) throws -> Manifest.File {
        guard let data = FileManager.default.contents(atPath: path) else { throw CacheError.io("cannot read \(path)") }
        return Manifest.File(size: data.count, sha256: SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined())
    }

    /// Checks a complete entry against its manifest; throws `CacheError.corrupt` with
    /// what is wrong: a manifest that does not decode or names another stage, a file
    /// missing or extra, a size or digest that does not match.
    public func verify(_ hash: String) throws {
        let dir = entry(hash), fm = FileManager.default
        let manifestPath = (dir as NSString).appendingPathComponent("manifest.json")
        guard let data = fm.contents(atPath: manifestPath), let manifest = try? JSONDecoder().decode(Manifest.self, from: data) else {
            throw CacheError.corrupt("manifest.json does not decode")
        }
        guard manifest.hash == hash else { throw CacheError.corrupt("manifest.json names another stage") }
        let present = Set(((try? fm.contentsOfDirectory(atPath: dir)) ?? []).filter { $0 != "manifest.json" })
        if let extra = present.subtracting(manifest.files.keys).sorted().first { throw CacheError.corrupt("\(extra) is not in the manifest") }
        for name in manifest.files.keys.sorted() {
            let path = (dir as NSString).appendingPathComponent(name)
            guard present.contains(name) else { throw CacheError.corrupt("\(name) is missing") }
            let found = try Self.describe(path)
            if found.size != manifest.files[name]!.size { throw CacheError.corrupt("\(name) size mismatch") }
            if found.sha256 != manifest.files[name]!.sha256 { throw CacheError.corrupt("\(name) digest mismatch") }
        }
    }

    /// Moves a damaged entry out of the way (under a temporary name `sweepTemporaries`
    /// removes), so that it is neither used nor in the way of its replacement.
    public func discard(_ hash: String) {
        let aside = (root as NSString).appendingPathComponent(
            ".tmp-\(hash.prefix(16))-\(getpid())-damaged\(UInt32.random(in: 0...UInt32.max))-\(Self.hostTag)")
        if (try? FileManager.default.moveItem(atPath: entry(hash), toPath: aside)) != nil {
            try? FileManager.default.removeItem(atPath: aside)
        }
    }

    /// This machine's name, letters and digits only: temporary folders carry it, so a
    /// process on one node of a cluster never takes another node's writer for dead.
    static let hostTag: String = {
        let name = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        let tag = String(name.filter { $0.isASCII && ($0.isLetter || $0.isNumber) }.prefix(24))
        return tag.isEmpty ? "host" : tag
    }()

    /// Removes temporary folders left by killed processes.
    public func sweepTemporaries() {
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: root)) ?? [] where name.hasPrefix(".tmp-") {
            let path = (root as NSString).appendingPathComponent(name)
            if Self.isAbandoned(name, at: path) { try? fm.removeItem(atPath: path) }
        }
    }

    /// Whether a `.tmp-` folder's writer is gone. The pid is the third dash-separated
    /// field of its name, the host the fifth (a name without one is this host's).
    static func isAbandoned(_ name: String, at path: String) -> Bool {
        let parts = name.split(separator: "-")
        guard parts.count >= 3, let pid = Int32(parts[2]) else { return true }
        return writerIsGone(pid: pid, host: parts.count >= 5 ? String(parts[4]) : hostTag, writing: path)
    }

    /// Whether process `pid` on `host`, the writer of `path`, is gone: on this host, no
    /// such process is alive; another machine's process cannot be asked, so there it
    /// counts as gone once `path` is a day old. (Run folders being written use it too.)
    static func writerIsGone(pid: Int32, host: String, writing path: String) -> Bool {
        if host != hostTag { return isDayOld(path) }
        return kill(pid, 0) != 0 && errno == ESRCH
    }

    static func isDayOld(_ path: String) -> Bool {
        let modified = (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? Date()
        return Date().timeIntervalSince(modified) >= 86_400
    }

    static func fsync(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CacheError.io("cannot open \(path) to sync: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        if Foundation.fsync(fd) != 0 && errno != EINVAL {
            throw CacheError.io("cannot sync \(path): \(String(cString: strerror(errno)))")
        }
    }
}
