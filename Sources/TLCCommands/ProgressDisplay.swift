// ProgressDisplay — what `tlc run` shows while it works. On a terminal: log lines
// scroll above a live footer with one line per running stage (epoch, loss, ETA).
// Otherwise (a pipe, a file, CI): plain log lines only.
import Execution
import Foundation
import Runtime

final class ProgressDisplay: @unchecked Sendable {
    private let lock = NSLock()
    private let live: Bool
    private var running: [(id: String, text: String)] = []
    private var footerLines = 0
    private var epochSeconds: [String: [Double]] = [:]
    /// When each stage's current epoch started (its first batch).
    private var epochStarts: [String: (epoch: Int, start: Date)] = [:]
    private var lastDraw = Date.distantPast

    init() { live = isatty(STDERR_FILENO) == 1 && ProcessInfo.processInfo.environment["TERM"] != "dumb" }

    func line(_ text: String) {
        lock.lock(); defer { lock.unlock() }
        clearFooter()
        write(text + "\n")
        drawFooter()
    }

    func event(_ e: RunEvent) {
        guard live else { return }
        lock.lock(); defer { lock.unlock() }
        switch e {
        case .stageStarted(let id, let kind, _, let label):
            running.append((id, "\(kind)\(label.isEmpty ? "" : " [\(label)]")  starting"))
        case .epoch(let stage, let epoch, let epochs, let loss, let val, let seconds):
            epochSeconds[stage, default: []].append(seconds)
            let times = epochSeconds[stage]!
            let eta = times.reduce(0, +) / Double(times.count) * Double(epochs - epoch)
            if let i = running.firstIndex(where: { $0.id == stage }) {
                let head = running[i].text.components(separatedBy: "  ").first ?? ""
                var text = "\(head)  epoch \(epoch)/\(epochs)  loss \(String(format: "%.4f", loss))"
                if let val { text += "  val acc \(String(format: "%.2f%%", val * 100))" }
                text += "  ETA \(Int(eta.rounded()))s"
                running[i].text = text
            }
        case .batch(let stage, let epoch, let epochs, let batch, let batches, let loss, let images, let total):
            let now = Date()
            if batch == 1 || epochStarts[stage]?.epoch != epoch { epochStarts[stage] = (epoch, now) }
            // Redraw at most ~10 times a second.
            guard now.timeIntervalSince(lastDraw) > 0.1 || batch == batches else { return }
            lastDraw = now
            if let i = running.firstIndex(where: { $0.id == stage }) {
                let head = running[i].text.components(separatedBy: "  ").first ?? ""
                running[i].text = head + "  " + Self.batchText(epoch: epoch, epochs: epochs, batch: batch, batches: batches, loss: loss,
                                                              images: images, total: total,
                                                              seconds: now.timeIntervalSince(epochStarts[stage]!.start))
            }
        case .stageFinished(let id, _, _):
            running.removeAll { $0.id == id }
        }
        clearFooter()
        drawFooter()
    }

    /// The footer of a training stage within an epoch: where it is, images per second
    /// and the time left (this epoch's rate for what remains of it and the epochs after).
    static func batchText(epoch: Int, epochs: Int, batch: Int, batches: Int, loss: Double, images: Int, total: Int, seconds: Double) -> String {
        var text = "epoch \(epoch)/\(epochs)  batch \(batch)/\(batches)  loss \(String(format: "%.4f", loss))"
        guard images > 0, seconds > 0 else { return text }
        let rate = Double(images) / seconds
        let left = (Double(total - images) + Double(epochs - epoch) * Double(total)) / max(rate, 1e-9)
        text += "  \(Int(rate.rounded())) img/s  ETA \(durationText(left))"
        return text
    }

    func finish() {
        lock.lock(); defer { lock.unlock() }
        clearFooter()
        running.removeAll()
    }

    private func clearFooter() {
        guard live, footerLines > 0 else { return }
        write(String(repeating: "\u{1b}[1A\u{1b}[2K", count: footerLines) + "\r")
        footerLines = 0
    }

    private func drawFooter() {
        guard live, !running.isEmpty else { return }
        let width = 100
        var text = ""
        for r in running { text += "\u{1b}[36m  ▸ \(String(r.text.prefix(width)))\u{1b}[0m\n" }
        write(text)
        footerLines = running.count
    }

    private func write(_ s: String) { FileHandle.standardError.write(Data(s.utf8)) }
}
