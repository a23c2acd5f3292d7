// Image stages: `data.decode` reads an image folder's files (checking each against
// the SHA-256 the plan recorded), decodes and resizes each once, on a few threads,
// keeping only the small preprocessed images — at most one full-size image per
// thread is in memory at a time. Broken files are skipped with a warning naming
// them, or fail the stage when the spec is strict.
import Engine
import Foundation
import Jobs

enum ImageStages {
    /// Files handed to the threads at a time (progress and cancellation between chunks).
    static let chunk = 256
    /// Skipped files named in the log one by one; the rest are counted.
    static let maxWarnings = 50

    static func decode(_ w: ImageDecodeWork, context: StageContext) throws -> StageOutput {
        let started = Date()
        let total = w.images.count
        var pixels: [UInt8] = [], labels: [Int] = [], test: [Bool] = [], skipped: [DecodedImages.Skipped] = []
        pixels.reserveCapacity(total * w.size * w.size * 3)
        let threads = max(1, min(Parallel.threads, 4))
        for start in stride(from: 0, to: total, by: chunk) {
            if context.isCancelled() { throw context.failure("cancelled") }
            let part = Array(w.images[start..<min(start + chunk, total)])
            // One slot per file: the order of the results never depends on the threads.
            nonisolated(unsafe) var results = [Result<[UInt8], ImageProblem>?](repeating: nil, count: part.count)
            results.withUnsafeMutableBufferPointer { buffer in
                nonisolated(unsafe) let slots = buffer
                DispatchQueue.concurrentPerform(iterations: threads) { t in
                    var i = t
                    while i < part.count { slots[i] = preprocess(part[i].file, work: w); i += threads }
                }
            }
            for (image, result) in zip(part, results) {
                switch result! {
                case .success(let bytes):
                    pixels += bytes; labels.append(image.label); test.append(image.test)
                case .failure(.changed(let message)):
                    throw context.failure(message)
                case .failure(.unusable(let reason)):
                    if w.strict {
                        throw context.failure("\(image.file.path): \(reason) (data.strict is true; remove the file or set data.strict: false to skip it)")
                    }
                    // Each file named, up to a point; all of them are in the entry's images.json.
                    if skipped.count < maxWarnings { context.log("  warning: \(image.file.path): \(reason); skipped") }
                    skipped.append(.init(path: image.file.path, reason: reason))
                }
            }
            if total > chunk {
                let done = min(start + chunk, total), seconds = Date().timeIntervalSince(started)
                let rate = Double(done) / max(seconds, 1e-3)
                context.log("  decoded \(done)/\(total) images, \(Int(rate)) images/s" + (done < total ? ", about \(durationText(Double(total - done) / rate)) left" : ""))
            }
        }
        if skipped.count > maxWarnings {
            context.log("  warning: \(skipped.count - maxWarnings) more files skipped (each is listed in the data.decode cache entry's images.json)")
        }
        let images = DecodedImages(classes: w.classes, size: w.size, pixels: pixels, labels: labels, test: test, skipped: skipped)
        try check(images, work: w, context: context)
        context.log("  \(images.count) images decoded and resized to \(w.size)×\(w.size)"
                    + (skipped.isEmpty ? "" : "; \(skipped.count) file\(skipped.count == 1 ? "" : "s") skipped"))
        return .images(images)
    }

    enum ImageProblem: Error {
        /// The file is not what the plan hashed (the run must be re-planned).
        case changed(String)
        /// Not a usable image: a warning, or an error when strict.
        case unusable(String)
    }

    /// Image files larger than this are not read (the planner does not hash them either).
    static let maxFileBytes = 1 << 30

    static func preprocess(_ file: FileReference, work w: ImageDecodeWork) -> Result<[UInt8], ImageProblem> {
        var st = stat()
        if stat(file.path, &st) == 0, Int(st.st_size) > maxFileBytes {
            let size = Int(st.st_size)
            return file.sha256 == "size:\(size)" ? .failure(.unusable("the file is larger than 1 GiB, too large to be an image"))
                : .failure(.changed("\(file.path) changed since the plan was made; run the experiment again to re-plan"))
        }
        guard let data = FileManager.default.contents(atPath: file.path) else {
            return .failure(.changed("cannot read \(file.path); run the experiment again to re-plan"))
        }
        guard StageHashing.sha256(data) == file.sha256 else {
            return .failure(.changed("\(file.path) changed since the plan was made (its SHA-256 differs); run the experiment again to re-plan"))
        }
        do { return .success(try DecodedImages.preprocess([UInt8](data), resize: w.resize, size: w.size)) } catch {
            return .failure(.unusable(error.description))
        }
    }

    /// Every class must keep an image in the training part after broken files are skipped.
    static func check(_ images: DecodedImages, work w: ImageDecodeWork, context: StageContext) throws {
        var counts = [Int](repeating: 0, count: w.classes.count)
        for (l, t) in zip(images.labels, images.test) where !t { counts[l] += 1 }
        if let empty = counts.firstIndex(of: 0) {
            throw context.failure("class '\(w.classes[empty])' has no usable training image (every file was skipped)")
        }
    }
}
