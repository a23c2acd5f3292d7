// Prediction — a finished run's model applied to new inputs (`tlc predict`): the
// model exactly as the run wrote it (model.safetensors, built from the run's
// architecture.json), or a checkpoint file on its own (with the architecture.json
// it belongs to), the input normalization stored in its metadata, the class names
// of its evaluation (or its metadata), and inputs from csv or npy files shaped as
// the model's input, or image files (and folders of them) through the run's own
// decoding, resize and center crop. Every input is checked before anything is computed.
import Engine
import Foundation
import Jobs
import ModelZoo

public struct PredictionError: Error, CustomStringConvertible {
    public var description: String
    public init(_ message: String) { description = message }
}

/// A run's trained model (or one of its variants, or a checkpoint file), ready to predict.
public struct RunModel {
    public var model: InferenceModel
    /// The input one sample has.
    public var input: FeatureShape
    public var normalization: Normalization
    public var classNames: [String]
    /// The run (or sweep point) folder it came from, or the checkpoint file.
    public var path: String
    /// The run's image preprocessing (`Resize(resize)`, `CenterCrop(size)`) when it was
    /// trained on an image folder; nil for csv, npy or Fashion-MNIST data (and for a
    /// checkpoint that does not record it).
    public var imageSizes: (resize: Int, size: Int)?
}

/// One input sample's prediction.
public struct SamplePrediction: Sendable {
    public var file: String
    public var index: Int
    /// The `top` most probable classes, most probable first: (class index, probability).
    public var top: [(index: Int, probability: Double)]
    public var logits: [Double]
}

/// A run folder's `architecture.json` (or a variant's): the network its weights belong to.
func writeArchitecture(_ architecture: Architecture, to path: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try encoder.encode(architecture).write(to: URL(fileURLWithPath: path), options: .atomic)
}

public enum Prediction {
    /// Loads the model of a run or sweep point folder: its baseline, or the variant
    /// `variant` (`pruned`, `shared`, `int8`, `distilled`, `compressed`, …).
    public static func load(_ run: RunRecord, variant: String? = nil) throws -> RunModel {
        guard !run.isSweep else {
            let labels = run.points.prefix(3).map { "'\(run.experiment)/\($0.label)'" }.joined(separator: ", ")
            throw PredictionError("\(run.id) is a sweep; name one of its points, e.g. \(labels)")
        }
        guard run.status == "succeeded" else { throw PredictionError("\(run.id) did not succeed; it has no model to predict with") }
        let dir = run.points.first?.path ?? run.path
        func file(_ name: String) -> String { (dir as NSString).appendingPathComponent(name) }
        func architecture(_ name: String) throws -> Architecture {
            guard let data = FileManager.default.contents(atPath: file(name)) else {
                throw PredictionError("\(dir) has no \(name) (runs made before tlc recorded it); run the experiment again")
            }
            do { return try JSONDecoder().decode(Architecture.self, from: data) } catch { throw PredictionError("\(file(name)) is damaged") }
        }
        let model: InferenceModel
        let metadata: [String: String]
        do {
            let baseline = try Network(architecture: try architecture("architecture.json"), seed: 0)
            metadata = try baseline.load(from: file("model.safetensors")).metadata
            if let variant {
                let path = file("variants/\(variant).safetensors")
                guard FileManager.default.fileExists(atPath: path) else {
                    let known = ((try? FileManager.default.contentsOfDirectory(atPath: file("variants"))) ?? [])
                        .filter { $0.hasSuffix(".safetensors") && !$0.contains(".member") }.map { String($0.dropLast(12)) }.sorted()
                    throw PredictionError("\(run.id) has no variant '\(variant)'" + (known.isEmpty ? " (it has none)" : " (it has: \(known.joined(separator: ", ")))"))
                }
                if DeepCompressionFormat.isCompressed(path) {
                    let network = try Network(architecture: try architecture("variants/\(variant).architecture.json"), seed: 0)
                    try DeepCompressionFormat.read(path, into: network)
                    model = .float(network)
                } else if FileManager.default.fileExists(atPath: file("variants/\(variant).architecture.json")) {
                    let network = try Network(architecture: try architecture("variants/\(variant).architecture.json"), seed: 0)
                    try network.load(from: path)
                    model = .float(network)
                } else {
                    model = .int8(try QuantizedNetwork.load(from: path))
                }
            } else {
                model = .float(baseline)
            }
        } catch let e as EngineError { throw PredictionError(e.description) }
        if case .ensemble = model { throw PredictionError("an ensemble variant's members are predicted one by one; name a member run instead") }
        guard let input = model.input else { throw PredictionError("\(run.id): the model has no input shape") }
        let normalization = try parseNormalization(metadata["tlc.normalization"], channels: input.channels, path: file("model.safetensors"))
        let names = classNames(evaluation: file("evaluation.json"), metadata: metadata, outputs: model.outputs)
        return RunModel(model: model, input: input, normalization: normalization, classNames: names, path: dir,
                        imageSizes: imagePreprocessing(metadata: metadata["tlc.image"]) ?? imagePreprocessing(run))
    }

    /// Loads a checkpoint file on its own: a run's model.safetensors (or one of its
    /// variants' files) copied elsewhere. Its weights need the network they belong to:
    /// `architecture` (an architecture.json, as runs write it), else NAME.architecture.json
    /// or architecture.json beside the file; an int8 checkpoint holds its own. The
    /// normalization, class names and image preprocessing come from its metadata
    /// (class names also from an evaluation.json beside it).
    public static func load(checkpoint path: String, architecture: String? = nil) throws -> RunModel {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue else {
            throw PredictionError("\(path): no such checkpoint file")
        }
        let folder = (path as NSString).deletingLastPathComponent
        func beside(_ name: String) -> String { (folder as NSString).appendingPathComponent(name) }
        let model: InferenceModel
        let metadata: [String: String]
        do {
            metadata = try SafeTensors.read(path).metadata
            if metadata["tlc.int8"] != nil {
                model = .int8(try QuantizedNetwork.load(from: path))
            } else {
                let stem = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
                let candidates = architecture.map { [$0] } ?? [beside(stem + ".architecture.json"), beside("architecture.json")]
                guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
                    if let architecture { throw PredictionError("--architecture \(architecture): no such file") }
                    throw PredictionError("\(path): a checkpoint needs the network its weights belong to: put its run's architecture.json "
                                          + "beside it (or \(stem).architecture.json), or give --architecture FILE")
                }
                let described: Architecture
                do { described = try JSONDecoder().decode(Architecture.self, from: Data(contentsOf: URL(fileURLWithPath: found))) }
                catch { throw PredictionError("\(found): not an architecture.json tlc wrote (a run's architecture.json describes its network)") }
                let network = try Network(architecture: described, seed: 0)
                if DeepCompressionFormat.isCompressed(path) { try DeepCompressionFormat.read(path, into: network) } else { try network.load(from: path) }
                model = .float(network)
            }
        } catch let e as EngineError { throw PredictionError(e.description) }
        if case .ensemble = model { throw PredictionError("\(path): an ensemble's members are predicted one by one") }
        guard let input = model.input else { throw PredictionError("\(path): the model has no input shape") }
        let normalization = try parseNormalization(metadata["tlc.normalization"], channels: input.channels, path: path)
        let names = classNames(evaluation: beside("evaluation.json"), metadata: metadata, outputs: model.outputs)
        return RunModel(model: model, input: input, normalization: normalization, classNames: names, path: path,
                        imageSizes: imagePreprocessing(metadata: metadata["tlc.image"]))
    }

    /// The class names: an evaluation.json's, else the checkpoint's `tlc.class_names`,
    /// else "class N" (whichever has one name per output).
    static func classNames(evaluation: String, metadata: [String: String], outputs: Int) -> [String] {
        if let data = FileManager.default.contents(atPath: evaluation),
           let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let classes = object["classes"] as? [String],
           classes.count == outputs {
            return classes
        }
        if let text = metadata["tlc.class_names"], let names = try? JSONDecoder().decode([String].self, from: Data(text.utf8)), names.count == outputs {
            return names
        }
        return (0..<outputs).map { "class \($0)" }
    }

    /// A checkpoint's `tlc.image` metadata (`{"resize": R, "size": S}`, written for runs
    /// on image folders): its image preprocessing.
    static func imagePreprocessing(metadata text: String?) -> (resize: Int, size: Int)? {
        guard let text, let sizes = try? JSONDecoder().decode([String: Int].self, from: Data(text.utf8)),
              let resize = sizes["resize"], let size = sizes["size"], size >= 1, resize >= size else { return nil }
        return (resize, size)
    }

    /// A checkpoint's `tlc.image` metadata for an image preprocessing.
    public static func imageMetadata(resize: Int, size: Int) -> String { "{\"resize\":\(resize),\"size\":\(size)}" }

    /// A checkpoint's `tlc.class_names` metadata.
    public static func classNamesMetadata(_ names: [String]) -> String {
        String(decoding: (try? JSONEncoder().encode(names)) ?? Data("[]".utf8), as: UTF8.self)
    }

    /// The resize and crop of the image folder a run was trained on, from its plan.json
    /// (a sweep point's is its sweep folder's), for runs whose checkpoint does not record it.
    static func imagePreprocessing(_ run: RunRecord) -> (resize: Int, size: Int)? {
        guard let plan = plan(run) else { return nil }
        for stage in plan.stages { if case .dataDecode(let w) = stage.work { return (w.resize, w.size) } }
        return nil
    }

    static let imageExtensions: Set<String> = ["jpg", "jpeg", "png"]

    /// Image files, and the image files of folders (recursively, in sorted order).
    public static func expandingFolders(_ paths: [String]) -> [String] {
        var out: [String] = []
        for path in paths {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else { out.append(path); continue }
            let files = (FileManager.default.enumerator(atPath: path)?.allObjects as? [String] ?? [])
                .filter { imageExtensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
            out += files.map { (path as NSString).appendingPathComponent($0) }
        }
        return out
    }

    /// One image file through the run's own preprocessing: decoded (as PIL's
    /// `convert("RGB")`), resized and center-cropped, scaled to [0, 1], channels first.
    static func image(_ path: String, model: RunModel) throws -> [Float] {
        guard let sizes = model.imageSizes else {
            throw PredictionError("\(path): this model was not trained on an image folder (or its checkpoint does not record how images were "
                                  + "resized and cropped); give it csv or npy samples")
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw PredictionError("\(path): cannot read the file") }
        let pixels: [UInt8]
        do { pixels = try DecodedImages.preprocess([UInt8](data), resize: sizes.resize, size: sizes.size) }
        catch { throw PredictionError("\(path): \(error.description)") }
        let hw = sizes.size * sizes.size
        var out = [Float](repeating: 0, count: 3 * hw)
        for j in 0..<hw { for c in 0..<3 { out[c * hw + j] = Float(pixels[3 * j + c]) / 255 } }
        return out
    }

    /// The checkpoint's `tlc.normalization` (Engine's format), for `channels` channels;
    /// none when the checkpoint records none.
    static func parseNormalization(_ text: String?, channels: Int, path: String) throws -> Normalization {
        guard let text, !text.isEmpty else { return .identity }
        guard let n = Normalization(metadata: text), n.kind == .none || n.shift.count == channels else {
            throw PredictionError("\(path): its tlc.normalization metadata is damaged")
        }
        return n.kind == .none ? .identity : n
    }

    /// The samples of an input file, shaped as `shape`: an npy array `[N, …]` whose
    /// trailing size is the input's, or a csv file whose columns (but a `label`
    /// column, which is ignored) are one sample a row.
    public static func inputs(_ path: String, model: RunModel) throws -> (features: [Float], count: Int) {
        if imageExtensions.contains((path as NSString).pathExtension.lowercased()) {
            return (try image(path, model: model), 1)
        }
        return try inputs(path, shape: model.input)
    }

    public static func inputs(_ path: String, shape: FeatureShape) throws -> (features: [Float], count: Int) {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue else {
            throw PredictionError("\(path): no such file")
        }
        let features: [Float]
        switch (path as NSString).pathExtension.lowercased() {
        case "npy":
            let a: NPYArray
            do { a = try NPY.load(path) } catch let e as EngineError { throw PredictionError(e.description) }
            guard a.shape.count >= 1, a.shape.dropFirst().reduce(1, *) == shape.count else {
                throw PredictionError("\(path): an array of shape \(a.shape) is not a list of samples of \(shape) (\(shape.count) values each)")
            }
            features = a.values
        case "csv":
            features = try csvRows(path, width: shape.count)
        default:
            throw PredictionError("\(path): tlc predicts on .csv and .npy files, and JPEG or PNG images for a run trained on an image folder")
        }
        guard features.allSatisfy(\.isFinite) else { throw PredictionError("\(path): holds NaN or infinite values") }
        guard !features.isEmpty else { throw PredictionError("\(path): holds no samples") }
        return (features, features.count / shape.count)
    }

    static func csvRows(_ path: String, width: Int) throws -> [Float] {
        guard let data = FileManager.default.contents(atPath: path) else { throw PredictionError("\(path): cannot read the file") }
        let lines = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard let head = lines.first else { throw PredictionError("\(path): empty file") }
        let columns = head.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        let label = columns.firstIndex(of: "label")
        let features = columns.count - (label == nil ? 0 : 1)
        guard features == width else {
            throw PredictionError("\(path): \(features) feature column\(features == 1 ? "" : "s"), but the model takes \(width) values a sample")
        }
        var out: [Float] = []
        out.reserveCapacity((lines.count - 1) * width)
        for (r, line) in lines.dropFirst().enumerated() {
            let cells = line.split(separator: ",", omittingEmptySubsequences: false)
            guard cells.count == columns.count else { throw PredictionError("\(path): line \(r + 2) has \(cells.count) cells, expected \(columns.count)") }
            for (c, cell) in cells.enumerated() where c != label {
                guard let v = Float(cell.trimmingCharacters(in: .whitespaces)) else {
                    throw PredictionError("\(path): line \(r + 2), column \(c + 1): '\(EngineError.excerpt(cell))' is not a number")
                }
                out.append(v)
            }
        }
        return out
    }

    /// The model's predictions for `count` samples (normalized here, as in the run).
    public static func predict(_ model: RunModel, features: [Float], count: Int, file: String, top: Int) throws(PredictionError) -> [SamplePrediction] {
        do { return try compute(model, features: features, count: count, file: file, top: top) }
        catch let e as EngineError { throw PredictionError("\(file): \(e.description)") }
        catch { throw PredictionError("\(file): \(error)") }
    }

    static func compute(_ model: RunModel, features: [Float], count: Int, file: String, top: Int) throws -> [SamplePrediction] {
        let shape = model.input
        let sampleShape = [shape.channels, shape.height, shape.width]
        let data = try model.normalization.apply(to: Dataset(sampleShape: shape, features: features, labels: [Int](repeating: 0, count: count),
                                                             classNames: model.classNames))
        var out: [SamplePrediction] = []
        var start = 0
        while start < count {
            let end = min(start + 256, count)
            let x = try Tensor(shape: [end - start] + (shape.isFlat ? [shape.channels] : sampleShape),
                               values: Array(data.features[(start * shape.count)..<(end * shape.count)]))
            let logits = try model.model.scores(x)
            let k = logits.shape[1]
            for s in 0..<(end - start) {
                let row = (0..<k).map { Double(logits[s * k + $0]) }
                let m = row.max()!
                let e = row.map { Foundation.exp($0 - m) }, z = e.reduce(0, +)
                let ranked = (0..<k).sorted { e[$0] != e[$1] ? e[$0] > e[$1] : $0 < $1 }.prefix(top)
                out.append(SamplePrediction(file: file, index: start + s, top: ranked.map { ($0, e[$0] / z) }, logits: row))
            }
            start = end
        }
        return out
    }
}
