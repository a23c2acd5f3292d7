// Dataset — an in-memory labelled data set (Float32 features, NCHW per sample) and the
// operations a spec asks for: class subsets with label remapping, per-class limits,
// stratified validation splits, deterministic shuffles and batch extraction.
// Also the Fashion-MNIST loader (folder from TLC_DATA or the Debian package's).

import Foundation
import ModelZoo

/// A labelled data set held in memory.
public struct Dataset: Sendable {
    /// Per-sample shape (channels, height, width; flat data is (n, 1, 1)).
    public var sampleShape: FeatureShape
    /// `count × sampleShape.count` values, sample-major.
    public var features: [Float]
    /// Labels in 0..<classNames.count.
    public var labels: [Int]
    /// Human-readable class names; the label is the index.
    public var classNames: [String]

    public init(sampleShape: FeatureShape, features: [Float], labels: [Int], classNames: [String]) throws {
        guard features.count == labels.count * sampleShape.count else {
            throw EngineError.invalidArgument("dataset: \(features.count) feature values for \(labels.count) samples of shape \(sampleShape)")
        }
        if let bad = labels.first(where: { $0 < 0 || $0 >= classNames.count }) {
            throw EngineError.invalidArgument("dataset: label \(bad) out of range for \(classNames.count) classes")
        }
        self.sampleShape = sampleShape; self.features = features; self.labels = labels; self.classNames = classNames
    }

    public var count: Int { labels.count }
    public var numClasses: Int { classNames.count }
    public var isEmpty: Bool { labels.isEmpty }

    /// Samples per class.
    public var classCounts: [Int] {
        var c = [Int](repeating: 0, count: numClasses)
        for l in labels { c[l] += 1 }
        return c
    }

    /// The samples at `indices`, in that order.
    public func subset(_ indices: [Int]) -> Dataset {
        let f = sampleShape.count
        var feats = [Float](repeating: 0, count: indices.count * f)
        feats.withUnsafeMutableBufferPointer { dst in
            features.withUnsafeBufferPointer { src in
                for (k, i) in indices.enumerated() {
                    (dst.baseAddress! + k * f).update(from: src.baseAddress! + i * f, count: f)
                }
            }
        }
        return Dataset(unchecked: sampleShape, feats, indices.map { labels[$0] }, classNames)
    }

    init(unchecked shape: FeatureShape, _ f: [Float], _ l: [Int], _ names: [String]) {
        sampleShape = shape; features = f; labels = l; classNames = names
    }

    /// Keeps only `classes` (original labels) and relabels them 0..<classes.count in the given order.
    public func selectingClasses(_ classes: [Int]) throws -> Dataset {
        guard !classes.isEmpty else { throw EngineError.invalidArgument("class list is empty") }
        if let bad = classes.first(where: { $0 < 0 || $0 >= numClasses }) {
            throw EngineError.invalidArgument("class \(bad) does not exist; this data set has classes 0...\(numClasses - 1)")
        }
        guard Set(classes).count == classes.count else { throw EngineError.invalidArgument("class list \(classes) repeats a class") }
        var map = [Int](repeating: -1, count: numClasses)
        for (new, old) in classes.enumerated() { map[old] = new }
        let idx = labels.indices.filter { map[labels[$0]] >= 0 }
        var out = subset(idx)
        out.labels = out.labels.map { map[$0] }
        out.classNames = classes.map { classNames[$0] }
        return out
    }

    /// At most `limit` samples per class, chosen by a seeded shuffle (order of the data kept).
    public func limitingPerClass(_ limit: Int, rng: SeededGenerator) throws -> Dataset {
        subset(try indicesLimitingPerClass(limit, rng: rng))
    }

    /// The indices `limitingPerClass` keeps (ascending), so a caller can store the
    /// selection instead of the data.
    public func indicesLimitingPerClass(_ limit: Int, rng: SeededGenerator) throws -> [Int] {
        guard limit > 0 else { throw EngineError.invalidArgument("per-class limit must be positive, got \(limit)") }
        var r = rng
        var byClass = [[Int]](repeating: [], count: numClasses)
        for (i, l) in labels.enumerated() { byClass[l].append(i) }
        var keep: [Int] = []
        for var idx in byClass {
            if idx.count > limit { r.shuffle(&idx); idx = Array(idx.prefix(limit)) }
            keep += idx
        }
        keep.sort()
        return keep
    }

    /// Splits off `fraction` of every class as a validation set (seeded, stratified).
    public func stratifiedSplit(validationFraction fraction: Double, rng: SeededGenerator) throws -> (train: Dataset, validation: Dataset) {
        let (train, val) = try indicesStratifiedSplit(validationFraction: fraction, rng: rng)
        return (subset(train), subset(val))
    }

    /// The indices (ascending) of the training and validation parts of `stratifiedSplit`.
    public func indicesStratifiedSplit(validationFraction fraction: Double, rng: SeededGenerator) throws -> (train: [Int], validation: [Int]) {
        guard fraction >= 0, fraction < 1 else {
            throw EngineError.invalidArgument("validation fraction must be in [0, 1), got \(fraction)")
        }
        var r = rng
        var byClass = [[Int]](repeating: [], count: numClasses)
        for (i, l) in labels.enumerated() { byClass[l].append(i) }
        var train: [Int] = [], val: [Int] = []
        for var idx in byClass where !idx.isEmpty {
            r.shuffle(&idx)
            var nv = Int((Double(idx.count) * fraction).rounded())
            if fraction > 0 && nv == 0 && idx.count > 1 { nv = 1 }
            val += idx.prefix(nv); train += idx.dropFirst(nv)
        }
        train.sort(); val.sort()
        return (train, val)
    }

    /// A seeded permutation of the samples.
    public func shuffled(rng: SeededGenerator) -> Dataset {
        var r = rng
        return subset(r.permutation(count))
    }

    /// Copies samples `indices` into a batch tensor `[n, C, H, W]` and returns it with the labels.
    public func batch(_ indices: ArraySlice<Int>) -> (x: Tensor, y: [Int]) {
        let f = sampleShape.count
        let x = Tensor(zeros: [indices.count, sampleShape.channels, sampleShape.height, sampleShape.width])
        features.withUnsafeBufferPointer { src in
            for (k, i) in indices.enumerated() { (x.pointer + k * f).update(from: src.baseAddress! + i * f, count: f) }
        }
        return (x, indices.map { labels[$0] })
    }
}

/// Fashion-MNIST from IDX files.
public enum FashionMNIST {
    public static let classNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    public static let defaultFolder = "/usr/share/datasets/fashion-mnist"

    /// `folder`, else `$TLC_DATA` (a folder holding the files, or a parent with a `fashion-mnist` folder), else the default.
    public static func resolveFolder(_ folder: String? = nil) -> String {
        if let folder { return folder }
        if let env = ProcessInfo.processInfo.environment["TLC_DATA"], !env.isEmpty {
            let sub = (env as NSString).appendingPathComponent("fashion-mnist")
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: sub, isDirectory: &isDir), isDir.boolValue { return sub }
            return env
        }
        return defaultFolder
    }

    static func file(_ folder: String, _ stem: String) -> String {
        for name in [stem + ".gz", stem] {
            let p = (folder as NSString).appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: p) { return p }
        }
        return (folder as NSString).appendingPathComponent(stem + ".gz")
    }

    /// Loads the training (60,000) and test (10,000) splits with pixel values in [0, 1].
    public static func load(folder: String? = nil) throws -> (train: Dataset, test: Dataset) {
        let dir = resolveFolder(folder)
        let stems = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
        let paths = stems.map { file(dir, $0) }
        // Decompress the four files in parallel.
        nonisolated(unsafe) var results = [Result<IDXArray, Error>?](repeating: nil, count: 4)
        results.withUnsafeMutableBufferPointer { buf in
            nonisolated(unsafe) let b = buf
            DispatchQueue.concurrentPerform(iterations: 4) { i in
                b[i] = Result { try IDX.load(paths[i]) }
            }
        }
        let arrays = try results.map { try $0!.get() }
        return (try makeDataset(images: arrays[0], labels: arrays[1], imagePath: paths[0], labelPath: paths[1]),
                try makeDataset(images: arrays[2], labels: arrays[3], imagePath: paths[2], labelPath: paths[3]))
    }

    static func makeDataset(images: IDXArray, labels: IDXArray, imagePath: String, labelPath: String) throws -> Dataset {
        guard images.dimensions.count == 3 else {
            throw EngineError.dataFile(path: imagePath, message: "expected 3 dimensions (count, rows, columns), got \(images.dimensions)")
        }
        guard labels.dimensions.count == 1 else {
            throw EngineError.dataFile(path: labelPath, message: "expected 1 dimension, got \(labels.dimensions)")
        }
        let n = images.dimensions[0], h = images.dimensions[1], w = images.dimensions[2]
        guard labels.dimensions[0] == n else {
            throw EngineError.dataFile(path: labelPath, message: "\(labels.dimensions[0]) labels for \(n) images in \(imagePath)")
        }
        guard n > 0 else { throw EngineError.dataFile(path: imagePath, message: "no images") }
        var feats = [Float](repeating: 0, count: n * h * w)
        feats.withUnsafeMutableBufferPointer { dst in
            images.bytes.withUnsafeBufferPointer { src in
                let scale: Float = 1 / 255
                for i in 0..<(n * h * w) { dst[i] = Float(src[i]) * scale }
            }
        }
        var labs = [Int](repeating: 0, count: n)
        for i in 0..<n {
            let l = Int(labels.bytes[i])
            guard l < classNames.count else {
                throw EngineError.dataFile(path: labelPath, message: "label \(l) at index \(i) is not a Fashion-MNIST class (0...9)")
            }
            labs[i] = l
        }
        return Dataset(unchecked: FeatureShape(channels: 1, height: h, width: w), feats, labs, classNames)
    }
}
