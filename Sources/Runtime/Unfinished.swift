// Unfinished — run folders still being written (`.<run-id>.partial`): whether their
// writer is alive (a `.writer` file names its process and host), so `tlc ls` can
// show them as running or abandoned and `tlc gc` can remove the abandoned ones
// (a run killed with SIGKILL leaves one behind).
import Foundation

public struct UnfinishedRun: Sendable {
    public var experiment: String
    public var id: String
    public var path: String
    public var date: Date
    /// false: its writer is gone (killed), and `tlc gc` removes it.
    public var isRunning: Bool
}

enum Unfinished {
    static let writerFile = ".writer"

    /// Whether the process writing `folder` is gone: on this host, its pid is not
    /// alive; elsewhere (a shared Outputs), the folder is a day old. A folder without a
    /// writer file (an older tlc) counts as abandoned after a day.
    static func isAbandoned(_ folder: String) -> Bool {
        guard let text = try? String(contentsOfFile: (folder as NSString).appendingPathComponent(writerFile), encoding: .utf8)
        else { return StageCache.isDayOld(folder) }
        let parts = text.split(whereSeparator: \.isWhitespace)
        guard parts.count == 2, let pid = Int32(parts[0]) else { return StageCache.isDayOld(folder) }
        return StageCache.writerIsGone(pid: pid, host: String(parts[1]), writing: folder)
    }
}

extension RunStore {
    /// Folders of runs still being written, or abandoned by a killed run, newest first.
    public func unfinishedRuns() -> [UnfinishedRun] {
        let fm = FileManager.default
        var out: [UnfinishedRun] = []
        for name in experiments() {
            let dir = (outputRoot as NSString).appendingPathComponent(name)
            for folder in (try? fm.contentsOfDirectory(atPath: dir)) ?? [] where folder.hasPrefix(".") && folder.hasSuffix(".partial") {
                let path = (dir as NSString).appendingPathComponent(folder)
                let id = String(folder.dropFirst().dropLast(".partial".count))
                let date = (try? fm.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? Date()
                out.append(UnfinishedRun(experiment: name, id: id, path: path, date: date, isRunning: !Unfinished.isAbandoned(path)))
            }
        }
        return out.sorted { $0.date > $1.date }
    }
}
