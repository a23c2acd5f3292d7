// torchvision's architectures in the zoo: torchvision's published parameter counts,
// freezing and up_to on torchvision's module paths, the kept classifier, ceil-mode
// pool sizes as PyTorch computes them, and inputs too small named by layer.
import Testing
@testable import ModelZoo

@Suite struct TorchvisionZooTests {
    /// torchvision's documented `num_params` (1000 classes).
    @Test(arguments: [("resnet18", 11_689_512), ("resnet34", 21_797_672), ("resnet50", 25_557_032),
                      ("vgg11_bn", 132_868_840), ("vgg16", 138_357_544), ("vgg16_bn", 138_365_992), ("alexnet", 61_100_840),
                      ("mobilenet_v2", 3_504_872), ("efficientnet_b0", 5_288_548), ("googlenet", 6_624_904)])
    func parameterCountsAreTorchvisions(_ entry: (String, Int)) throws {
        let kept = try Zoo.architecture(entry.0, input: Zoo.imageNetInput, classes: 1000, keepClassifier: true).analyze()
        #expect(kept.parameters == entry.1)
        // A new head of 1000 classes has the same count; only its name differs.
        let fresh = try Zoo.architecture(entry.0, input: Zoo.imageNetInput, classes: 1000).analyze()
        #expect(fresh.parameters == entry.1 && fresh.layer("head.output") != nil)
        #expect(Zoo.info(entry.0)?.defaultInput == Zoo.imageNetInput)
    }

    @Test func freezingOnModulePaths() throws {
        let r = try Zoo.architecture("resnet18", input: Zoo.imageNetInput, classes: 10).analyze()
        let upTo = r.frozenLayers(.upTo("layer3"))
        #expect(upTo.first == "conv1" && upTo.last == "layer3.1.bn2" && !upTo.contains { $0.hasPrefix("layer4") })
        #expect(r.frozenLayers(.names(["layer4.1.conv2"])) == ["layer4.1.conv2"])
        #expect(r.frozenLayers(.names(["layer*.0.downsample"])) == ["layer2.0.downsample.0", "layer2.0.downsample.1",
                                                                     "layer3.0.downsample.0", "layer3.0.downsample.1",
                                                                     "layer4.0.downsample.0", "layer4.0.downsample.1"])
        #expect(!r.frozenLayers(.all).contains("head.output"))
        let v = try Zoo.architecture("vgg16", input: Zoo.imageNetInput, classes: 10, keepClassifier: true).analyze()
        #expect(v.frozenLayers(.names(["features.10"])) == ["features.10"])
        #expect(v.frozenLayers(.upTo("features.10")) == ["features.0", "features.2", "features.5", "features.7", "features.10"])
        // The kept classifier is the head: freeze all leaves it trainable, naming it freezes it.
        #expect(!v.frozenLayers(.all).contains("classifier.6") && v.frozenLayers(.names(["classifier"])).contains("classifier.6"))
        #expect(v.layer("classifier.6")?.inBackbone == false && v.layer("classifier.3")?.inBackbone == true)
    }

    @Test func keepingTheClassifier() throws {
        let heads = try Zoo.torchvisionNames.map { try Zoo.architecture($0, input: Zoo.imageNetInput, classes: 7, keepClassifier: true).keptClassifier }
        #expect(heads == [["fc"], ["fc"], ["fc"], ["classifier.6"], ["classifier.6"], ["classifier.6"], ["classifier.6"],
                          ["classifier.1"], ["classifier.1"], ["fc"]])
        #expect(try Zoo.architecture("resnet18", classes: 7).keptClassifier.isEmpty)
        #expect(throws: ZooError.self) { try Zoo.architecture("vgg-mini", classes: 7, keepClassifier: true) }
        #expect(throws: ZooError.self) { try Zoo.architecture("resnet18", classes: 7, head: [.relu(name: "relu1")], keepClassifier: true) }
        #expect(throws: ZooError.self) { try Zoo.architecture("googlenet", options: ["transform_input": .int(1)], classes: 7) }
        let g = try Zoo.architecture("googlenet", options: ["transform_input": .bool(true)], input: Zoo.imageNetInput, classes: 7).analyze()
        #expect(g.layerPaths.first == "transform_input" && g.layer("transform_input")?.parameters == 0)
    }

    @Test func ceilModePoolSizesArePyTorchs() {
        // PyTorch: ceil((n + 2p − k) / s) + 1 rounding toward −∞, less one if the last window starts in the padding.
        #expect(Architecture.ceilPoolSize(112, 3, 2, 0) == 56 && Architecture.ceilPoolSize(113, 3, 2, 0) == 56)
        #expect(Architecture.ceilPoolSize(38, 3, 2, 0) == 19 && Architecture.ceilPoolSize(14, 2, 2, 0) == 7)
        #expect(Architecture.ceilPoolSize(1, 2, 2, 0) == 1 && Architecture.ceilPoolSize(1, 3, 2, 0) == 0)
        #expect(Architecture.ceilPoolSize(5, 3, 1, 1) == 5 && Architecture.ceilPoolSize(6, 2, 2, 1) == 4)
    }

    @Test func tooSmallInputsNameTheLayer() throws {
        func error(_ arch: String, _ side: Int) -> ShapeError? {
            do { _ = try Zoo.architecture(arch, input: FeatureShape(channels: 3, height: side, width: side), classes: 2).analyze(); return nil }
            catch let e as ShapeError { return e } catch { return nil }
        }
        #expect(error("vgg16", 32) == nil && error("alexnet", 63) == nil && error("googlenet", 15) == nil)
        #expect(error("vgg16", 31)?.layer == "features.30")
        #expect(error("alexnet", 62)?.layer == "features.12")
        #expect(error("googlenet", 14)?.layer == "maxpool3")   // torchvision too: 15 is its smallest input
    }
}
