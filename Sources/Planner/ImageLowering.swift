// Image folder lowering: the `data.decode` work of a `folder:PATH` data set — every
// file with the SHA-256 of its contents (so editing, adding or removing an image
// reruns what depends on it, and a stat-based guess never decides), its class and
// part, the resize and crop sizes. One decode stage per folder and sizes, shared by
// every point and seed that reads it: a sweep decodes each image once.
import Foundation
import FrontEnd
import Jobs

extension PlanBuilder {
    struct DecodeKey: Hashable { var folder: String; var resize: Int; var size: Int; var strict: Bool }

    /// The data.decode stage of a folder data set: (stage id, number of files).
    func lowerImageDecode(_ spec: Spec, folder path: String, file: String, points: [String], state: State) throws(PlanError) -> (id: String, files: Int) {
        let d = spec.data
        let folder = Self.absolute(SpecDecoder.resolvePath(path, relativeTo: file))
        let key = DecodeKey(folder: folder, resize: d.effectiveResize, size: d.effectiveImageSize, strict: d.strict)
        if let known = state.decodeStages[key] {
            addPoints(points, to: known.id, state: state)
            return known
        }
        let scan: ImageFolderScan
        switch ImageFolderScan.scan(folder) {
        case .success(let s): scan = s
        case .failure(let problems): throw .message("data: image folder \(path): " + problems.messages.joined(separator: "; "))
        }
        var images: [ImageDecodeWork.Image] = []
        images.reserveCapacity(scan.files.count)
        for f in scan.files {
            // A file too large to be an image is never read; decoding skips it with a warning.
            if let size = ImageFolderScan.fileSize(f.path), size > ImageFolderScan.maxFileBytes {
                images.append(.init(file: FileReference(path: f.path, sha256: "size:\(size)"), label: f.label, test: f.test))
                continue
            }
            guard let bytes = FileManager.default.contents(atPath: f.path) else { throw .message("data: cannot read \(f.path)") }
            images.append(.init(file: FileReference(path: f.path, sha256: StageHashing.sha256(bytes)), label: f.label, test: f.test))
        }
        let work = ImageDecodeWork(classes: scan.classes, images: images, separateTest: scan.separateTest,
                                   resize: key.resize, size: key.size, strict: key.strict)
        let id = add(.dataDecode(work), experiment: spec.name, deps: [], points: points,
                     flops: Double(images.count) * Double(key.resize * key.resize) * 3 * 8,
                     summary: "decode \(images.count) files of \(scan.classes.count) classes, resize \(key.resize), crop \(key.size)×\(key.size)",
                     state: state)
        state.decodeStages[key] = (id, images.count)
        return (id, images.count)
    }
}
