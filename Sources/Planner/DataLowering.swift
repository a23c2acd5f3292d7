// Data lowering: `data.load` and `data.normalize` works. User data files are
// resolved to absolute paths and their contents' digests, so editing a file
// reruns what depends on it.
import Foundation
import FrontEnd
import Jobs
import ModelZoo

extension PlanBuilder {
    struct DataKey: Hashable {
        var data: DataSpec; var seed: Int; var normalization: NormalizationSpec; var file: String
        /// Only for `checkpoint` statistics, which come with the weights.
        var weights: WeightsSource?
    }

    /// The point's data chain: (data.load, data.normalize) stage ids.
    func lowerData(_ spec: Spec, file: String, points: [String], state: State) throws(PlanError) -> (load: String, norm: String) {
        let key = DataKey(data: spec.data, seed: spec.dataSeed, normalization: spec.normalization, file: file,
                          weights: spec.normalization.kind == .checkpoint ? spec.backbone.weights : nil)
        if let known = state.dataChains[key] {
            for id in [known.load, known.norm] { addPoints(points, to: id, state: state) }
            return known
        }
        let d = spec.data
        let classes = try Self.classCount(spec)
        var source: DataSource, loadDeps: [String] = []
        if case .folder(let path) = d.dataset {
            let decode = try lowerImageDecode(spec, folder: path, file: file, points: points, state: state)
            (source, loadDeps) = (.images(files: decode.files), [decode.id])
        } else {
            source = try Self.dataSource(d.dataset, relativeTo: file)
        }
        let work = DataLoadWork(source: source,
                                testSource: try d.testDataset.map { source throws(PlanError) in try Self.dataSource(source, relativeTo: file) },
                                testFraction: d.testFraction, inputShape: d.inputShape, classes: d.classes,
                                trainPerClass: d.trainPerClass, testPerClass: d.testPerClass, validation: d.validation, seed: spec.dataSeed)
        let load = add(.dataLoad(work), experiment: spec.name, deps: loadDeps, points: points, flops: 0,
                       summary: "load \(d.dataset.text), \(classes) classes" + (d.trainPerClass.map { ", \($0) per class" } ?? ""),
                       state: state)
        let kind: NormalizeWork.Kind = switch spec.normalization.kind {
        case .standardize: .standardize
        case .minmax: .minMax
        case .none: .none
        case .imagenet: .imagenet
        case .checkpoint: .checkpoint
        }
        var normWork = NormalizeWork(kind: kind, per: spec.normalization.per == .global ? .global : .channel), normDeps = [load]
        if kind == .checkpoint {
            switch spec.backbone.weights {
            case .run(let ref): normDeps.append(try upstream(ref, from: file, state: state).normalized)
            case .file:
                guard case .file(let f) = try lowerWeights(spec.backbone.weights, file: file, state: state).work else { break }
                normWork.checkpoint = f
            case .none: throw .message("\(spec.name): normalization.kind checkpoint needs backbone.weights")
            }
        }
        let norm = add(.dataNormalize(normWork),
                       experiment: spec.name, deps: normDeps, points: points,
                       flops: Double(Self.trainSamples(d)) * Double(d.inputShape.count) * 2,
                       summary: spec.normalization.kind == .imagenet ? "ImageNet mean and std"
                           : spec.normalization.kind == .checkpoint ? "the pretrained backbone's statistics"
                           : "\(spec.normalization.kind.rawValue) per \(spec.normalization.per.rawValue), fit on the training split",
                       state: state)
        state.dataChains[key] = (load, norm)
        return (load, norm)
    }

    /// A data source with its files resolved and hashed.
    static func dataSource(_ source: DatasetSource, relativeTo file: String) throws(PlanError) -> DataSource {
        func reference(_ path: String) throws(PlanError) -> FileReference {
            guard let bytes = FileManager.default.contents(atPath: path) else { throw .message("data: cannot read \(path)") }
            return FileReference(path: path, sha256: StageHashing.sha256(bytes))
        }
        let paths = dataFiles(source, relativeTo: file)
        switch source {
        case .fashionMNIST: return .fashionMNIST
        case .folder: throw .message("data: an image folder is lowered to a data.decode stage")
        case .csv: return .csv(try reference(paths[0]))
        case .npy: return .npy(features: try reference(paths[0]), labels: try reference(paths[1]))
        }
    }

    /// The files a csv/npy source reads, as absolute paths.
    public static func dataFiles(_ source: DatasetSource, relativeTo file: String) -> [String] {
        switch source {
        case .fashionMNIST, .folder: return []
        case .csv(let path): return [absolute(SpecDecoder.resolvePath(path, relativeTo: file))]
        case .npy(let path):
            let folder = absolute(SpecDecoder.resolvePath(path, relativeTo: file))
            return ["x.npy", "y.npy"].map { (folder as NSString).appendingPathComponent($0) }
        }
    }

    static func absolute(_ path: String) -> String {
        let p = path.hasPrefix("/") ? path : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(path)
        return (p as NSString).standardizingPath
    }

    /// The number of classes the model predicts (validation requires `data.classes`
    /// for csv/npy data, so every checked spec has one).
    static func classCount(_ spec: Spec) throws(PlanError) -> Int {
        guard let n = spec.data.classCount else {
            throw .message("\(spec.name): data.classes is required for \(spec.data.dataset.text) (list the class labels to use)")
        }
        return n
    }

    /// Source class ids in label order.
    static func classList(_ d: DataSpec) -> [Int] { d.classes ?? Array(0..<(d.classCount ?? 0)) }

    /// Class names in label order ("T-shirt/top", … for Fashion-MNIST).
    static func classNames(_ d: DataSpec) -> [String] {
        classList(d).map { c in
            if d.dataset == .fashionMNIST && c < 10 { return DatasetSource.fashionMNISTClassNames[c] }
            if let names = d.folderClasses, c < names.count { return names[c] }
            return "class \(c)"
        }
    }

    static func trainSamples(_ d: DataSpec) -> Int {
        let classes = d.classCount ?? 10
        let perClass = d.trainPerClass.map { min($0, d.dataset == .fashionMNIST ? 6000 : $0) } ?? (d.dataset == .fashionMNIST ? 6000 : 1000)
        return Int(Double(classes * perClass) * (1 - d.validation))
    }

    static func testSamples(_ d: DataSpec) -> Int {
        let classes = d.classCount ?? 10
        return classes * (d.testPerClass.map { min($0, 1000) } ?? 1000)
    }
}
