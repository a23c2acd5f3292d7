// Data stages: `data.load` reads a source (Fashion-MNIST, csv, npy), keeps the
// chosen classes and draws the seeded per-class limits and validation split;
// `data.normalize` fits statistics on the training split and applies them to all.
import Engine
import Foundation
import Jobs
import ModelZoo

/// Which samples a data.load stage chose: indices into the class-selected
/// training and test splits of the source (what its cache entry stores).
public struct DataSelection: Codable, Hashable, Sendable {
    public var classes: [Int]?
    public var train: [Int]
    public var validation: [Int]
    public var test: [Int]
}

/// Sources already read in this process, by what identifies their contents.
public final class DataSourceCache: @unchecked Sendable {
    private let lock = NSLock()
    private var loaded: [String: (train: Dataset, test: Dataset)] = [:]
    public init() {}

    func value(_ key: String, _ load: () throws -> (train: Dataset, test: Dataset)) throws -> (train: Dataset, test: Dataset) {
        lock.lock()
        if let known = loaded[key] { lock.unlock(); return known }
        lock.unlock()
        let fresh = try load()
        lock.lock(); loaded[key] = fresh; lock.unlock()
        return fresh
    }
}

enum DataStages {
    static func load(_ w: DataLoadWork, inputs: StageInputs, context: StageContext) throws -> StageOutput {
        let root = SeededGenerator(seed: UInt64(w.seed)).split(label: "data")
        let (train, test) = try selected(w, inputs: inputs, context: context)
        // Indices into the class-selected splits: what the cache stores.
        var trainIndices = Array(0..<train.count), testIndices = Array(0..<test.count)
        if let n = w.trainPerClass { trainIndices = try train.indicesLimitingPerClass(n, rng: root.split(label: "train-limit")) }
        if let n = w.testPerClass { testIndices = try test.indicesLimitingPerClass(n, rng: root.split(label: "test-limit")) }
        var validationIndices: [Int] = []
        if w.validation > 0 {
            let limited = train.subset(trainIndices)
            let (t, v) = try limited.indicesStratifiedSplit(validationFraction: w.validation, rng: root.split(label: "validation"))
            (trainIndices, validationIndices) = (t.map { trainIndices[$0] }, v.map { trainIndices[$0] })
        }
        let selection = DataSelection(classes: w.classes, train: trainIndices, validation: validationIndices, test: testIndices)
        let out = try materialize(selection, train: train, test: test)
        if case .data(let tr, let va, let te, _) = out {
            context.log("  \(tr.count) training, \(va.count) validation, \(te.count) test images; \(tr.numClasses) classes")
        }
        return out
    }

    static func normalize(_ w: NormalizeWork, inputs: StageInputs, context: StageContext) throws -> StageOutput {
        guard case .data(let train, let validation, let test, _) = try inputs(0) else { throw context.wrongInput() }
        if w.kind == .checkpoint {
            let n: Normalization
            if let file = w.checkpoint {
                n = try checkpointNormalization(file, context: context)
            } else {
                guard inputs.count > 1, case .normalized(_, _, _, let upstream) = try inputs(1) else { throw context.wrongInput() }
                n = upstream
            }
            guard n.kind == .none || n.shift.count == train.sampleShape.channels else {
                throw context.failure("the backbone's normalization has \(n.shift.count) channel(s), the data \(train.sampleShape.channels)")
            }
            return try applied(n, train: train, validation: validation, test: test)
        }
        if w.kind == .imagenet {
            guard train.sampleShape.channels == 3 else { throw context.failure("ImageNet normalization needs RGB images (3 channels), not \(train.sampleShape)") }
            return try applied(.imagenet, train: train, validation: validation, test: test)
        }
        let n = try Normalization.fit(kind(w), global: w.per == .global, on: train)
        return try applied(n, train: train, validation: validation, test: test)
    }

    static func kind(_ w: NormalizeWork) -> Normalization.Kind {
        switch w.kind {
        case .standardize, .imagenet, .checkpoint: .standardize
        case .minMax: .minMax
        case .none: .none
        }
    }

    /// A tlc checkpoint's `tlc.normalization` metadata: `KIND shift=[…] scale=[…]`.
    static func checkpointNormalization(_ file: FileReference, context: StageContext) throws -> Normalization {
        guard let data = FileManager.default.contents(atPath: file.path) else { throw context.failure("cannot read \(file.path)") }
        guard StageHashing.sha256(data) == file.sha256 else {
            throw context.failure("\(file.path) changed since the plan was made (its SHA-256 differs); run the experiment again to re-plan")
        }
        let text = (try? SafeTensors.read(file.path))?.metadata["tlc.normalization"]
        guard let text, let n = Normalization(metadata: text) else {
            throw context.failure("\(file.path) stores no readable normalization statistics (tlc.normalization metadata)")
        }
        return n
    }

    static func applied(_ n: Normalization, train: Dataset, validation: Dataset, test: Dataset) throws -> StageOutput {
        .normalized(train: try n.apply(to: train), validation: validation.isEmpty ? validation : try n.apply(to: validation),
                    test: try n.apply(to: test), normalization: n)
    }

    /// The data a stored selection describes.
    static func materializeSelection(_ s: DataSelection, work: DataLoadWork, inputs: StageInputs, context: StageContext) throws -> StageOutput {
        let (train, test) = try selected(work, inputs: inputs, context: context)
        return try materialize(s, train: train, test: test)
    }

    /// The source's training and test splits, reduced to `classes` (remapped) when given.
    private static func selected(_ w: DataLoadWork, inputs: StageInputs, context: StageContext) throws -> (train: Dataset, test: Dataset) {
        let (train, test) = try raw(w, inputs: inputs, context: context)
        guard let classes = w.classes else { return (train, test) }
        return (try train.selectingClasses(classes), try test.selectingClasses(classes))
    }

    private static func materialize(_ s: DataSelection, train: Dataset, test: Dataset) throws -> StageOutput {
        guard (s.train + s.validation).allSatisfy({ $0 < train.count }), s.test.allSatisfy({ $0 < test.count }) else {
            throw CacheError.corrupt("data selection indexes past the data set")
        }
        return .data(train: train.subset(s.train), validation: train.subset(s.validation), test: test.subset(s.test), selection: s)
    }

    /// The data source's training and test splits: Fashion-MNIST's own, or a user's
    /// csv/npy data with its separate test set or a seeded stratified hold-out.
    private static func raw(_ w: DataLoadWork, inputs: StageInputs, context: StageContext) throws -> (train: Dataset, test: Dataset) {
        if case .images = w.source { return try images(w, inputs: inputs, context: context) }
        let key: String
        if case .fashionMNIST = w.source { key = "fashion-mnist" } else {
            key = (w.source.files + (w.testSource?.files ?? [])).map { "\($0.path)@\($0.sha256)" }.joined(separator: "|")
                + "|\(w.testFraction)|\(w.seed)|\(w.inputShape)"
        }
        return try context.sources.value(key) {
            if case .fashionMNIST = w.source {
                do { return try FashionMNIST.load() } catch {
                    throw StageFailure(stage: context.stage, message: "\(error)\n  Fashion-MNIST comes from the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist), or set TLC_DATA to a folder with its IDX files")
                }
            }
            let pool = try userData(w.source, shape: w.inputShape, context: context)
            if let testSource = w.testSource {
                var test = try userData(testSource, shape: w.inputShape, context: context)
                if test.classNames != pool.classNames {
                    // Labels given by name: number the test set's classes as the training data's.
                    let index = Dictionary(uniqueKeysWithValues: pool.classNames.enumerated().map { ($1, $0) })
                    var labels: [Int] = []
                    for l in test.labels {
                        guard let i = index[test.classNames[l]] else {
                            throw context.failure("the test set's class '\(test.classNames[l])' is not in the training data (classes: \(pool.classNames.prefix(8).joined(separator: ", ")))")
                        }
                        labels.append(i)
                    }
                    test = try Dataset(sampleShape: test.sampleShape, features: test.features, labels: labels, classNames: pool.classNames)
                }
                return (pool, test)
            }
            let rng = SeededGenerator(seed: UInt64(w.seed)).split(label: "data").split(label: "test-split")
            let (train, test) = try pool.indicesStratifiedSplit(validationFraction: w.testFraction, rng: rng)
            return (pool.subset(train), pool.subset(test))
        }
    }

    /// An image folder's training and test parts: its own `val/`/`test/` part, or a
    /// seeded stratified hold-out of `testFraction` (as for csv/npy data).
    private static func images(_ w: DataLoadWork, inputs: StageInputs, context: StageContext) throws -> (train: Dataset, test: Dataset) {
        guard case .images(let decoded) = try inputs(0) else { throw context.wrongInput() }
        let all = Array(0..<decoded.count)
        if decoded.test.contains(true) || w.testFraction == 0 {
            return (try decoded.dataset(all.filter { !decoded.test[$0] }), try decoded.dataset(all.filter { decoded.test[$0] }))
        }
        let labels = try Dataset(sampleShape: .flat(0), features: [], labels: decoded.labels, classNames: decoded.classes)
        let rng = SeededGenerator(seed: UInt64(w.seed)).split(label: "data").split(label: "test-split")
        let (train, test) = try labels.indicesStratifiedSplit(validationFraction: w.testFraction, rng: rng)
        return (try decoded.dataset(train), try decoded.dataset(test))
    }

    /// Reads a csv file or an npy pair, shaped as `shape`; the files must still be
    /// what the plan hashed.
    private static func userData(_ source: DataSource, shape: FeatureShape, context: StageContext) throws -> Dataset {
        for file in source.files {
            guard let bytes = FileManager.default.contents(atPath: file.path) else { throw context.failure("cannot read \(file.path)") }
            guard StageHashing.sha256(bytes) == file.sha256 else {
                throw context.failure("\(file.path) changed since the plan was made (its SHA-256 differs); run the experiment again to re-plan")
            }
        }
        var data: Dataset
        switch source {
        case .fashionMNIST, .images: throw context.failure("\(source) is not a user data file")
        case .csv(let f): data = try Dataset.fromCSV(f.path, sampleShape: nil)
        case .npy(let x, let y): data = try Dataset.fromNPY(features: x.path, labels: y.path)
        }
        guard data.sampleShape.count == shape.count else {
            throw context.failure("\(source.files.first?.path ?? "data"): samples have \(data.sampleShape.count) values (\(data.sampleShape)), but data.input_shape \(shape) needs \(shape.count)")
        }
        if data.sampleShape != shape {
            data = try Dataset(sampleShape: shape, features: data.features, labels: data.labels, classNames: data.classNames)
        }
        return data
    }
}
