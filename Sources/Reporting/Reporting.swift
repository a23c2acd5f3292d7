// Reporting — what people read after a run: report.md and report.html of each
// point, the leaderboard and report.html of a sweep, Outputs/index.html over every
// run (IndexPage.swift), `tlc diff` between runs, between two sweeps point by
// point and between specs, and the `tlc init` starters.
//
// Layering: Reporting sits above Runtime. The runtime knows nothing about
// templates or charts; it calls a `RunReporter` (this module's `ReportWriter`,
// handed in by the command line through `RunOptions.reporter`) with the
// unpublished run folder once its data files are written, so the reports are
// part of the folder before it is renamed into place. Everything here reads the
// run directory's files (RunData.swift), never the runner's memory, so
// `tlc report RUN` re-renders a finished run the same way.
import Foundation
import Runtime

/// Writes the reports of a run directory with a set of templates.
public struct ReportWriter: RunReporter {
    public let templates: ReportTemplates

    public init(templates: ReportTemplates = .builtIn()) { self.templates = templates }

    /// The built-in templates overridden by a user's folder, if one is given.
    public init(templateDirectory: String?) throws(ReportError) {
        self.templates = try ReportTemplates(directory: templateDirectory)
    }

    /// report.md and report.html of one point's folder, and compression.md when it has
    /// variants — into `destination` (default: the folder itself).
    public func writePointReport(pointDir: String) throws { try writePointReport(pointDir: pointDir, into: pointDir) }

    func writePointReport(pointDir: String, into destination: String) throws {
        let data = try PointData.read(pointDir)
        try FileManager.default.createDirectory(atPath: destination, withIntermediateDirectories: true)
        try write(templates.render("report.md", ReportContext.point(data, charts: false)), to: destination, "report.md")
        try write(templates.render("report.html", ReportContext.point(data, charts: true)), to: destination, "report.html")
        func json(_ name: String) -> [String: Any]? {
            (try? Data(contentsOf: URL(fileURLWithPath: path(pointDir, name)))).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        }
        if let md = CompressionReport.markdown(data, details: json("compression.json"), latency: json("latency.json")) {
            try write(md, to: destination, "compression.md")
        }
    }

    /// leaderboard.md and report.html at the top of a sweep folder.
    public func writeSweepReport(sweepDir: String) throws { try writeSweepReport(sweepDir: sweepDir, into: sweepDir) }

    func writeSweepReport(sweepDir: String, into destination: String) throws {
        let data = try SweepData.read(sweepDir)
        try FileManager.default.createDirectory(atPath: destination, withIntermediateDirectories: true)
        try write(templates.render("leaderboard.md", ReportContext.sweep(data, charts: false)), to: destination, "leaderboard.md")
        try write(templates.render("sweep.html", ReportContext.sweep(data, charts: true)), to: destination, "report.html")
    }

    /// Re-renders every report of a finished run directory (a single run, a sweep,
    /// or one point of a sweep) into `destination` (default: the run directory, in
    /// place; a sweep's point reports go to its point folders there); returns the files written.
    @discardableResult
    public func rewrite(runDir: String, into destination: String? = nil) throws -> [String] {
        let fm = FileManager.default
        let out = destination ?? runDir
        if fm.fileExists(atPath: path(runDir, "metrics.json")) {
            try writePointReport(pointDir: runDir, into: out)
            return [path(out, "report.md"), path(out, "report.html")]
        }
        let sweep = try SweepData.read(runDir)
        var written: [String] = []
        for p in sweep.points where p.status == "succeeded" {
            let dir = path(out, p.folder)
            try writePointReport(pointDir: path(runDir, p.folder), into: dir)
            written += [path(dir, "report.md"), path(dir, "report.html")]
        }
        try writeSweepReport(sweepDir: runDir, into: out)
        return written + [path(out, "leaderboard.md"), path(out, "report.html")]
    }

    func write(_ text: String, to dir: String, _ name: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path(dir, name)), options: .atomic)
    }
}
