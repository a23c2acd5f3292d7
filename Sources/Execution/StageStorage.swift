// StageStorage — how each stage kind's output is written into a cache entry
// folder and read back. Small and exact: a data split is stored as indices, not
// images (an image folder's preprocessed images are stored once, by data.decode); networks as safetensors with their architecture beside them; histories
// and evaluations as JSON.
import Engine
import Foundation
import Jobs
import ModelZoo

/// A cache entry that cannot be used as it is.
public enum CacheError: Error, CustomStringConvertible {
    case io(String)
    case corrupt(String)
    public var description: String {
        switch self {
        case .io(let m): m
        case .corrupt(let m): "corrupt cache entry: \(m)"
        }
    }
    /// What is wrong, without the prefix.
    public var reason: String {
        switch self {
        case .io(let m), .corrupt(let m): m
        }
    }
}

/// How long a stage computed for (timing.json in its cache entry).
public struct StageTiming: Codable, Sendable {
    public var seconds: Double
    public init(seconds: Double) { self.seconds = seconds }
}

struct TrainingInfo: Codable {
    var seconds: Double
    var stoppedEarly: Bool
    var variant: String?
}

public enum StageStorage {
    /// Writes `output` into the folder `dir`.
    public static func save(_ output: StageOutput, stage: String, to dir: String) throws {
        do { try write(output, stage: stage, to: dir) } catch let error as EngineError { throw error } catch {
            // Foundation's write errors, in words and naming the file (the device may be full).
            throw EngineError.fileWrite(reason: FileSystemErrors.writing(dir, error))
        }
    }

    private static func write(_ output: StageOutput, stage: String, to dir: String) throws {
        func path(_ name: String) -> String { (dir as NSString).appendingPathComponent(name) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        func saveNetwork(_ network: Network) throws {
            try network.save(to: path("model.safetensors"), metadata: ["tlc.stage": stage])
            try encoder.encode(network.architecture).write(to: URL(fileURLWithPath: path("architecture.json")))
        }
        switch output {
        case .images(let images):
            try ImageStorage.save(images, to: dir)
        case .data(_, _, _, let selection):
            try encoder.encode(selection).write(to: URL(fileURLWithPath: path("selection.json")))
        case .normalized(_, _, _, let normalization):
            try encoder.encode(normalization).write(to: URL(fileURLWithPath: path("normalization.json")))
        case .model(let network):
            try saveNetwork(network)
        case .features(let train, let validation, let test):
            var tensors: [(name: String, tensor: Tensor)] = []
            for (name, data) in [("train", train), ("validation", validation), ("test", test)] {
                let shape = data.sampleShape
                tensors.append(("\(name).x", try Tensor(shape: shape.isFlat ? [data.count, shape.count] : [data.count, shape.channels, shape.height, shape.width],
                                                        values: data.features)))
                tensors.append(("\(name).y", try Tensor(shape: [data.count], values: data.labels.map(Float.init))))
            }
            try SafeTensors.write(tensors, metadata: ["tlc.classes": train.classNames.joined(separator: "\u{1f}")], to: path("features.safetensors"))
        case .trained(let network, let history, let seconds, let stoppedEarly, let state):
            try saveNetwork(network)
            if let state { try saveTrainingState(state, to: path("training-state.safetensors")) }
            let lines = try history.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
            try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: path("history.jsonl")))
            try encoder.encode(TrainingInfo(seconds: seconds, stoppedEarly: stoppedEarly))
                .write(to: URL(fileURLWithPath: path("training.json")))
        case .fisher(let fisher):
            try SafeTensors.write(try fisher.keys.sorted().map { ($0, try Tensor(shape: [fisher[$0]!.count], values: fisher[$0]!)) },
                                  to: path("fisher.safetensors"))
        case .evaluation(let variant, let result):
            try encoder.encode(result).write(to: URL(fileURLWithPath: path("evaluation.json")))
            try encoder.encode(TrainingInfo(seconds: result.seconds, stoppedEarly: false, variant: variant))
                .write(to: URL(fileURLWithPath: path("variant.json")))
        case .quantized(let q):
            try q.save(to: path("model.int8.safetensors"))
        case .encoded(let network, let file, let sizes):
            try file.write(to: URL(fileURLWithPath: path("model.dc.safetensors")))
            try encoder.encode(network.architecture).write(to: URL(fileURLWithPath: path("architecture.json")))
            try encoder.encode(sizes).write(to: URL(fileURLWithPath: path("sizes.json")))
        case .ensemble(_, let info):
            try encoder.encode(info).write(to: URL(fileURLWithPath: path("ensemble.json")))
        case .report:
            break
        }
    }

    /// A training state as safetensors: the optimizer's buffers as `first/NAME` and
    /// `second/NAME`, the rest (last epoch, step counts, random streams in hex) as
    /// JSON in the metadata key `tlc.training_state`.
    static func saveTrainingState(_ state: TrainingState, to path: String) throws {
        var tensors: [(name: String, tensor: Tensor)] = []
        for (prefix, buffers) in [("first/", state.optimizer.first), ("second/", state.optimizer.second)] {
            for name in buffers.keys.sorted() {
                tensors.append((prefix + name, try Tensor(shape: [buffers[name]!.count], values: buffers[name]!)))
            }
        }
        let record = StateRecord(epoch: state.epoch, stepCount: state.optimizer.stepCount, parameterSteps: state.optimizer.parameterSteps,
                                 randomStreams: state.randomStreams.mapValues { $0.map { String($0, radix: 16) } })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try SafeTensors.write(tensors, metadata: ["tlc.training_state": String(decoding: try encoder.encode(record), as: UTF8.self)], to: path)
    }

    static func loadTrainingState(_ path: String) throws -> TrainingState {
        let file = try SafeTensors.read(path)
        guard let text = file.metadata["tlc.training_state"],
              let record = try? JSONDecoder().decode(StateRecord.self, from: Data(text.utf8)) else { throw CacheError.corrupt(path) }
        var first: [String: [Float]] = [:], second: [String: [Float]] = [:]
        for (name, t) in file.tensors {
            if name.hasPrefix("first/") { first[String(name.dropFirst(6))] = t.values }
            else if name.hasPrefix("second/") { second[String(name.dropFirst(7))] = t.values }
        }
        var streams: [String: [UInt64]] = [:]
        for (layer, words) in record.randomStreams {
            let values = words.compactMap { UInt64($0, radix: 16) }
            guard values.count == words.count else { throw CacheError.corrupt(path) }
            streams[layer] = values
        }
        return TrainingState(epoch: record.epoch,
                             optimizer: Optimizer.State(stepCount: record.stepCount, first: first, second: second, parameterSteps: record.parameterSteps),
                             randomStreams: streams)
    }

    struct StateRecord: Codable {
        var epoch: Int, stepCount: Int
        var parameterSteps: [String: Int]
        var randomStreams: [String: [String]]
    }

    /// Reads the output of a stage doing `work` from `dir`. Only normalize and ensemble
    /// outputs read their dependencies (the data they normalize, their members).
    public static func load(_ work: StageWork, from dir: String, inputs: StageInputs, context: StageContext) throws -> StageOutput {
        func path(_ name: String) -> String { (dir as NSString).appendingPathComponent(name) }
        func read(_ name: String) throws -> Data {
            guard let d = FileManager.default.contents(atPath: path(name)) else { throw CacheError.corrupt("\(path(name)) is missing") }
            return d
        }
        let decoder = JSONDecoder()
        func network() throws -> Network {
            let network = try Network(architecture: try decoder.decode(Architecture.self, from: read("architecture.json")), seed: 0)
            try network.load(from: path("model.safetensors"))
            return network
        }
        func trained() throws -> StageOutput {
            let history = try String(decoding: read("history.jsonl"), as: UTF8.self).split(separator: "\n")
                .map { try decoder.decode(EpochRecord.self, from: Data($0.utf8)) }
            let info = try decoder.decode(TrainingInfo.self, from: read("training.json"))
            let statePath = path("training-state.safetensors")
            let state = FileManager.default.fileExists(atPath: statePath) ? try loadTrainingState(statePath) : nil
            return .trained(network: try network(), history: history, seconds: info.seconds, stoppedEarly: info.stoppedEarly, state: state)
        }
        do {
            switch work {
            case .dataDecode:
                return .images(try ImageStorage.load(from: dir))
            case .dataLoad(let w):
                return try DataStages.materializeSelection(try decoder.decode(DataSelection.self, from: read("selection.json")), work: w,
                                                           inputs: inputs, context: context)
            case .dataNormalize:
                guard case .data(let train, let validation, let test, _) = try inputs(0) else { throw CacheError.corrupt(dir) }
                return try DataStages.applied(try decoder.decode(Normalization.self, from: read("normalization.json")),
                                              train: train, validation: validation, test: test)
            case .modelInit:
                return .model(try network())
            case .features:
                let file = try SafeTensors.read(path("features.safetensors"))
                var byName: [String: Tensor] = [:]
                for (n, t) in file.tensors { byName[n] = t }
                let names = (file.metadata["tlc.classes"] ?? "").split(separator: "\u{1f}", omittingEmptySubsequences: false).map(String.init)
                func split(_ name: String) throws -> Dataset {
                    guard let x = byName["\(name).x"], let y = byName["\(name).y"], x.shape.count == 2 || x.shape.count == 4 else {
                        throw CacheError.corrupt(path("features.safetensors"))
                    }
                    let shape = x.shape.count == 2 ? FeatureShape.flat(x.shape[1]) : FeatureShape(channels: x.shape[1], height: x.shape[2], width: x.shape[3])
                    return try Dataset(sampleShape: shape, features: (0..<x.count).map { x[$0] },
                                       labels: (0..<y.count).map { Int(y[$0]) }, classNames: names)
                }
                return .features(train: try split("train"), validation: try split("validation"), test: try split("test"))
            case .train, .prune, .distill, .share:
                return try trained()
            case .encode:
                let network = try Network(architecture: try decoder.decode(Architecture.self, from: read("architecture.json")), seed: 0)
                try DeepCompressionFormat.read(path("model.dc.safetensors"), into: network)
                return .encoded(network: network, file: try read("model.dc.safetensors"),
                                sizes: try decoder.decode(DeepCompressionFormat.Sizes.self, from: read("sizes.json")))
            case .fisher:
                let file = try SafeTensors.read(path("fisher.safetensors"))
                var out: [String: [Float]] = [:]
                for (name, t) in file.tensors { out[name] = t.values }
                return .fisher(out)
            case .evaluate:
                let result = try decoder.decode(EvaluationResult.self, from: read("evaluation.json"))
                let info = try decoder.decode(TrainingInfo.self, from: read("variant.json"))
                return .evaluation(variant: info.variant ?? "baseline", result: result)
            case .quantize:
                return .quantized(try QuantizedNetwork.load(from: path("model.int8.safetensors")))
            case .ensemble:
                let info = try decoder.decode(EnsembleInfo.self, from: read("ensemble.json"))
                guard let method = EnsembleMethod(rawValue: info.method), info.members.allSatisfy({ $0 >= 0 && $0 < inputs.count - 1 }) else {
                    throw CacheError.corrupt(path("ensemble.json"))
                }
                let members = try info.members.map { i in
                    guard let m = try CompressionStages.inferenceModel(try inputs(i)) else { throw CacheError.corrupt("member \(i) holds no model") }
                    return m
                }
                return .ensemble(EnsembleModel(members: members, method: method, weights: info.weights), info)
            case .report:
                return .report
            }
        } catch let e as StageFailure {
            throw e
        } catch let e as CacheError {
            throw e
        } catch {
            throw CacheError.corrupt("\(dir): \(error)")
        }
    }
}
