// Execution — carries out one stage: its `StageWork` (Jobs) and its dependencies'
// outputs in, a `StageOutput` out, computed with the engine. It never sees a spec,
// a plan or the planner: every decision is already in the work value. One file
// per stage family (ImageStages, DataStages, ModelStages, TrainingStages, CompressionStages,
// EnsembleStages); StageStorage writes outputs into cache entries and reads them
// back. The runtime decides when a stage runs and where its output is kept.
import Engine
import Foundation
import Jobs

/// What a finished stage hands to the stages after it.
public enum StageOutput {
    /// An image folder, decoded and resized once (a data.decode stage).
    case images(DecodedImages)
    case data(train: Dataset, validation: Dataset, test: Dataset, selection: DataSelection)
    case normalized(train: Dataset, validation: Dataset, test: Dataset, normalization: Normalization)
    case model(Network)
    /// The frozen prefix's outputs for every split.
    case features(train: Dataset, validation: Dataset, test: Dataset)
    /// The diagonal Fisher information of a source model, by parameter name.
    case fisher([String: [Float]])
    /// A trained model; `state` (optimizer and random streams) when a longer run may continue it.
    case trained(network: Network, history: [EpochRecord], seconds: Double, stoppedEarly: Bool, state: TrainingState? = nil)
    /// An evaluated model.
    case evaluation(variant: String, result: EvaluationResult)
    /// An int8 model (a quantize stage); prune, distill and share stages hand on `.trained`.
    case quantized(QuantizedNetwork)
    /// A model in Deep Compression storage (an encode stage): the file's bytes, the
    /// network decoded from them, and the size of every storage step.
    case encoded(network: Network, file: Data, sizes: DeepCompressionFormat.Sizes)
    /// An ensemble of other stages' models.
    case ensemble(EnsembleModel, EnsembleInfo)
    case report
}

/// A stage that failed, with what a person needs to act on it.
public struct StageFailure: Error, CustomStringConvertible {
    public var stage: String
    public var message: String
    public init(stage: String, message: String) { self.stage = stage; self.message = message }
    public var description: String { "stage \(stage) failed: \(message)" }
}

/// What a run reports as it goes, for a live display (the log gets plain lines).
public enum RunEvent: Sendable {
    case stageStarted(id: String, kind: String, summary: String, label: String)
    case epoch(stage: String, epoch: Int, epochs: Int, loss: Double, validationAccuracy: Double?, seconds: Double)
    /// After each batch: `images` of the epoch's `totalImages` are done.
    case batch(stage: String, epoch: Int, epochs: Int, batch: Int, batches: Int, loss: Double, images: Int, totalImages: Int)
    case stageFinished(id: String, seconds: Double, failed: Bool)
}

/// The outputs of a stage's dependencies, in the order its work documents,
/// fetched (from memory or the cache) only when asked for.
public struct StageInputs {
    public let count: Int
    private let fetch: (Int) throws -> StageOutput
    public init(count: Int, fetch: @escaping (Int) throws -> StageOutput) { self.count = count; self.fetch = fetch }
    public func callAsFunction(_ i: Int) throws -> StageOutput {
        guard i < count else { throw StageFailure(stage: "inputs", message: "dependency \(i) is missing (the stage has \(count))") }
        return try fetch(i)
    }
}

/// How a stage reports while it runs.
public struct StageContext: Sendable {
    /// The stage's id (messages and events name it).
    public var stage: String
    public var log: @Sendable (String) -> Void
    public var events: (@Sendable (RunEvent) -> Void)?
    public var isCancelled: @Sendable () -> Bool
    /// Data sources read so far in this process (shared by the stages of a run).
    public var sources: DataSourceCache

    public init(stage: String, log: @escaping @Sendable (String) -> Void, events: (@Sendable (RunEvent) -> Void)?,
                isCancelled: @escaping @Sendable () -> Bool, sources: DataSourceCache) {
        self.stage = stage; self.log = log; self.events = events; self.isCancelled = isCancelled; self.sources = sources
    }

    func failure(_ message: String) -> StageFailure { StageFailure(stage: stage, message: message) }
    func wrongInput() -> StageFailure { failure("unexpected inputs from its dependencies") }
}

public enum StageExecutor {
    /// Computes a stage's output from its work and its dependencies' outputs.
    public static func execute(_ work: StageWork, inputs: StageInputs, context: StageContext) throws -> StageOutput {
        switch work {
        case .dataDecode(let w): try ImageStages.decode(w, context: context)
        case .dataLoad(let w): try DataStages.load(w, inputs: inputs, context: context)
        case .dataNormalize(let w): try DataStages.normalize(w, inputs: inputs, context: context)
        case .modelInit(let w): try ModelStages.initialize(w, inputs: inputs, context: context)
        case .features(let w): try ModelStages.features(w, inputs: inputs, context: context)
        case .fisher(let w): try TrainingStages.fisher(w, inputs: inputs, context: context)
        case .train(let w): try TrainingStages.train(w, inputs: inputs, context: context)
        case .evaluate(let w): try TrainingStages.evaluate(w, inputs: inputs, context: context)
        case .prune(let w): try CompressionStages.prune(w, inputs: inputs, context: context)
        case .quantize(let w): try CompressionStages.quantize(w, inputs: inputs, context: context)
        case .distill(let w): try CompressionStages.distill(w, inputs: inputs, context: context)
        case .share(let w): try CompressionStages.share(w, inputs: inputs, context: context)
        case .encode: try CompressionStages.encode(inputs: inputs, context: context)
        case .ensemble(let w): try EnsembleStages.ensemble(w, inputs: inputs, context: context)
        case .report: .report
        }
    }

    /// The model an output holds, if it holds one, as a private copy (a float
    /// network's forward pass uses its own scratch buffers).
    public static func inferenceModel(_ out: StageOutput) throws -> InferenceModel? { try CompressionStages.inferenceModel(out) }
}

public func fmt(_ x: Double, _ digits: Int = 4) -> String { String(format: "%.\(digits)f", x) }
public func pct(_ x: Double) -> String { String(format: "%.2f%%", 100 * x) }

/// A time left, for people: "40 s", "3 min 10 s", "2 h 5 min".
public func durationText(_ seconds: Double) -> String {
    let s = max(0, Int(seconds.rounded()))
    if s < 60 { return "\(s) s" }
    if s < 3600 { return "\(s / 60) min \(s % 60) s" }
    return "\(s / 3600) h \(s % 3600 / 60) min"
}

/// Progress within an epoch, logged at most every `interval` seconds: images done,
/// images per second and the time left in the epoch (an epoch at 224×224 is long).
final class EpochProgress: @unchecked Sendable {
    private let interval: Double
    private var epochStart = Date(), lastLog = Date(), epoch = 0
    init(interval: Double = 30) { self.interval = interval }

    /// The line to log after a batch, when one is due.
    func line(epoch: Int, epochs: Int, images: Int, total: Int, now: Date = Date()) -> String? {
        if epoch != self.epoch { self.epoch = epoch; epochStart = now; lastLog = now }
        guard images < total, now.timeIntervalSince(lastLog) >= interval else { return nil }
        lastLog = now
        let rate = Double(images) / max(now.timeIntervalSince(epochStart), 1e-3)
        return "  epoch \(epoch)/\(epochs): \(images)/\(total) images, \(Int(rate.rounded())) images/s, about \(durationText(Double(total - images) / max(rate, 1e-9))) left in this epoch"
    }
}
