// The catalog: every architecture tlc can build by name, its options and
// their defaults. Specs say `backbone: {arch: resnet-20, options: {…}}`.

/// A value given for an architecture option (decoded by the front end).
public enum OptionValue: Hashable, Sendable, CustomStringConvertible {
    case int(Int)
    case double(Double)
    case bool(Bool)
    case string(String)
    case list([OptionValue])

    public var description: String {
        switch self {
        case .int(let v): "\(v)"
        case .double(let v): "\(v)"
        case .bool(let v): "\(v)"
        case .string(let v): v
        case .list(let v): "[" + v.map(\.description).joined(separator: ", ") + "]"
        }
    }
    var intList: [Int]? {
        guard case .list(let items) = self else { return nil }
        var out: [Int] = []
        for item in items { guard case .int(let v) = item else { return nil }; out.append(v) }
        return out
    }
}

/// What an option accepts (for validation, docs and the JSON schema).
public struct OptionInfo: Hashable, Sendable {
    public enum ValueType: String, Hashable, Sendable { case int, bool, double, intList = "list of ints", intListList = "list of lists of ints"
        case stringList = "list of strings", stringListList = "list of lists of strings" }
    public var name: String
    public var type: ValueType
    public var summary: String
    public var defaultValue: String
}

/// One catalog entry.
public struct ArchitectureInfo: Hashable, Sendable {
    public var name: String
    public var family: String
    public var summary: String
    public var options: [OptionInfo]
    /// The input `tlc zoo` shows it with (torchvision's: 3×224×224).
    public var defaultInput = FeatureShape(channels: 1, height: 28, width: 28)
}

/// An architecture request that cannot be met.
public enum ZooError: Error, Hashable, Sendable, CustomStringConvertible {
    case unknownArchitecture(String, suggestion: String?)
    case unknownOption(arch: String, option: String, known: [String])
    case badOption(arch: String, option: String, message: String)
    /// `keepClassifier` on an architecture without a classifier of its own, or with hidden head layers.
    case classifier(arch: String, message: String)

    public var description: String {
        switch self {
        case .unknownArchitecture(let n, let s):
            return "unknown architecture '\(n)'" + (s.map { "; did you mean '\($0)'?" } ?? "")
        case .unknownOption(let a, let o, let known):
            return known.isEmpty ? "architecture '\(a)' takes no options (got '\(o)')"
                : "architecture '\(a)' has no option '\(o)' (options: \(known.joined(separator: ", ")))"
        case .badOption(let a, let o, let m): return "option '\(o)' of '\(a)': \(m)"
        case .classifier(_, let m): return m
        }
    }
}

public enum Zoo {
    /// Every architecture name, in catalog order.
    public static var names: [String] { catalog.map(\.name) }

    public static let catalog: [ArchitectureInfo] = [
        ArchitectureInfo(name: "mlp", family: "mlp", summary: "multilayer perceptron: flatten, then dense+relu per width",
                         options: [OptionInfo(name: "widths", type: .intList, summary: "hidden layer widths", defaultValue: "[256, 128]")]),
        ArchitectureInfo(name: "lenet5", family: "lenet", summary: "LeNet-5: conv 6@5×5 pad 2, pool, conv 16@5×5, pool, fc 120, fc 84",
                         options: []),
        ArchitectureInfo(name: "cnn", family: "vgg", summary: "Fashion-MNIST CNN: two blocks of two 3×3 convs (32, 64) with pooling, fc 128",
                         options: []),
        ArchitectureInfo(name: "vgg", family: "vgg", summary: "VGG-style: blocks of 3×3 conv+relu (optional batchnorm) then 2×2 max pool; fc layers",
                         options: [OptionInfo(name: "blocks", type: .intListList, summary: "filters of each conv, per block", defaultValue: "[[32, 32], [64, 64], [128, 128]]"),
                                   OptionInfo(name: "batchnorm", type: .bool, summary: "batchnorm after each conv", defaultValue: "true"),
                                   OptionInfo(name: "fc", type: .intList, summary: "widths of the fully connected layers", defaultValue: "[256]"),
                                   OptionInfo(name: "dropout", type: .double, summary: "dropout after each fc layer", defaultValue: "0.0")]),
        ArchitectureInfo(name: "vgg-mini", family: "vgg", summary: "vgg preset: blocks [[32, 32], [64, 64], [128, 128]] with batchnorm, fc 256",
                         options: []),
        ArchitectureInfo(name: "resnet", family: "resnet", summary: "CIFAR-style ResNet (6n+2 layers): 3 stages of basic blocks, widths 16/32/64",
                         options: [OptionInfo(name: "depth", type: .int, summary: "6n+2 layers", defaultValue: "20"),
                                   OptionInfo(name: "width", type: .int, summary: "filters of the first stage", defaultValue: "16")]),
        ArchitectureInfo(name: "resnet-8", family: "resnet", summary: "resnet preset: depth 8 (one basic block per stage)", options: []),
        ArchitectureInfo(name: "resnet-14", family: "resnet", summary: "resnet preset: depth 14", options: []),
        ArchitectureInfo(name: "resnet-20", family: "resnet", summary: "resnet preset: depth 20 (three basic blocks per stage)", options: []),
        ArchitectureInfo(name: "alexnet-mini", family: "alexnet", summary: "AlexNet-style: five convs (5×5 then 3×3) with overlapping pooling, two fc layers with dropout",
                         options: []),
        ArchitectureInfo(name: "inception-mini", family: "inception", summary: "Inception-style: a stem and two inception modules (1×1, 3×3, 5×5 and pool branches)",
                         options: []),
    ] + dartsCatalog + torchvisionCatalog

    public static func info(_ name: String) -> ArchitectureInfo? { catalog.first { $0.name == name } }

    /// Builds an architecture by name. The head is `head` (hidden layers) followed by
    /// `dense(classes)` named `output`, all inside a block named `head`. With
    /// `keepClassifier` (torchvision architectures only, no hidden layers) the head is
    /// instead the architecture's own final Linear under its torchvision name (`fc`,
    /// `classifier.6`), with `classes` outputs.
    public static func architecture(_ name: String, options: [String: OptionValue] = [:],
                                    input: FeatureShape = FeatureShape(channels: 1, height: 28, width: 28),
                                    classes: Int, head: [LayerDescription]? = nil,
                                    keepClassifier: Bool = false) throws(ZooError) -> Architecture {
        guard let info = info(name) else {
            throw .unknownArchitecture(name, suggestion: closest(name, among: names))
        }
        for key in options.keys.sorted() where !info.options.contains(where: { $0.name == key }) {
            throw .unknownOption(arch: name, option: key, known: info.options.map(\.name))
        }
        if isTorchvision(name) {
            let (backbone, classifier) = try torchvision(name, options: options)
            if keepClassifier {
                guard (head ?? []).isEmpty else {
                    throw .classifier(arch: name, message: "a kept classifier is the output layer; hidden head layers cannot go before it")
                }
                return Architecture(name: name, input: input, backbone: backbone, head: [.dense(name: classifier, units: classes)])
            }
            return Architecture(name: name, input: input, backbone: backbone,
                                head: [.block(name: "head", layers: (head ?? []) + [.dense(name: "output", units: classes)])])
        }
        if keepClassifier {
            throw .classifier(arch: name, message: "architecture '\(name)' has no classifier of its own to keep; only torchvision's architectures (\(torchvisionNames.joined(separator: ", "))) do")
        }
        let backbone: [LayerDescription]
        switch name {
        case "mlp":
            let widths = try intList(options["widths"], default: [256, 128], arch: name, option: "widths")
            backbone = mlp(widths)
        case "lenet5": backbone = lenet5()
        case "cnn": backbone = vgg(blocks: [[32, 32], [64, 64]], batchnorm: false, fc: [128], dropout: 0)
        case "vgg":
            let blocks: [[Int]]
            if let v = options["blocks"] {
                guard case .list(let items) = v, !items.isEmpty else {
                    throw .badOption(arch: name, option: "blocks", message: "expected a non-empty list of lists of filter counts")
                }
                var out: [[Int]] = []
                for item in items {
                    guard let l = item.intList, !l.isEmpty, l.allSatisfy({ $0 >= 1 }) else {
                        throw .badOption(arch: name, option: "blocks", message: "each block is a non-empty list of positive filter counts, e.g. [32, 32]")
                    }
                    out.append(l)
                }
                blocks = out
            } else { blocks = [[32, 32], [64, 64], [128, 128]] }
            var bn = true
            if let v = options["batchnorm"] {
                guard case .bool(let b) = v else { throw .badOption(arch: name, option: "batchnorm", message: "expected true or false") }
                bn = b
            }
            let fc = try intList(options["fc"], default: [256], arch: name, option: "fc", allowEmpty: true)
            var dropout = 0.0
            if let v = options["dropout"] {
                switch v {
                case .double(let d): dropout = d
                case .int(let i): dropout = Double(i)
                default: throw .badOption(arch: name, option: "dropout", message: "expected a number in [0, 1)")
                }
                guard dropout >= 0, dropout < 1 else { throw .badOption(arch: name, option: "dropout", message: "expected a number in [0, 1)") }
            }
            backbone = vgg(blocks: blocks, batchnorm: bn, fc: fc, dropout: dropout)
        case "vgg-mini": backbone = vgg(blocks: [[32, 32], [64, 64], [128, 128]], batchnorm: true, fc: [256], dropout: 0)
        case "resnet", "resnet-8", "resnet-14", "resnet-20":
            var depth = name == "resnet" ? 20 : Int(name.dropFirst("resnet-".count))!
            var width = 16
            if let v = options["depth"] {
                guard case .int(let d) = v, d >= 8, (d - 2) % 6 == 0 else {
                    throw .badOption(arch: name, option: "depth", message: "expected 6n+2 with n ≥ 1 (8, 14, 20, 32, …)")
                }
                depth = d
            }
            if let v = options["width"] {
                guard case .int(let w) = v, w >= 1, w <= 1024 else { throw .badOption(arch: name, option: "width", message: "expected an integer in 1…1024") }
                width = w
            }
            backbone = resnet(blocksPerStage: (depth - 2) / 6, width: width)
        case "alexnet-mini": backbone = alexnetMini()
        case "inception-mini": backbone = inceptionMini()
        case "darts_supernet", "darts_cell_net": backbone = try darts(name, options: options, input: input)
        default:
            throw .unknownArchitecture(name, suggestion: nil)
        }
        let hidden = head ?? []
        return Architecture(name: name, input: input, backbone: backbone,
                            head: [.block(name: "head", layers: hidden + [.dense(name: "output", units: classes)])])
    }

    private static func intList(_ value: OptionValue?, default d: [Int], arch: String, option: String,
                                allowEmpty: Bool = false) throws(ZooError) -> [Int] {
        guard let value else { return d }
        guard let l = value.intList, allowEmpty || !l.isEmpty, l.allSatisfy({ $0 >= 1 }) else {
            throw .badOption(arch: arch, option: option, message: "expected a list of positive integers, e.g. \(d)")
        }
        return l
    }

    // MARK: builders

    static func mlp(_ widths: [Int]) -> [LayerDescription] {
        var layers: [LayerDescription] = [.flatten(name: "flatten")]
        for (i, w) in widths.enumerated() {
            layers += [.dense(name: "fc\(i + 1)", units: w), .relu(name: "relu\(i + 1)")]
        }
        return layers
    }

    static func lenet5() -> [LayerDescription] {
        [.conv2d(name: "conv1", filters: 6, kernel: 5, stride: 1, padding: 2), .relu(name: "relu1"),
         .maxPool(name: "pool1", size: 2, stride: 2, padding: 0),
         .conv2d(name: "conv2", filters: 16, kernel: 5, stride: 1, padding: 0), .relu(name: "relu2"),
         .maxPool(name: "pool2", size: 2, stride: 2, padding: 0),
         .flatten(name: "flatten"),
         .dense(name: "fc1", units: 120), .relu(name: "relu3"),
         .dense(name: "fc2", units: 84), .relu(name: "relu4")]
    }

    static func vgg(blocks: [[Int]], batchnorm: Bool, fc: [Int], dropout: Double) -> [LayerDescription] {
        var layers: [LayerDescription] = []
        for (b, filters) in blocks.enumerated() {
            var inner: [LayerDescription] = []
            for (i, f) in filters.enumerated() {
                inner.append(.conv2d(name: "conv\(i + 1)", filters: f, kernel: 3, stride: 1, padding: 1))
                if batchnorm { inner.append(.batchNorm(name: "bn\(i + 1)")) }
                inner.append(.relu(name: "relu\(i + 1)"))
            }
            inner.append(.maxPool(name: "pool", size: 2, stride: 2, padding: 0))
            layers.append(.block(name: "block\(b + 1)", layers: inner))
        }
        layers.append(.flatten(name: "flatten"))
        for (i, w) in fc.enumerated() {
            layers += [.dense(name: "fc\(i + 1)", units: w), .relu(name: "relu\(i + 1)")]
            if dropout > 0 { layers.append(.dropout(name: "dropout\(i + 1)", rate: dropout)) }
        }
        return layers
    }

    static func resnet(blocksPerStage n: Int, width: Int) -> [LayerDescription] {
        var layers: [LayerDescription] = [
            .block(name: "stem", layers: [.conv2d(name: "conv", filters: width, kernel: 3, stride: 1, padding: 1),
                                          .batchNorm(name: "bn"), .relu(name: "relu")]),
        ]
        var channels = width
        for stage in 1...3 {
            let out = width << (stage - 1)
            var inner: [LayerDescription] = []
            for b in 1...n {
                let stride = (stage > 1 && b == 1) ? 2 : 1
                let body: [LayerDescription] = [
                    .conv2d(name: "conv1", filters: out, kernel: 3, stride: stride, padding: 1), .batchNorm(name: "bn1"), .relu(name: "relu1"),
                    .conv2d(name: "conv2", filters: out, kernel: 3, stride: 1, padding: 1), .batchNorm(name: "bn2"),
                ]
                let shortcut: [LayerDescription] = (stride != 1 || channels != out)
                    ? [.conv2d(name: "conv", filters: out, kernel: 1, stride: stride, padding: 0), .batchNorm(name: "bn")] : []
                inner += [.residual(name: "block\(b)", body: body, shortcut: shortcut), .relu(name: "relu\(b)")]
                channels = out
            }
            layers.append(.block(name: "stage\(stage)", layers: inner))
        }
        layers.append(.globalAvgPool(name: "pool"))
        return layers
    }

    static func alexnetMini() -> [LayerDescription] {
        [.block(name: "features", layers: [
            .conv2d(name: "conv1", filters: 32, kernel: 5, stride: 1, padding: 2), .relu(name: "relu1"),
            .maxPool(name: "pool1", size: 3, stride: 2, padding: 0),
            .conv2d(name: "conv2", filters: 64, kernel: 5, stride: 1, padding: 2), .relu(name: "relu2"),
            .maxPool(name: "pool2", size: 3, stride: 2, padding: 0),
            .conv2d(name: "conv3", filters: 96, kernel: 3, stride: 1, padding: 1), .relu(name: "relu3"),
            .conv2d(name: "conv4", filters: 96, kernel: 3, stride: 1, padding: 1), .relu(name: "relu4"),
            .conv2d(name: "conv5", filters: 64, kernel: 3, stride: 1, padding: 1), .relu(name: "relu5"),
            .maxPool(name: "pool5", size: 3, stride: 2, padding: 0),
         ]),
         .flatten(name: "flatten"),
         .block(name: "classifier", layers: [
            .dropout(name: "dropout1", rate: 0.5), .dense(name: "fc1", units: 256), .relu(name: "relu1"),
            .dropout(name: "dropout2", rate: 0.5), .dense(name: "fc2", units: 128), .relu(name: "relu2"),
         ])]
    }

    static func inceptionModule(_ name: String, b1: Int, b3: (Int, Int), b5: (Int, Int), pool: Int) -> LayerDescription {
        .concat(name: name, branches: [
            [.conv2d(name: "conv", filters: b1, kernel: 1, stride: 1, padding: 0), .relu(name: "relu")],
            [.conv2d(name: "reduce", filters: b3.0, kernel: 1, stride: 1, padding: 0), .relu(name: "relu1"),
             .conv2d(name: "conv", filters: b3.1, kernel: 3, stride: 1, padding: 1), .relu(name: "relu2")],
            [.conv2d(name: "reduce", filters: b5.0, kernel: 1, stride: 1, padding: 0), .relu(name: "relu1"),
             .conv2d(name: "conv", filters: b5.1, kernel: 5, stride: 1, padding: 2), .relu(name: "relu2")],
            [.maxPool(name: "pool", size: 3, stride: 1, padding: 1),
             .conv2d(name: "conv", filters: pool, kernel: 1, stride: 1, padding: 0), .relu(name: "relu")],
        ])
    }

    static func inceptionMini() -> [LayerDescription] {
        [.block(name: "stem", layers: [.conv2d(name: "conv", filters: 32, kernel: 3, stride: 1, padding: 1),
                                       .batchNorm(name: "bn"), .relu(name: "relu"),
                                       .maxPool(name: "pool", size: 2, stride: 2, padding: 0)]),
         inceptionModule("inception1", b1: 16, b3: (16, 24), b5: (8, 8), pool: 8),
         .maxPool(name: "pool1", size: 2, stride: 2, padding: 0),
         inceptionModule("inception2", b1: 32, b3: (24, 48), b5: (8, 16), pool: 16),
         .globalAvgPool(name: "pool")]
    }

    /// Closest name by edit distance, if any is close.
    static func closest(_ name: String, among candidates: [String]) -> String? {
        var best: (String, Int)?
        for c in candidates {
            let d = editDistance(name.lowercased(), c.lowercased())
            if d <= max(1, name.count / 3), best == nil || d < best!.1 { best = (c, d) }
        }
        return best?.0
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prev = Array(0...b.count), cur = Array(repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            cur[0] = i
            for j in 1...b.count {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&prev, &cur)
        }
        return prev[b.count]
    }
}
