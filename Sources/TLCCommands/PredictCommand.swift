// `tlc predict MODEL INPUT…`: a model on new samples (csv or npy files shaped as its
// input, or images through its run's own preprocessing), with its own normalization:
// the top classes of every sample with their probabilities, as text or one JSON
// object. MODEL is a finished run, a checkpoint file (with its architecture.json), or
// an experiment file (its newest finished run).
import ArgumentParser
import Foundation
import FrontEnd
import Runtime

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Predict with a trained model: the top classes of every sample of csv or npy files, or of images.",
        discussion: "MODEL is a run (a run directory, a run id, NAME@latest, NAME@N or NAME/LABEL for a sweep point), "
            + "a checkpoint (a run's model.safetensors or a variant's file, copied anywhere with the run's architecture.json "
            + "beside it, or given by --architecture), or an experiment file (FILE.yaml: its newest succeeded run; "
            + "FILE.yaml/LABEL: a point of it). An npy file holds "
            + "an array [N, …] of samples of the model's input size; a csv file holds one sample a row (a `label` column is ignored). "
            + "Samples are normalized with the statistics stored in the model's checkpoint, as in the run. "
            + "--variant predicts with one of the run's compression variants (the int8 one through its integer path, "
            + "the compressed one decoded from its Deep Compression file).")
    @Argument(help: ArgumentHelp("The run, checkpoint file or experiment file whose model predicts.", valueName: "model")) var reference: String
    @Argument(help: ArgumentHelp("csv or npy files of samples; JPEG or PNG images, or folders of them, for a model trained on an image folder.",
                                 valueName: "input")) var inputs: [String]
    @Option(help: "How many classes to list per sample.") var top = 3
    @Flag(help: "Print one JSON object on stdout.") var json = false
    @Flag(help: "Add every sample's raw logits.") var logits = false
    @Option(help: ArgumentHelp("Predict with one of the run's compression variants (pruned, shared, int8, distilled, compressed) instead of its baseline.",
                               valueName: "name")) var variant: String?
    @Option(help: ArgumentHelp("A checkpoint's architecture.json (default: NAME.architecture.json or architecture.json beside it).",
                               valueName: "file")) var architecture: String?
    @OptionGroup var root: OutputRootOption

    /// What MODEL names.
    enum Source: Equatable {
        case checkpoint, experiment, run
        init(_ reference: String) {
            let lower = reference.lowercased()
            if lower.hasSuffix(".safetensors") { self = .checkpoint }
            else if [".yaml", ".yml"].contains(where: { lower.hasSuffix($0) || lower.contains($0 + "/") }) { self = .experiment }
            else { self = .run }
        }
    }

    func validate() throws {
        guard top >= 1 && top <= 1000 else { throw ValidationError("--top must be between 1 and 1000") }
        let source = Source(reference)
        if architecture != nil, source != .checkpoint {
            throw ValidationError("--architecture applies to a checkpoint file (MODEL ending in .safetensors)")
        }
        if variant != nil, source == .checkpoint {
            throw ValidationError("--variant applies to runs; give the variant's own file (the run's variants/NAME.safetensors) as MODEL")
        }
    }

    func run() throws {
        do {
            let model: RunModel
            var record: RunRecord?
            switch Source(reference) {
            case .checkpoint:
                model = try Prediction.load(checkpoint: reference, architecture: architecture)
            case .experiment:
                let run = try newestRun(of: reference)
                record = run
                model = try Prediction.load(run, variant: variant)
            case .run:
                let run = try root.resolve(reference, command: "predict")
                record = run
                model = try Prediction.load(run, variant: variant)
            }
            // Every input is read and checked before anything is predicted.
            let files = Prediction.expandingFolders(inputs)
            guard !files.isEmpty else { throw PredictionError("no images in \(inputs.joined(separator: ", "))") }
            let read = try files.map { ($0, try Prediction.inputs($0, model: model)) }
            var all: [SamplePrediction] = []
            for (file, (features, count)) in read {
                all += try Prediction.predict(model, features: features, count: count, file: file, top: min(top, model.classNames.count))
            }
            Output.out(json ? Self.json(all, model: model, source: record?.path ?? model.path, checkpoint: record == nil, logits: logits)
                            : Self.text(all, model: model, logits: logits))
        } catch let e as PredictionError {
            Output.err("tlc predict: \(e.description)")
            throw CommandFailure(code: 2)
        }
    }

    /// An experiment file's newest succeeded run (FILE.yaml), or one point of it (FILE.yaml/LABEL).
    func newestRun(of reference: String) throws -> RunRecord {
        let (file, label) = ExperimentLoader.splitPointReference(reference)
        guard FileManager.default.fileExists(atPath: file) else { throw PredictionError("\(file): no such experiment file") }
        let loaded: LoadedExperiment
        do { loaded = try ExperimentLoader().load(path: file) } catch {
            Output.diagnostics(error.diagnostics)
            throw PredictionError("\(file) does not load, so its runs cannot be found (the errors are above)")
        }
        let store = root.store
        guard let newest = store.runs(of: loaded.name).first(where: { $0.status == "succeeded" }) else {
            throw PredictionError("\(file): experiment '\(loaded.name)' has no succeeded run under \(store.outputRoot); `tlc run \(file)` makes one")
        }
        guard let label, !label.isEmpty else {
            if newest.isSweep {
                let labels = newest.points.prefix(3).map { "'\(file)/\($0.label)'" }.joined(separator: ", ")
                throw PredictionError("\(file) is a sweep; name one of its points, e.g. \(labels)")
            }
            return newest
        }
        guard newest.isSweep, let point = newest.points.first(where: { $0.label == label }) else {
            let known = newest.isSweep ? " (its points: \(newest.points.prefix(6).map(\.label).joined(separator: ", ")))" : " (it is not a sweep)"
            throw PredictionError("\(file): the newest run of '\(loaded.name)', \(newest.id), has no point '\(label)'\(known)")
        }
        do { return try store.read(point.path) } catch { throw PredictionError("\(reference): \(error.description)") }
    }

    static func text(_ predictions: [SamplePrediction], model: RunModel, logits: Bool) -> String {
        var out = ""
        var file = ""
        for p in predictions {
            if p.file != file { file = p.file; out += "\(file):\n" }
            out += "  [\(p.index)] " + p.top.map { "\(model.classNames[$0.index]) \(String(format: "%.1f%%", 100 * $0.probability))" }.joined(separator: ", ")
            if logits { out += "  logits " + p.logits.map { String(format: "%.4f", $0) }.joined(separator: " ") }
            out += "\n"
        }
        return out.hasSuffix("\n") ? String(out.dropLast()) : out
    }

    static func json(_ predictions: [SamplePrediction], model: RunModel, source: String, checkpoint: Bool, logits: Bool) -> String {
        let object: [String: Any] = [
            checkpoint ? "checkpoint" : "run": source, "classes": model.classNames,
            "predictions": predictions.map { p -> [String: Any] in
                var o: [String: Any] = ["input": p.file, "index": p.index,
                                        "top": p.top.map { ["class": model.classNames[$0.index], "index": $0.index, "probability": $0.probability] }]
                if logits { o["logits"] = p.logits }
                return o
            },
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
