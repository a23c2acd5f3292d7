// SearchJournal — the decision journal of a search: one JSON line per configuration
// a rung trained (its metric, promoted or stopped), appended and synced to disk when
// the rung ends, before the next rung starts. It lives under the artifact root,
// keyed by the search and its configurations (`<root>/<experiment>/.search/<key>.jsonl`),
// so a rerun of the same search (after a kill, or to look again) replays it and
// decides nothing twice; the winner's run directory keeps a copy. ASHA writes one line
// per decision (`event` start or promote) before the training it decides, and one per
// result; see AshaSearch. A line cut short by a kill is cut off the file when it is
// read again, so what is appended next starts a line of its own.
import Engine
import Foundation
import FrontEnd

struct SearchJournal {
    /// One trained configuration. Rung methods: its bracket and rung, and whether it was
    /// promoted. Evolution and reinforce: bracket −1, `rung` the model's step, and for an
    /// evolution child its parent and mutation.
    struct Entry: Codable, Hashable {
        var bracket: Int
        var rung: Int
        var configuration: Int
        var label: String
        var epochs: Int
        var metric: Double
        var promoted: Bool
        var parent: String? = nil
        var mutation: String? = nil
        /// The network's parameters and forward FLOPs per sample.
        var params: Int? = nil
        var forwardFLOPs: Int? = nil
        /// ASHA only: "start" (a new configuration at rung 0) or "promote" (to `rung`),
        /// written before the training it decides (`metric` is 0), or "result" (the
        /// configuration's `metric` at `rung`). nil for the other methods.
        var event: String? = nil
    }

    let path: String
    private(set) var entries: [Entry] = []

    init(outputRoot: String, experiment: LoadedExperiment, search: SearchSpec) throws {
        let key = String(stableID(search.specValue.canonicalJSON + "\n" + experiment.points.map(\.id).joined(separator: ",")).prefix(16))
        let dir = ((outputRoot as NSString).appendingPathComponent(experiment.name) as NSString).appendingPathComponent(".search")
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            throw SearchError("cannot create \(dir): \(FileSystemErrors.phrase(error))")
        }
        path = (dir as NSString).appendingPathComponent("\(key).jsonl")
        guard let data = FileManager.default.contents(atPath: path) else { return }
        // A line cut short by a kill is the end of what was decided; it is cut off the
        // file, so the next line appended does not join it.
        let decoder = JSONDecoder()
        var valid = 0
        for line in data.split(separator: 0x0a, omittingEmptySubsequences: false) {
            guard valid + line.count < data.count, let e = try? decoder.decode(Entry.self, from: Data(line)) else { break }
            entries.append(e)
            valid += line.count + 1
        }
        if valid < data.count {
            guard truncate(path, off_t(valid)) == 0 else { throw SearchError("cannot cut the unfinished last line of the search journal \(path)") }
        }
        // A rung is decided only when all of it was written: drop a partial last rung.
        if let last = entries.last, last.bracket >= 0, last.event == nil {
            let rung = entries.filter { $0.bracket == last.bracket && $0.rung == last.rung }
            let expected = entries.filter { $0.bracket == last.bracket && $0.rung == last.rung - 1 && $0.promoted }.count
            if last.rung > 0 && rung.count != expected { entries.removeAll { $0.bracket == last.bracket && $0.rung == last.rung } }
        }
    }

    /// The models trained to `maxEpochs` that no other beats on the metric, parameters
    /// and FLOPs at once (best first), for search.json's `pareto`. With `latency`
    /// (seconds per batch by configuration), only the models it has count, and latency
    /// is a fourth objective.
    func paretoFront(maxEpochs: Int, maximize: Bool, latency: [Int: Double]? = nil) -> [Entry] {
        var best: [Int: Entry] = [:]   // one entry per configuration
        for e in entries where e.epochs == maxEpochs && e.params != nil && best[e.configuration] == nil { best[e.configuration] = e }
        if let latency { best = best.filter { latency[$0.key] != nil } }
        let all = best.values.sorted { $0.configuration < $1.configuration }
        func better(_ a: Double, _ b: Double) -> Bool { maximize ? a > b : a < b }
        // Latencies within 5 % of each other count as equal (measurement noise).
        func seconds(_ e: Entry) -> Double { latency?[e.configuration] ?? 0 }
        func fasterOrEqual(_ a: Entry, _ b: Entry) -> Bool { seconds(a) <= seconds(b) * 1.05 }
        func faster(_ a: Entry, _ b: Entry) -> Bool { seconds(a) * 1.05 < seconds(b) }
        func dominates(_ a: Entry, _ b: Entry) -> Bool {
            let noWorse = !better(b.metric, a.metric) && a.params! <= b.params! && (a.forwardFLOPs ?? 0) <= (b.forwardFLOPs ?? 0) && fasterOrEqual(a, b)
            return noWorse && (better(a.metric, b.metric) || a.params! < b.params! || (a.forwardFLOPs ?? 0) < (b.forwardFLOPs ?? 0) || faster(a, b))
        }
        return all.filter { e in !all.contains { dominates($0, e) } }.sorted { better($0.metric, $1.metric) }
    }

    /// The recorded model of an evolution or reinforce step.
    func step(_ i: Int) -> Entry? { entries.first { $0.bracket == -1 && $0.rung == i } }

    /// The recorded outcome of a rung, if it was decided.
    func rung(bracket: Int, rung: Int) -> [Entry]? {
        let e = entries.filter { $0.bracket == bracket && $0.rung == rung }
        return e.isEmpty ? nil : e
    }

    var text: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return entries.map { String(decoding: (try? encoder.encode($0)) ?? Data(), as: UTF8.self) + "\n" }.joined()
    }

    /// Appends one rung's entries and syncs them to disk.
    mutating func append(_ rung: [Entry]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var data = Data()
        for e in rung { data += try encoder.encode(e); data.append(0x0a) }
        if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw SearchError("cannot write the search journal \(path)") }
        defer { try? handle.close() }
        do {
            try handle.seekToEnd()
            try handle.write(contentsOf: data)
            try handle.synchronize()
        } catch { throw SearchError(FileSystemErrors.writing(path, error)) }
        entries += rung
    }
}
