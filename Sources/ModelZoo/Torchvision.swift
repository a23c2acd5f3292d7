// torchvision's architectures, layer for layer: resnet18/34/50, vgg11_bn, vgg16,
// vgg16_bn, alexnet, mobilenet_v2, efficientnet_b0 and googlenet (without the
// auxiliary classifiers). Layer paths are torchvision's module paths, so checkpoint
// tensor names and shapes are those of `torchvision.models.NAME().state_dict()`
// (`layer1.0.conv1.weight`, `features.10.weight`, `features.1.0.block.1.fc1.bias`).
// Hyper-parameters are torchvision's: strides, paddings, groups, bias-free convs
// before batch norm, batch-norm epsilon (1e-5; googlenet 1e-3) and momentum 0.1,
// dropout rates, ceil-mode pooling, adaptive average pooling, stochastic depth.
//
// The backbone is everything but the final Linear (`fc`, or the last module of
// `classifier`); the classifier is either tlc's new head or, with `keepClassifier`,
// that Linear under its torchvision name.

extension Zoo {
    /// The torchvision architectures, in catalog order.
    public static let torchvisionNames = ["resnet18", "resnet34", "resnet50", "vgg11_bn", "vgg16", "vgg16_bn",
                                          "alexnet", "mobilenet_v2", "efficientnet_b0", "googlenet"]

    /// Whether `name` is one of torchvision's architectures (which have a classifier to keep).
    public static func isTorchvision(_ name: String) -> Bool { torchvisionNames.contains(name) }

    /// The input torchvision's models are trained on.
    public static let imageNetInput = FeatureShape(channels: 3, height: 224, width: 224)

    static let torchvisionCatalog: [ArchitectureInfo] = [
        ArchitectureInfo(name: "resnet18", family: "torchvision", summary: "torchvision ResNet-18: basic blocks [2, 2, 2, 2], 512 features", options: [],
                         defaultInput: imageNetInput),
        ArchitectureInfo(name: "resnet34", family: "torchvision", summary: "torchvision ResNet-34: basic blocks [3, 4, 6, 3], 512 features", options: [],
                         defaultInput: imageNetInput),
        ArchitectureInfo(name: "resnet50", family: "torchvision", summary: "torchvision ResNet-50 (v1.5): bottlenecks [3, 4, 6, 3], 2048 features", options: [],
                         defaultInput: imageNetInput),
        ArchitectureInfo(name: "vgg11_bn", family: "torchvision", summary: "torchvision VGG-11 with batch norm; classifier 4096, 4096", options: [],
                         defaultInput: imageNetInput),
        ArchitectureInfo(name: "vgg16", family: "torchvision", summary: "torchvision VGG-16; classifier 4096, 4096", options: [],
                         defaultInput: imageNetInput),
        ArchitectureInfo(name: "vgg16_bn", family: "torchvision", summary: "torchvision VGG-16 with batch norm; classifier 4096, 4096", options: [],
                         defaultInput: imageNetInput),
        ArchitectureInfo(name: "alexnet", family: "torchvision", summary: "torchvision AlexNet (one weird trick); classifier 4096, 4096", options: [],
                         defaultInput: imageNetInput),
        ArchitectureInfo(name: "mobilenet_v2", family: "torchvision", summary: "torchvision MobileNetV2: inverted residuals, depthwise convs, ReLU6; 1280 features",
                         options: [OptionInfo(name: "width_mult", type: .double,
                                              summary: "torchvision's width_mult: every layer's channels × width_mult rounded to a multiple of 8 (the last 1280 only grows); in (0, 4]; torchvision's pretrained weights are for 1.0",
                                              defaultValue: "1.0")],
                         defaultInput: imageNetInput),
        ArchitectureInfo(name: "efficientnet_b0", family: "torchvision",
                         summary: "torchvision EfficientNet-B0: MBConv with squeeze-and-excitation, SiLU, stochastic depth 0.2; 1280 features",
                         options: [], defaultInput: imageNetInput),
        ArchitectureInfo(name: "googlenet", family: "torchvision", summary: "torchvision GoogLeNet (Inception v1) without auxiliary classifiers; 1024 features",
                         options: [OptionInfo(name: "transform_input", type: .bool,
                                              summary: "re-normalise ImageNet-normalised input as the IMAGENET1K_V1 weights expect (torchvision turns it on when it loads them)",
                                              defaultValue: "false")],
                         defaultInput: imageNetInput),
    ]

    /// A torchvision backbone and its final Linear's path.
    static func torchvision(_ name: String, options: [String: OptionValue]) throws(ZooError) -> (backbone: [LayerDescription], classifier: String) {
        switch name {
        case "resnet18": return (tvResNet([2, 2, 2, 2], bottleneck: false), "fc")
        case "resnet34": return (tvResNet([3, 4, 6, 3], bottleneck: false), "fc")
        case "resnet50": return (tvResNet([3, 4, 6, 3], bottleneck: true), "fc")
        case "vgg11_bn": return (tvVGG([64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0], batchnorm: true), "classifier.6")
        case "vgg16": return (tvVGG(vgg16Config, batchnorm: false), "classifier.6")
        case "vgg16_bn": return (tvVGG(vgg16Config, batchnorm: true), "classifier.6")
        case "alexnet": return (tvAlexNet(), "classifier.6")
        case "mobilenet_v2":
            var widthMult = 1.0
            if let v = options["width_mult"] {
                switch v {
                case .double(let d): widthMult = d
                case .int(let i): widthMult = Double(i)
                default: throw .badOption(arch: name, option: "width_mult", message: "expected a number in (0, 4], e.g. 0.5, 0.75 or 1.4")
                }
                guard widthMult > 0, widthMult <= 4 else {
                    throw .badOption(arch: name, option: "width_mult", message: "expected a number in (0, 4], e.g. 0.5, 0.75 or 1.4")
                }
            }
            return (tvMobileNetV2(widthMult: widthMult), "classifier.1")
        case "efficientnet_b0": return (tvEfficientNetB0(), "classifier.1")
        case "googlenet":
            var transform = false
            if let v = options["transform_input"] {
                guard case .bool(let b) = v else { throw .badOption(arch: name, option: "transform_input", message: "expected true or false") }
                transform = b
            }
            return (tvGoogLeNet(transformInput: transform), "fc")
        default: throw .unknownArchitecture(name, suggestion: nil)
        }
    }

    private static let vgg16Config = [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0]

    /// A convolution without bias (it feeds a batch norm), `(k − 1) / 2` padding unless given.
    private static func conv(_ name: String, _ filters: Int, _ k: Int, stride: Int = 1, padding: Int? = nil,
                             groups: Int = 1, bias: Bool = false) -> LayerDescription {
        .conv(name: name, filters: filters, kernel: k, stride: stride, padding: padding ?? (k - 1) / 2, groups: groups, bias: bias)
    }

    // MARK: ResNet

    static func tvResNet(_ blocks: [Int], bottleneck: Bool) -> [LayerDescription] {
        var layers: [LayerDescription] = [conv("conv1", 64, 7, stride: 2, padding: 3), .batchNorm(name: "bn1"), .relu(name: "relu"),
                                          .maxPool(name: "maxpool", size: 3, stride: 2, padding: 1)]
        let expansion = bottleneck ? 4 : 1
        var inplanes = 64
        for (stage, count) in blocks.enumerated() {
            let planes = 64 << stage
            var inner: [LayerDescription] = []
            for b in 0..<count {
                let stride = (stage > 0 && b == 0) ? 2 : 1
                let body: [LayerDescription] = bottleneck
                    ? [conv("conv1", planes, 1), .batchNorm(name: "bn1"), .relu(name: "relu1"),
                       conv("conv2", planes, 3, stride: stride), .batchNorm(name: "bn2"), .relu(name: "relu2"),
                       conv("conv3", planes * 4, 1), .batchNorm(name: "bn3")]
                    : [conv("conv1", planes, 3, stride: stride), .batchNorm(name: "bn1"), .relu(name: "relu1"),
                       conv("conv2", planes, 3), .batchNorm(name: "bn2")]
                let shortcut: [LayerDescription] = (stride != 1 || inplanes != planes * expansion)
                    ? [.block(name: "downsample", layers: [conv("0", planes * expansion, 1, stride: stride), .batchNorm(name: "1")])] : []
                inner.append(.sum(name: "\(b)", body: body, shortcut: shortcut, after: [.relu(name: "relu")]))
                inplanes = planes * expansion
            }
            layers.append(.block(name: "layer\(stage + 1)", layers: inner))
        }
        return layers + [.adaptiveAvgPool(name: "avgpool", height: 1, width: 1), .flatten(name: "flatten")]
    }

    // MARK: VGG and AlexNet

    /// `config`: filters of each 3×3 conv, 0 for a 2×2 max pool.
    static func tvVGG(_ config: [Int], batchnorm: Bool) -> [LayerDescription] {
        var features: [LayerDescription] = []
        for v in config {
            let i = features.count
            if v == 0 { features.append(.maxPool(name: "\(i)", size: 2, stride: 2, padding: 0)); continue }
            features.append(.conv2d(name: "\(i)", filters: v, kernel: 3, stride: 1, padding: 1))
            if batchnorm { features.append(.batchNorm(name: "\(i + 1)")) }
            features.append(.relu(name: "\(features.count)"))
        }
        return [.block(name: "features", layers: features), .adaptiveAvgPool(name: "avgpool", height: 7, width: 7), .flatten(name: "flatten"),
                .block(name: "classifier", layers: [.dense(name: "0", units: 4096), .relu(name: "1"), .dropout(name: "2", rate: 0.5),
                                                    .dense(name: "3", units: 4096), .relu(name: "4"), .dropout(name: "5", rate: 0.5)])]
    }

    static func tvAlexNet() -> [LayerDescription] {
        [.block(name: "features", layers: [
            .conv2d(name: "0", filters: 64, kernel: 11, stride: 4, padding: 2), .relu(name: "1"), .maxPool(name: "2", size: 3, stride: 2, padding: 0),
            .conv2d(name: "3", filters: 192, kernel: 5, stride: 1, padding: 2), .relu(name: "4"), .maxPool(name: "5", size: 3, stride: 2, padding: 0),
            .conv2d(name: "6", filters: 384, kernel: 3, stride: 1, padding: 1), .relu(name: "7"),
            .conv2d(name: "8", filters: 256, kernel: 3, stride: 1, padding: 1), .relu(name: "9"),
            .conv2d(name: "10", filters: 256, kernel: 3, stride: 1, padding: 1), .relu(name: "11"),
            .maxPool(name: "12", size: 3, stride: 2, padding: 0),
         ]),
         .adaptiveAvgPool(name: "avgpool", height: 6, width: 6), .flatten(name: "flatten"),
         .block(name: "classifier", layers: [.dropout(name: "0", rate: 0.5), .dense(name: "1", units: 4096), .relu(name: "2"),
                                             .dropout(name: "3", rate: 0.5), .dense(name: "4", units: 4096), .relu(name: "5")])]
    }

    // MARK: MobileNetV2 and EfficientNet-B0

    /// torchvision's `_make_divisible(v, 8)`.
    static func makeDivisible(_ v: Double, _ divisor: Int = 8) -> Int {
        var n = max(divisor, Int(v + Double(divisor) / 2) / divisor * divisor)
        if Double(n) < 0.9 * v { n += divisor }
        return n
    }

    /// Conv2dNormActivation: `0` conv (no bias), `1` batch norm, `2` the activation.
    private static func convNormActivation(_ name: String, _ filters: Int, _ k: Int, stride: Int = 1, groups: Int = 1,
                                           activation: ((String) -> LayerDescription)?) -> LayerDescription {
        var layers = [conv("0", filters, k, stride: stride, groups: groups), .batchNorm(name: "1")]
        if let activation { layers.append(activation("2")) }
        return .block(name: name, layers: layers)
    }

    /// torchvision's `mobilenet_v2(width_mult:)` (round_nearest 8): every channel count
    /// c becomes `_make_divisible(c · width_mult, 8)`, the last 1280 only when it grows.
    static func tvMobileNetV2(widthMult: Double = 1) -> [LayerDescription] {
        let relu6: (String) -> LayerDescription = { .relu6(name: $0) }
        let first = makeDivisible(32 * widthMult), last = makeDivisible(1280 * max(1, widthMult))
        var features: [LayerDescription] = [convNormActivation("0", first, 3, stride: 2, activation: relu6)]
        var input = first
        for (t, c0, n, s) in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)] {
            let c = makeDivisible(Double(c0) * widthMult)
            for i in 0..<n {
                let stride = i == 0 ? s : 1, hidden = input * t
                var conv: [LayerDescription] = []
                if t != 1 { conv.append(convNormActivation("0", hidden, 1, activation: relu6)) }
                conv.append(convNormActivation("\(conv.count)", hidden, 3, stride: stride, groups: hidden, activation: relu6))
                conv.append(self.conv("\(conv.count)", c, 1))
                conv.append(.batchNorm(name: "\(conv.count)"))
                let name = "\(features.count)"
                let body: [LayerDescription] = [.block(name: "conv", layers: conv)]
                features.append(stride == 1 && input == c ? .sum(name: name, body: body, shortcut: [], after: []) : .block(name: name, layers: body))
                input = c
            }
        }
        features.append(convNormActivation("\(features.count)", last, 1, activation: relu6))
        return [.block(name: "features", layers: features), .adaptiveAvgPool(name: "avgpool", height: 1, width: 1), .flatten(name: "flatten"),
                .block(name: "classifier", layers: [.dropout(name: "0", rate: 0.2)])]
    }

    static func tvEfficientNetB0() -> [LayerDescription] {
        let silu: (String) -> LayerDescription = { .silu(name: $0) }
        var features: [LayerDescription] = [convNormActivation("0", 32, 3, stride: 2, activation: silu)]
        // (expand ratio, kernel, stride, input channels, output channels, layers)
        let stages = [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
                      (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1)]
        let total = stages.reduce(0) { $0 + $1.5 }
        var blockID = 0
        for (ratio, k, s, cin, cout, n) in stages {
            var stage: [LayerDescription] = []
            for i in 0..<n {
                let input = i == 0 ? cin : cout, stride = i == 0 ? s : 1
                let expanded = makeDivisible(Double(input * ratio))
                var block: [LayerDescription] = []
                if expanded != input { block.append(convNormActivation("0", expanded, 1, activation: silu)) }
                block.append(convNormActivation("\(block.count)", expanded, k, stride: stride, groups: expanded, activation: silu))
                block.append(.scale(name: "\(block.count)", gate: [
                    .adaptiveAvgPool(name: "avgpool", height: 1, width: 1),
                    conv("fc1", max(1, input / 4), 1, bias: true), .silu(name: "activation"),
                    conv("fc2", expanded, 1, bias: true), .sigmoid(name: "scale_activation")]))
                block.append(convNormActivation("\(block.count)", cout, 1, activation: nil))
                let rate = 0.2 * Double(blockID) / Double(total)
                blockID += 1
                let body: [LayerDescription] = [.block(name: "block", layers: block)]
                stage.append(stride == 1 && input == cout
                             ? .sum(name: "\(i)", body: body + [.stochasticDepth(name: "stochastic_depth", rate: rate)], shortcut: [], after: [])
                             : .block(name: "\(i)", layers: body))
            }
            features.append(.block(name: "\(features.count)", layers: stage))
        }
        features.append(convNormActivation("\(features.count)", 1280, 1, activation: silu))
        return [.block(name: "features", layers: features), .adaptiveAvgPool(name: "avgpool", height: 1, width: 1), .flatten(name: "flatten"),
                .block(name: "classifier", layers: [.dropout(name: "0", rate: 0.2)])]
    }

    // MARK: GoogLeNet

    /// BasicConv2d: `conv` (no bias), `bn` (ε = 0.001), `relu`.
    private static func basicConv(_ name: String, _ filters: Int, _ k: Int, stride: Int = 1, padding: Int = 0) -> LayerDescription {
        .block(name: name, layers: [conv("conv", filters, k, stride: stride, padding: padding),
                                    .batchNormWith(name: "bn", epsilon: 0.001, momentum: 0.1), .relu(name: "relu")])
    }

    /// torchvision's Inception module (its "5×5" branch is 3×3, as in torchvision).
    private static func inception(_ name: String, _ c1: Int, _ c3r: Int, _ c3: Int, _ c5r: Int, _ c5: Int, _ pool: Int) -> LayerDescription {
        .branches(name: name, branches: [
            basicConv("branch1", c1, 1),
            .block(name: "branch2", layers: [basicConv("0", c3r, 1), basicConv("1", c3, 3, padding: 1)]),
            .block(name: "branch3", layers: [basicConv("0", c5r, 1), basicConv("1", c5, 3, padding: 1)]),
            .block(name: "branch4", layers: [.maxPoolCeil(name: "0", size: 3, stride: 1, padding: 1), basicConv("1", pool, 1)]),
        ])
    }

    static func tvGoogLeNet(transformInput: Bool) -> [LayerDescription] {
        var layers: [LayerDescription] = []
        if transformInput {
            // x·(std / 0.5) + (mean − 0.5) / 0.5 per channel, as torchvision's _transform_input.
            layers.append(.channelAffine(name: "transform_input", scale: [0.229 / 0.5, 0.224 / 0.5, 0.225 / 0.5],
                                         shift: [(0.485 - 0.5) / 0.5, (0.456 - 0.5) / 0.5, (0.406 - 0.5) / 0.5]))
        }
        layers += [
            basicConv("conv1", 64, 7, stride: 2, padding: 3), .maxPoolCeil(name: "maxpool1", size: 3, stride: 2, padding: 0),
            basicConv("conv2", 64, 1), basicConv("conv3", 192, 3, padding: 1), .maxPoolCeil(name: "maxpool2", size: 3, stride: 2, padding: 0),
            inception("inception3a", 64, 96, 128, 16, 32, 32), inception("inception3b", 128, 128, 192, 32, 96, 64),
            .maxPoolCeil(name: "maxpool3", size: 3, stride: 2, padding: 0),
            inception("inception4a", 192, 96, 208, 16, 48, 64), inception("inception4b", 160, 112, 224, 24, 64, 64),
            inception("inception4c", 128, 128, 256, 24, 64, 64), inception("inception4d", 112, 144, 288, 32, 64, 64),
            inception("inception4e", 256, 160, 320, 32, 128, 128), .maxPoolCeil(name: "maxpool4", size: 2, stride: 2, padding: 0),
            inception("inception5a", 256, 160, 320, 32, 128, 128), inception("inception5b", 384, 192, 384, 48, 128, 128),
            .adaptiveAvgPool(name: "avgpool", height: 1, width: 1), .flatten(name: "flatten"), .dropout(name: "dropout", rate: 0.2),
        ]
        return layers
    }
}
