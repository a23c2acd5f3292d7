// How each stage kind's output is written to and read from a cache entry.
// Small and exact: a data split is stored as indices, not images; models as
// safetensors; histories and evaluations as JSON.
import Engine
import Foundation
import FrontEnd
import ModelZoo
import Planner

/// Which samples a data.load stage chose: indices into the class-selected
/// training and test splits of the source.
struct DataSelection: Codable, Hashable {
    var classes: [Int]?
    var train: [Int]
    var validation: [Int]
    var test: [Int]
}

/// How long a stage computed for (timing.json in its cache entry).
struct StageTiming: Codable {
    var seconds: Double
}

struct TrainingInfo: Codable {
    var seconds: Double
    var stoppedEarly: Bool
    var variant: String?
}

extension StageExecutor {
    func save(_ output: StageOutput, of stage: Stage, to dir: String) throws {
        func path(_ name: String) -> String { (dir as NSString).appendingPathComponent(name) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        switch output {
        case .data(_, _, _, let selection):
            try encoder.encode(selection).write(to: URL(fileURLWithPath: path("selection.json")))
        case .normalized(_, _, _, let normalization):
            try encoder.encode(normalization).write(to: URL(fileURLWithPath: path("normalization.json")))
        case .model(let network):
            try network.save(to: path("model.safetensors"), metadata: ["tlc.stage": stage.id])
        case .features(let train, let validation, let test):
            var tensors: [(name: String, tensor: Tensor)] = []
            for (name, data) in [("train", train), ("validation", validation), ("test", test)] {
                let shape = data.sampleShape
                tensors.append(("\(name).x", try Tensor(shape: shape.isFlat ? [data.count, shape.count] : [data.count, shape.channels, shape.height, shape.width],
                                                        values: data.features)))
                tensors.append(("\(name).y", try Tensor(shape: [data.count], values: data.labels.map(Float.init))))
            }
            try SafeTensors.write(tensors, metadata: ["tlc.classes": train.classNames.joined(separator: "\u{1f}")], to: path("features.safetensors"))
        case .trained(let network, let history, let seconds, let stoppedEarly):
            try network.save(to: path("model.safetensors"), metadata: ["tlc.stage": stage.id])
            let lines = try history.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
            try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: path("history.jsonl")))
            try encoder.encode(TrainingInfo(seconds: seconds, stoppedEarly: stoppedEarly))
                .write(to: URL(fileURLWithPath: path("training.json")))
        case .fisher(let fisher):
            try SafeTensors.write(try fisher.keys.sorted().map { ($0, try Tensor(shape: [fisher[$0]!.count], values: fisher[$0]!)) },
                                  to: path("fisher.safetensors"))
        case .evaluation(let variant, let result, _):
            try encoder.encode(result).write(to: URL(fileURLWithPath: path("evaluation.json")))
            try encoder.encode(TrainingInfo(seconds: result.seconds, stoppedEarly: false, variant: variant))
                .write(to: URL(fileURLWithPath: path("variant.json")))
        case .quantized, .ensemble:
            try saveCompression(output, to: dir)
        case .report:
            break
        }
    }

    func load(_ stage: Stage, from dir: String) throws -> StageOutput {
        func path(_ name: String) -> String { (dir as NSString).appendingPathComponent(name) }
        func read(_ name: String) throws -> Data {
            guard let d = FileManager.default.contents(atPath: path(name)) else { throw CacheError.corrupt("\(path(name)) is missing") }
            return d
        }
        guard let spec = plan.specs[stage.source] else { throw StageFailure(stage: stage.id, message: "no spec") }
        let decoder = JSONDecoder()
        do {
            switch stage.kind {
            case .dataLoad:
                return try materializeSelection(try decoder.decode(DataSelection.self, from: read("selection.json")), spec: spec, experiment: stage.experiment)
            case .dataNormalize:
                guard case .data(let train, let validation, let test, _) = try output(stage.deps[0]) else { throw CacheError.corrupt(dir) }
                let n = try decoder.decode(Normalization.self, from: read("normalization.json"))
                return .normalized(train: try n.apply(to: train), validation: validation.isEmpty ? validation : try n.apply(to: validation),
                                   test: try n.apply(to: test), normalization: n)
            case .modelInit:
                let network = try Network(architecture: try architecture(spec), seed: 0)
                try network.load(from: path("model.safetensors"))
                return .model(network)
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
            case .train:
                let network = try Network(architecture: try architecture(spec), seed: 0)
                try network.load(from: path("model.safetensors"))
                let history = try String(decoding: read("history.jsonl"), as: UTF8.self).split(separator: "\n")
                    .map { try decoder.decode(EpochRecord.self, from: Data($0.utf8)) }
                let info = try decoder.decode(TrainingInfo.self, from: read("training.json"))
                return .trained(network: network, history: history, seconds: info.seconds, stoppedEarly: info.stoppedEarly)
            case .fisher:
                let file = try SafeTensors.read(path("fisher.safetensors"))
                var out: [String: [Float]] = [:]
                for (name, t) in file.tensors { out[name] = t.values }
                return .fisher(out)
            case .evaluate:
                let result = try decoder.decode(EvaluationResult.self, from: read("evaluation.json"))
                let info = try decoder.decode(TrainingInfo.self, from: read("variant.json"))
                // The evaluated model is not loaded here (nothing reads it from an evaluation).
                return .evaluation(variant: info.variant ?? "baseline", result: result, network: nil)
            case .report:
                return .report
            case .prune, .quantize, .distill, .ensemble:
                return try loadCompression(stage, spec: spec, from: dir)
            }
        } catch let e as StageFailure {
            throw e
        } catch {
            throw CacheError.corrupt("\(dir): \(error)")
        }
    }
}
