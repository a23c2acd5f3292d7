// ImageFolderScan — the layout of an image folder (torchvision's ImageFolder
// convention): one subfolder per class, named classes numbered in sorted order,
// every non-hidden regular file below a class folder a sample; or `train/` beside `val/`
// or `test/`, each laid out that way. Lists names only: decoding is the runtime's.
import Foundation

public struct ImageFolderScan: Sendable, Equatable {
    public struct File: Sendable, Equatable {
        /// Absolute path.
        public var path: String
        public var label: Int
        /// Under the folder's `val/` or `test/` part.
        public var test: Bool
    }
    /// Class names, sorted as Python sorts strings (by code point).
    public var classes: [String]
    /// Every file, class by class, in sorted order.
    public var files: [File]
    /// The folder has `train/` and a `val/` or `test/` part.
    public var separateTest: Bool
    /// `val` or `test` when separate.
    public var testPart: String?

    /// What is wrong with a folder, one sentence each.
    public struct Problems: Error, Equatable {
        public var messages: [String]
        init(_ messages: [String]) { self.messages = messages }
    }

    /// Python's `sorted` order for strings.
    static func pythonOrder(_ a: String, _ b: String) -> Bool {
        a.unicodeScalars.map(\.value).lexicographicallyPrecedes(b.unicodeScalars.map(\.value))
    }

    static func entries(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { !$0.hasPrefix(".") }.sorted(by: pythonOrder)
    }

    static func isDirectory(_ path: String) -> Bool {
        var d: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &d) && d.boolValue
    }

    /// A regular file (symbolic links followed): devices, pipes and sockets are not samples.
    static func isRegularFile(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
    }

    /// Image files larger than this are not read (a warning when decoding).
    public static let maxFileBytes = 1 << 30

    /// The size of a file in bytes (symbolic links followed), nil when it cannot be stat'ed.
    public static func fileSize(_ path: String) -> Int? {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : nil
    }

    /// Regular files below `dir` (sorted; subfolders walked in sorted order, at most 16
    /// deep); only the first one found when `firstOnly` (validation needs no more).
    static func files(_ dir: String, firstOnly: Bool = false, depth: Int = 0) -> [String] {
        var out: [String] = []
        for name in entries(dir) {
            let path = (dir as NSString).appendingPathComponent(name)
            if isDirectory(path) { if depth < 16 { out += files(path, firstOnly: firstOnly, depth: depth + 1) } }
            else if isRegularFile(path) { out.append(path) }
            if firstOnly && !out.isEmpty { return out }
        }
        return out
    }

    /// The folder's layout, or every problem found (each a sentence naming the folder).
    /// With `listing` false (validation) each class folder is only checked to hold a
    /// file, so validating never walks a large tree; `files` then holds one a class.
    public static func scan(_ root: String, listing: Bool = true) -> Result<ImageFolderScan, Problems> {
        guard isDirectory(root) else {
            return .failure(Problems([FileManager.default.fileExists(atPath: root) ? "\(root) is a file, not a folder" : "folder \(root) does not exist"]))
        }
        let top = entries(root).filter { isDirectory((root as NSString).appendingPathComponent($0)) }
        let testPart = ["test", "val"].first { top.contains($0) }
        var problems: [String] = []
        func classFolders(_ dir: String) -> [String] { entries(dir).filter { isDirectory((dir as NSString).appendingPathComponent($0)) } }
        let separate = top.contains("train") && testPart != nil
        let trainRoot = separate ? (root as NSString).appendingPathComponent("train") : root
        let classes = classFolders(trainRoot)
        if classes.isEmpty {
            return .failure(Problems(["\(trainRoot) has no class subfolders (an image folder holds one subfolder of images per class)"]))
        }
        if classes.count < 2 { problems.append("\(trainRoot) has one class subfolder ('\(classes[0])'); a classifier needs at least 2") }
        var out: [File] = []
        for (label, name) in classes.enumerated() {
            let dir = (trainRoot as NSString).appendingPathComponent(name)
            let found = files(dir, firstOnly: !listing)
            if found.isEmpty { problems.append("class folder \(dir) is empty") }
            out += found.map { File(path: $0, label: label, test: false) }
        }
        if separate, let testPart {
            let testRoot = (root as NSString).appendingPathComponent(testPart)
            var testCount = 0
            for name in classFolders(testRoot) {
                guard let label = classes.firstIndex(of: name) else {
                    problems.append("\(testRoot)/\(name) is not a class of \(trainRoot) (classes: \(classes.prefix(8).joined(separator: ", ")))")
                    continue
                }
                let found = files((testRoot as NSString).appendingPathComponent(name), firstOnly: !listing)
                testCount += found.count
                out += found.map { File(path: $0, label: label, test: true) }
            }
            if testCount == 0 { problems.append("\(testRoot) holds no images") }
        }
        if !problems.isEmpty { return .failure(Problems(problems)) }
        return .success(ImageFolderScan(classes: classes, files: out, separateTest: separate, testPart: separate ? testPart : nil))
    }
}
