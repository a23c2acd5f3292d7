// `tlc predict RUN INPUT…`: a finished run's model on new samples (csv or npy
// files shaped as its input, or images through the run's own preprocessing), with
// its own normalization: the top classes of every sample with their
// probabilities, as text or one JSON object.
import ArgumentParser
import Foundation
import Runtime

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Predict with a finished run's model: the top classes of every sample of csv or npy files, or of images.",
        discussion: "RUN is a run directory, a run id, NAME@latest, NAME@N or NAME/LABEL (a sweep point). An npy file holds "
            + "an array [N, …] of samples of the model's input size; a csv file holds one sample a row (a `label` column is ignored). "
            + "Samples are normalized with the statistics stored in the model's checkpoint, as in the run. "
            + "--variant predicts with one of the run's compression variants (the int8 one through its integer path, "
            + "the compressed one decoded from its Deep Compression file).")
    @Argument(help: ArgumentHelp("The run whose model predicts.", valueName: "run")) var reference: String
    @Argument(help: ArgumentHelp("csv or npy files of samples; JPEG or PNG images, or folders of them, for a run trained on an image folder.",
                                 valueName: "input")) var inputs: [String]
    @Option(help: "How many classes to list per sample.") var top = 3
    @Flag(help: "Print one JSON object on stdout.") var json = false
    @Flag(help: "Add every sample's raw logits.") var logits = false
    @Option(help: ArgumentHelp("Predict with one of the run's compression variants (pruned, shared, int8, distilled, compressed) instead of its baseline.",
                               valueName: "name")) var variant: String?
    @OptionGroup var root: OutputRootOption

    func validate() throws {
        guard top >= 1 && top <= 1000 else { throw ValidationError("--top must be between 1 and 1000") }
    }

    func run() throws {
        let record = try root.resolve(reference, command: "predict")
        do {
            let model = try Prediction.load(record, variant: variant)
            // Every input is read and checked before anything is predicted.
            let files = Prediction.expandingFolders(inputs)
            guard !files.isEmpty else { throw PredictionError("no images in \(inputs.joined(separator: ", "))") }
            let read = try files.map { ($0, try Prediction.inputs($0, model: model)) }
            var all: [SamplePrediction] = []
            for (file, (features, count)) in read {
                all += try Prediction.predict(model, features: features, count: count, file: file, top: min(top, model.classNames.count))
            }
            Output.out(json ? Self.json(all, model: model, run: record, logits: logits) : Self.text(all, model: model, logits: logits))
        } catch let e as PredictionError {
            Output.err("tlc predict: \(e.description)")
            throw CommandFailure(code: 2)
        }
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

    static func json(_ predictions: [SamplePrediction], model: RunModel, run: RunRecord, logits: Bool) -> String {
        let object: [String: Any] = [
            "run": run.path, "classes": model.classNames,
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
