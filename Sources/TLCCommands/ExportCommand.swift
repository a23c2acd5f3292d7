// `tlc export RUN [--variant NAME] --format onnx --output FILE`: a finished run's model
// (or one of its variants, the ensemble included) as an ONNX file, the input
// normalization folded in unless `--no-normalization`, the run's metadata in the
// model's metadata properties.
import ArgumentParser
import Engine
import Foundation
import ONNXExport
import Runtime

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a finished run's model (or one of its variants) as an ONNX file.",
        discussion: "RUN is a run directory, a run id, NAME@latest, NAME@N or NAME/LABEL (a sweep point). "
            + "The model's input `input` is float32 N×C×H×W (N×F for flat inputs) with a dynamic batch: raw pixel values 0–255 "
            + "for Fashion-MNIST and image folders, the file's values for csv and npy, normalized inside the graph as in the run "
            + "(--no-normalization: the model takes normalized inputs). Outputs: `logits` and `probabilities` "
            + "(an ensemble: `probabilities`). The int8 variant exports as integer operators (ConvInteger, MatMulInteger) "
            + "that onnxruntime runs in integer arithmetic; see docs/export.md.")
    @Argument(help: ArgumentHelp("The run whose model is exported.", valueName: "run")) var reference: String
    @Option(help: ArgumentHelp("Export one of the run's variants (pruned, shared, int8, distilled, compressed, ensemble) instead of its baseline.",
                               valueName: "name")) var variant: String?
    @Option(help: ArgumentHelp("The file format; onnx is the one there is.", valueName: "format")) var format = "onnx"
    @Option(name: .customLong("output"), help: ArgumentHelp("The file to write.", valueName: "file")) var file: String
    @Flag(name: .customLong("no-normalization"), help: "Leave the input normalization out of the graph.") var noNormalization = false
    @Option(name: .customLong("root"), help: ArgumentHelp("Artifact root (default: Outputs, or $TLC_OUTPUT).", valueName: "dir")) var root: String?

    func validate() throws {
        guard format == "onnx" else { throw ValidationError("--format: '\(format)' is not a format tlc exports; use onnx") }
        guard !file.isEmpty else { throw ValidationError("--output: give the file to write") }
        if let problem = RunOptions.outputRootProblem(root) { throw ValidationError(problem) }
    }

    func run() throws {
        let store = RunStore(outputRoot: root)
        let record: RunRecord
        do { record = try store.resolve(reference) } catch {
            Output.err("tlc export: \(error.description)")
            throw CommandFailure(code: 2)
        }
        do {
            let data = try Self.onnx(record, variant: variant, fold: !noNormalization, outputRoot: store.outputRoot)
            do { try data.write(to: URL(fileURLWithPath: file), options: .atomic) } catch {
                throw PredictionError(FileSystemErrors.writing(file, error))
            }
            Output.out("wrote \(file) (\(data.count) bytes): \(record.id)" + (variant.map { " variant \($0)" } ?? "") + ", ONNX opset \(ONNXExporter.opset)")
        } catch let e as PredictionError {
            Output.err("tlc export: \(e.description)")
            throw CommandFailure(code: 2)
        } catch let e as ExportError {
            Output.err("tlc export: \(record.id)\(variant.map { " variant \($0)" } ?? ""): \(e.description)")
            throw CommandFailure(code: 2)
        }
    }

    /// The run's model (or variant) as ONNX bytes.
    static func onnx(_ record: RunRecord, variant: String?, fold: Bool, outputRoot: String) throws -> Data {
        let members: [ExportMember]
        var ensemble: (method: EnsembleMethod, weights: [Double]?)? = nil
        let base = try Prediction.load(record, variant: variant == "ensemble" ? nil : variant)
        if variant == "ensemble" {
            let model = try Prediction.ensemble(record, outputRoot: outputRoot)
            // Every member reads the point's normalized data, as in the run.
            members = model.members.map { ExportMember(model: $0, normalization: base.normalization) }
            ensemble = (model.method, model.weights)
        } else {
            members = [ExportMember(model: base.model, normalization: base.normalization)]
        }
        let pixels = Prediction.inputIsPixels(record)
        var options = ONNXExportOptions()
        options.foldNormalization = fold
        options.pixelInput = pixels
        options.name = record.experiment
        let input: String
        switch (fold, pixels) {
        case (false, _): input = "normalized values, as the run's model read them"
        case (true, true): input = "raw pixel values 0-255 (normalization folded in)"
        case (true, false): input = "the data file's values (normalization folded in)"
        }
        let classes = (try? JSONSerialization.data(withJSONObject: base.classNames)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
        options.metadata = [
            ("tlc.version", LocalRunner.versionString), ("tlc.experiment", record.experiment), ("tlc.run", record.id),
            ("tlc.variant", variant ?? "baseline"), ("tlc.classes", classes),
            ("tlc.normalization", base.normalization.metadataText), ("tlc.input", input),
        ]
        if members.count == 1 { return try ONNXExporter.export(members[0], options: options) }
        return try ONNXExporter.export(members: members, ensemble: ensemble, options: options)
    }
}
