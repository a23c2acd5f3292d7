// Image folder checks: `data.dataset: folder:PATH` must name a folder laid out as
// torchvision's ImageFolder (class subfolders, none empty; or train/ with val/ or
// test/), its classes fill in the class count, and the image keys must agree
// (resize ≥ image_size; no input_shape or test_dataset; no image keys elsewhere).
import Foundation
import ModelZoo
import SafeTensorsFormat

extension SpecDecoder {
    /// `normalization.kind: checkpoint` needs pretrained weights that carry statistics:
    /// another experiment's (`run:`), or a tlc checkpoint with `tlc.normalization`.
    func checkCheckpointNormalization(_ spec: Spec, node: (String, String) -> YAMLNode?, _ r: NodeReader) {
        guard spec.normalization.kind == .checkpoint, let n = node("normalization", "kind") else { return }
        switch spec.backbone.weights {
        case .none:
            r.error("normalization.kind checkpoint takes the statistics stored with the backbone's weights, but backbone.weights is none", at: n,
                    notes: ["use imagenet for torchvision's ImageNet statistics, or standardize to fit them on the training split"])
        case .run: break
        case .file(let path):
            let full = Self.resolvePath(path, relativeTo: (node("backbone", "weights") ?? n).location.file)
            guard let header = try? SafeTensorsHeader.read(path: full) else { return }   // reported with backbone.weights
            if header.metadata["tlc.normalization"] == nil {
                r.error("backbone.weights file '\(path)' stores no normalization statistics (no tlc.normalization metadata), so normalization.kind checkpoint has nothing to use", at: n,
                        notes: ["a checkpoint exported from PyTorch carries none: use imagenet for torchvision's ImageNet weights"])
            }
        }
    }

    func checkImageFolder(_ spec: inout Spec, node: (String, String) -> YAMLNode?, anchor: YAMLNode, _ r: NodeReader) {
        let d = spec.data
        guard case .folder(let path) = d.dataset else {
            for key in ["image_size", "resize", "strict"] {
                if let n = node("data", key) { r.error("data.\(key) applies to image folders (data.dataset: folder:PATH)", at: n) }
            }
            return
        }
        let at = node("data", "dataset") ?? anchor
        if let n = node("data", "input_shape") {
            r.error("an image folder's input is 3×image_size×image_size; set data.image_size instead of data.input_shape", at: n)
        }
        if let n = node("data", "test_dataset") {
            r.error("data.test_dataset applies to csv and npy data; give an image folder train/ and val/ (or test/) subfolders instead", at: n)
        }
        if d.effectiveResize < d.effectiveImageSize {
            r.error("data.resize (\(d.effectiveResize)) is smaller than data.image_size (\(d.effectiveImageSize)): the shorter side is resized, then the center image_size×image_size is kept",
                    at: node("data", "resize") ?? node("data", "image_size") ?? at)
        }
        let full = Self.resolvePath(path, relativeTo: at.location.file)
        switch ImageFolderScan.scan(full, listing: false) {
        case .failure(let problems):
            for (i, message) in problems.messages.enumerated() {
                r.error("image folder '\(path)': \(message)", at: at,
                        notes: i > 0 ? [] : ["folder:PATH names a folder with one subfolder of JPEG/PNG images per class (class names are the subfolder names, sorted), or train/ and val/ (or test/) folders laid out that way"])
            }
        case .success(let scan):
            spec.data.folderClasses = scan.classes
            if scan.separateTest, let n = node("data", "test_fraction") {
                r.error("data.test_fraction applies to an image folder without a \(scan.testPart ?? "test")/ part; this one has its own test images", at: n)
            }
            if let names = d.classNames, var classes = d.classes, let items = node("data", "classes")?.sequence {
                // Names are subfolder names; each becomes its index in the sorted list.
                var seen: [Int: Int] = [:]   // class → first position
                for (i, item) in items.enumerated() where i < classes.count {
                    if i < names.count, let name = names[i] {
                        guard let index = scan.classes.firstIndex(of: name) else {
                            let hint = suggestion(for: name, among: scan.classes).map { "; did you mean '\($0)'?" } ?? ""
                            r.error("class '\(name)' is not a subfolder of \(path)\(hint)", at: item,
                                    notes: hint.isEmpty ? ["classes: \(scan.classes.prefix(12).joined(separator: ", "))"] : [])
                            continue
                        }
                        classes[i] = index
                    }
                    // Two indices alike are the decoder's to report; a name and another mention are this check's.
                    if classes[i] >= 0, classes[i] < scan.classes.count, let first = seen[classes[i]],
                       names[i] != nil || names[first] != nil {
                        r.error("class '\(scan.classes[classes[i]])' is listed twice in data.classes", at: item,
                                notes: ["first listed at \(items[first].location)"])
                    }
                    if seen[classes[i]] == nil { seen[classes[i]] = i }
                }
                spec.data.classes = classes
                spec.data.classNames = nil
            }
            if let classes = spec.data.classes, let items = node("data", "classes")?.sequence {
                for (c, item) in zip(classes, items) where c >= scan.classes.count {
                    r.error("class \(c) does not exist: \(path) has \(scan.classes.count) classes (0–\(scan.classes.count - 1): \(scan.classes.prefix(6).joined(separator: ", ")))", at: item)
                }
            }
        }
    }
}
