// Starters — the commented experiments `tlc init [--template NAME] FILE` writes,
// from Templates/init/<name>.yaml (compiled in, like the report templates). The
// starter's `name` is taken from the file name; each starter validates and runs
// as written (the test suite checks both).
import Foundation

public enum Starters {
    /// Starter names (`transfer.pretrain` and the like are companions, not starters).
    public static var names: [String] { EmbeddedTemplates.starters.keys.filter { !$0.contains(".") }.sorted() }
    public static let defaultName = "basic"

    /// The starter text for `file`, its name derived from the file name.
    public static func text(_ template: String, file: String) throws(ReportError) -> String {
        guard let raw = EmbeddedTemplates.starters[template] else {
            let hint = names.first { $0.hasPrefix(template.prefix(2)) }.map { " Did you mean '\($0)'?" } ?? ""
            throw ReportError("no starter named '\(template)'.\(hint) Starters: \(names.joined(separator: ", "))")
        }
        return raw.replacingOccurrences(of: "{{name}}", with: experimentName(file))
            .replacingOccurrences(of: "{{file}}", with: file)
    }

    /// Every file a starter writes: FILE, and companions next to it (the transfer
    /// starter's source experiment `NAME-pretrain.yaml`, from `transfer.pretrain`).
    public static func files(_ template: String, file: String) throws(ReportError) -> [(path: String, text: String)] {
        var out = [(file, try text(template, file: file))]
        let dir = (file as NSString).deletingLastPathComponent, name = experimentName(file)
        for key in EmbeddedTemplates.starters.keys.sorted() where key.hasPrefix(template + ".") {
            let suffix = String(key.dropFirst(template.count + 1))
            let path = (dir as NSString).appendingPathComponent("\(name)-\(suffix).yaml")
            out.append((path, EmbeddedTemplates.starters[key]!.replacingOccurrences(of: "{{name}}", with: name)
                .replacingOccurrences(of: "{{file}}", with: file)))
        }
        return out
    }

    /// A valid experiment name from a file name: `my exp.yaml` → `my-exp`.
    public static func experimentName(_ file: String) -> String {
        var stem = ((file as NSString).lastPathComponent as NSString).deletingPathExtension
        if stem.isEmpty { stem = "experiment" }
        var out = String(stem.lowercased().map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "-" })
        while out.hasPrefix("-") || out.hasPrefix("_") { out.removeFirst() }
        if out.isEmpty || !(out.first!.isLetter) { out = "exp-" + out }
        return out
    }
}
