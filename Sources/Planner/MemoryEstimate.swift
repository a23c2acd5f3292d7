// MemoryEstimate — each stage's estimated peak resident memory: what the tlc
// process holds while the stage runs. A run keeps every stage output it computed
// in memory while it lasts (and each data source it read), so a stage's estimate
// is the process itself, plus the outputs of the stage and all its ancestors,
// plus what the stage needs only while it works (gradients, optimizer state,
// activations at its batch size, inference batches). `tlc run` refuses a plan
// with a stage above the machine's available memory before anything runs.
// Batches are bounded by the data: a stage's splits (training, validation, test)
// follow from its data.load's limits, and no batch is larger than the split it
// runs over.
//
// The constants were fitted to the peak RSS (VmHWM) of tlc runs (`--jobs 1`, 2 cores):
// the debug binary for mlp, lenet5, cnn, resnet-8 and alexnet-mini on 600- and
// 1500-sample 1×28×28 three-class csv data (training batches 16 to 432, validation
// fractions 0, 0.1 and 0.5, test splits of 120 and 300, with the AVX-512 and AVX2
// kernels: 100 cases), and the release binary fine-tuning resnet50 at 224×224, batch
// 32, on 1,000 images from a folder (6,465 MiB). The estimate is from 17 % below to
// 17 % above every measurement (resnet50: +17 %; the AVX2 kernels measure 7-9 MB more
// for lenet5 and up to 23 MB more for cnn, which the plan does not know).
// CLITests/MemoryEstimateTests checks some of them.
import Foundation
import Jobs
import ModelZoo

public enum MemoryEstimate {
    /// The process before any stage: binary, Swift runtime, OpenBLAS and threads.
    static let processBytes = 43 << 20
    /// Copies of the trained parameters a training stage holds besides its input and
    /// output models: gradients, the optimizer's state (Adam: two moments) and the
    /// encoded checkpoint written to the cache.
    static let trainingWorkCopies = 4.0
    /// Bytes held per sample of a training batch, as a multiple of the float32 size
    /// of every layer's output (forward caches, masks, the backward pass's gradients).
    static let trainingActivationFactor = 0.78
    /// What training's convolutions hold whatever the batch size (their scratch, and
    /// what the allocator keeps of it): about this many samples' input columns of
    /// every convolution, but no more than `convolutionScratchLimit`: the scratch is
    /// per worker and reused layer to layer, so it does not grow with the network's
    /// depth (unbounded, this term alone put resnet50 at 224×224, whose columns are
    /// 83 MiB a sample, 1.8 GB over its measured peak).
    static let convolutionColumnSamples = 24.0
    static let convolutionScratchLimit = Double(64 << 20)
    /// Inference (evaluation, features) runs batches of up to 256 samples and holds
    /// about this many outputs of the largest layer per sample at once.
    static let inferenceBatch = 256.0
    static let inferenceLargestLayerFactor = 1.2

    /// What an architecture costs, from its shape analysis.
    struct ModelCost {
        var parameterBytes: Double
        /// Float32 bytes of every layer's output for one sample.
        var activationBytes: Double
        /// Float32 bytes of the largest layer output for one sample.
        var largestLayerBytes: Double
        /// Float32 bytes of the network's output (features) for one sample.
        var outputBytes: Double
        /// Float32 bytes of every convolution's input columns (im2col: C·k·k by
        /// OH·OW) for one sample.
        var convolutionColumnBytes: Double

        init(_ summary: ArchitectureSummary) {
            var all = 0, largest = 0, columns = 0
            for layer in summary.layers where layer.kind != "block" {
                all += layer.output.count * Self.keptOutputs(layer.kind)
                largest = max(largest, layer.output.count)
                // A convolution's weight is [out, in, kh, kw].
                if let w = layer.stateTensors.first(where: { $0.shape.count == 4 && !$0.isBuffer }) {
                    columns += w.shape[1] * w.shape[2] * w.shape[3] * layer.output.height * layer.output.width
                }
            }
            parameterBytes = Double(summary.parameters + summary.layers.flatMap(\.stateTensors).filter(\.isBuffer)
                .reduce(0) { $0 + $1.shape.reduce(1, *) }) * 4
            activationBytes = Double(all) * 4
            largestLayerBytes = Double(largest) * 4
            outputBytes = Double(summary.output.count) * 4
            convolutionColumnBytes = Double(columns) * 4
        }

        /// Tensors of its output's size a layer keeps for the backward pass: batch norm
        /// its normalized input too, max pooling its argmax, dropout its mask; flatten
        /// is a view. (Plain blocks are containers, not counted.)
        static func keptOutputs(_ kind: String) -> Int {
            switch kind {
            case "batchnorm", "maxpool", "dropout": 2
            case "flatten": 0
            default: 1
            }
        }

        /// Training at `batch` samples a step, and evaluating `validation` samples after
        /// each epoch (Trainer.fit: batches of the training batch size, at least 256).
        func training(batch: Double, validation: Double) -> Double {
            trainingWorkCopies * parameterBytes + min(convolutionColumnSamples * convolutionColumnBytes, convolutionScratchLimit)
                + trainingActivationFactor * batch * activationBytes
                + inference(samples: validation, batch: max(batch, inferenceBatch))
        }
        /// Inference over `samples` in batches of `batch`: as large as the smaller.
        func inference(samples: Double, batch: Double = inferenceBatch) -> Double {
            inferenceLargestLayerFactor * min(samples, batch) * largestLayerBytes
        }
    }

    /// Samples in each split of a data set.
    struct Splits {
        var train = 0.0, validation = 0.0, test = 0.0
        var total: Double { train + validation + test }
        var largest: Double { max(train, validation, test) }
    }

    /// Sets every stage's `memory` (bytes). `sourceSamples` gives the number of
    /// samples a data.load stage's source holds: its training part, and its separate
    /// test part (nil: the test split is held out of the training part).
    public static func annotate(_ plan: inout Plan, sourceSamples: (DataLoadWork) -> (train: Int, test: Int?)) {
        var index: [String: Int] = [:]
        index.reserveCapacity(plan.stages.count)
        for (i, s) in plan.stages.enumerated() { index[s.id] = i }
        var costs: [Architecture: ModelCost] = [:]
        func cost(_ a: Architecture) -> ModelCost? {
            if let known = costs[a] { return known }
            guard let summary = try? a.analyze() else { return nil }
            let c = ModelCost(summary)
            costs[a] = c
            return c
        }
        /// The model each stage produces or reads, by stage index.
        var model = [ModelCost?](repeating: nil, count: plan.stages.count)
        var retained = [Double](repeating: 0, count: plan.stages.count)
        var working = [Double](repeating: 0, count: plan.stages.count)
        var sourceBytes = [Double](repeating: 0, count: plan.stages.count)
        /// The splits of the data each stage reads (through its dependencies).
        var splits = [Splits](repeating: Splits(), count: plan.stages.count)

        for (i, stage) in plan.stages.enumerated() {
            let deps = stage.deps.compactMap { index[$0] }
            let input = deps.first.flatMap { model[$0] }
            splits[i] = deps.map { splits[$0] }.max { $0.total < $1.total } ?? Splits()
            let data = splits[i]
            switch stage.work {
            case .dataDecode(let w):
                // The preprocessed bytes are kept; a few full-size images (a 12-megapixel
                // photo on each of up to four threads) are decoded at a time.
                retained[i] = Double(w.images.count * w.size * w.size * 3)
                working[i] = 4 * 4000 * 3000 * 3
                // Its training and test parts (when it has a test part).
                let test = Double(w.images.filter(\.test).count)
                splits[i] = Splits(train: Double(w.images.count) - test, test: test)
            case .dataLoad(let w):
                let perSample = Double(w.inputShape.count) * 4
                var source = sourceSamples(w)
                if case .images = w.source, let decoded = deps.first.map({ splits[$0] }) {
                    source = (Int(decoded.train), decoded.test > 0 || w.testFraction == 0 ? Int(decoded.test) : nil)
                }
                splits[i] = Self.splits(w, train: source.train, test: source.test)
                let all = Double(source.train + (source.test ?? 0))
                // The source stays in the process's source cache; the selection is the output.
                retained[i] = (all + min(all, splits[i].total)) * perSample
                sourceBytes[i] = all * perSample
            case .dataNormalize:
                retained[i] = deps.first.map { retained[$0] - Double(sourceBytes[$0]) } ?? 0
            case .modelInit(let w):
                model[i] = cost(w.architecture)
                retained[i] = model[i]?.parameterBytes ?? 0
                if case .file(let f) = w.weights { working[i] = Double(fileSize(f.path)) }
            case .features(let w):
                model[i] = cost(w.prefix)
                let c = model[i]
                // Every split, each in batches of 256.
                retained[i] = data.total * (c?.outputBytes ?? 0)
                working[i] = (c?.parameterBytes ?? 0) + (c?.inference(samples: data.largest) ?? 0)
            case .train(let w as any TrainsModel), .prune(let w as any TrainsModel), .quantize(let w as any TrainsModel),
                 .share(let w as any TrainsModel):
                // Training the model it reads (fine-tuning, calibration): a new copy of it, and its training state.
                model[i] = input
                retained[i] = input?.parameterBytes ?? 0
                working[i] = input?.training(batch: min(Double(w.training.batchSize), data.train), validation: data.validation) ?? 0
            case .encode:
                model[i] = input
                // The decoded model, and the file's streams while it is written and read.
                retained[i] = input?.parameterBytes ?? 0
                working[i] = 2 * (input?.parameterBytes ?? 0)
            case .distill(let w):
                model[i] = cost(w.student)
                retained[i] = model[i]?.parameterBytes ?? 0
                // The student's training, and the teacher's predictions on each training batch.
                let batch = min(Double(w.training.batchSize), data.train)
                working[i] = (model[i]?.training(batch: batch, validation: data.validation) ?? 0)
                    + (input?.inference(samples: batch) ?? 0)
            case .fisher(let w):
                model[i] = input
                retained[i] = input?.parameterBytes ?? 0
                working[i] = input?.training(batch: min(Double(min(w.samples, 128)), data.train), validation: 0) ?? 0
            case .ensemble:
                model[i] = input
                // Each member's predictions on the test split (and on the validation split, for weights).
                working[i] = deps.compactMap { model[$0]?.inference(samples: max(data.test, data.validation)) }.max() ?? 0
            case .evaluate:
                model[i] = input
                working[i] = input?.inference(samples: data.test) ?? 0
            case .report:
                break
            }
        }
        // A stage's estimate: the process, everything its ancestors and itself keep,
        // and its own working memory.
        // (A stage has a handful of ancestors: a list is quicker than a set here.)
        var seen: [Int] = [], stack: [Int] = []
        for i in plan.stages.indices {
            seen.removeAll(keepingCapacity: true)
            stack.removeAll(keepingCapacity: true)
            seen.append(i); stack.append(i)
            var kept = 0.0
            while let j = stack.popLast() {
                kept += retained[j]
                for d in plan.stages[j].deps {
                    if let k = index[d], !seen.contains(k) { seen.append(k); stack.append(k) }
                }
            }
            plan.stages[i].memory = Int(Double(processBytes) + kept + working[i])
        }
    }

    /// The splits a data.load makes (as DataStages.load does) of a source with `train`
    /// samples and a separate test part of `test` (nil: `testFraction` of `train` is
    /// held out). Only Fashion-MNIST's classes (ten, balanced) are known before the
    /// data is read: a csv or npy source's class selection is not counted.
    static func splits(_ w: DataLoadWork, train pool: Int, test separate: Int?) -> Splits {
        var train = Double(pool), test = Double(separate ?? 0)
        if separate == nil {
            test = (train * w.testFraction).rounded()
            train -= test
        }
        var classes = w.classes.map { Double($0.count) }
        if w.source == .fashionMNIST {
            let kept = classes ?? 10
            train *= kept / 10; test *= kept / 10
            classes = kept
        }
        if let classes {
            if let n = w.trainPerClass { train = min(train, classes * Double(n)) }
            if let n = w.testPerClass { test = min(test, classes * Double(n)) }
        }
        let validation = (train * w.validation).rounded()
        return Splits(train: train - validation, validation: validation, test: test)
    }

    static func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? NSNumber)?.intValue ?? 0
    }

    /// "245 MB", "40.3 GB" (powers of 1024, as `free -h` and the machine's limits are).
    public static func format(_ bytes: Int) -> String {
        let mib = Double(bytes) / 1_048_576
        if mib >= 1024 {
            let tenths = Int((mib / 1024 * 10).rounded())
            return "\(tenths / 10).\(tenths % 10) GB"
        }
        return "\(Int(mib.rounded())) MB"
    }
}

extension MemoryEstimate {
    /// The stage with the highest estimate.
    public static func peak(_ plan: Plan) -> Stage? { plan.stages.max { $0.memory < $1.memory } }

    /// Why `plan` cannot run within `limit` bytes (naming the stage and its estimate),
    /// or nil when every stage fits. `limitSource` says where the limit comes from.
    public static func problem(_ plan: Plan, limit: Int, limitSource: String) -> String? {
        guard let peak = peak(plan), peak.memory > limit else { return nil }
        let over = plan.stages.filter { $0.memory > limit }.count
        return "stage \(peak.id) (\(peak.summary)) needs an estimated \(format(peak.memory)) of memory, more than \(limitSource) (\(format(limit)))"
            + (over > 1 ? "; \(over - 1) other stage\(over == 2 ? "" : "s") too" : "")
    }

    /// Memory this process may still use: the kernel's MemAvailable, and the cgroup's
    /// limit (a container's) when lower. Nil when neither can be read.
    public static func available() -> Int? {
        var best: Int?
        if let info = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
           let line = info.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
           let kb = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) {
            best = kb * 1024
        }
        if let text = try? String(contentsOfFile: "/sys/fs/cgroup/memory.max", encoding: .utf8),
           let max = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            let used = (try? String(contentsOfFile: "/sys/fs/cgroup/memory.current", encoding: .utf8))
                .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
            best = min(best ?? Int.max, max - used)
        }
        return best
    }

    /// Parses a size: `8G`, `512M`, `1.5GB`, `2048MiB`, or plain bytes. Nil when not one.
    public static func parseSize(_ text: String) -> Int? {
        let t = text.trimmingCharacters(in: .whitespaces).uppercased()
        let k = 1024.0, m = k * k, g = m * k, tb = g * k
        let units: [(String, Double)] = [("TIB", tb), ("GIB", g), ("MIB", m), ("KIB", k), ("TB", tb), ("GB", g), ("MB", m), ("KB", k),
                                         ("T", tb), ("G", g), ("M", m), ("K", k), ("B", 1)]
        var number = Substring(t), scale = 1.0
        for (suffix, factor) in units where t.hasSuffix(suffix) {
            number = t.dropLast(suffix.count); scale = factor; break
        }
        guard let value = Double(number.trimmingCharacters(in: .whitespaces)), value.isFinite, value > 0,
              value * scale < 9e18 else { return nil }
        return Int(value * scale)
    }
}

/// Work that trains (or fine-tunes) the model it reads, with these settings.
protocol TrainsModel { var training: TrainingSettings { get } }
extension TrainWork: TrainsModel {}
extension PruneWork: TrainsModel {}
extension QuantizeWork: TrainsModel {}
extension ShareWork: TrainsModel {}
