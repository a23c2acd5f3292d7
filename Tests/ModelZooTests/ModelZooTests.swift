import Testing
@testable import ModelZoo

@Suite struct ModelZooTests {
    @Test func mlpCountsMatchHandComputation() throws {
        let s = try Zoo.architecture("mlp", classes: 10).analyze()
        #expect(s.parameters == 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10)
        #expect(s.backboneOutput == .flat(128))
        #expect(s.output == .flat(10))
        #expect(s.forwardFLOPs == 2 * (784 * 256 + 256 * 128 + 128 * 10) + 256 + 128)
    }

    @Test func lenet5Shapes() throws {
        let s = try Zoo.architecture("lenet5", classes: 10).analyze()
        #expect(s.parameters == 61_706)
        #expect(s.layer("pool2")?.output == FeatureShape(channels: 16, height: 5, width: 5))
        #expect(s.layer("head.output")?.parameterNames == ["head.output.weight", "head.output.bias"])
    }

    @Test func cnnMatchesTheIssueTable() throws {
        let s = try Zoo.architecture("cnn", classes: 10).analyze()
        let convs = (32 * 9 + 32) + (32 * 32 * 9 + 32) + (64 * 32 * 9 + 64) + (64 * 64 * 9 + 64)
        #expect(s.parameters == convs + (64 * 7 * 7 * 128 + 128) + (128 * 10 + 10))
        #expect(s.layerPaths.contains("block2.conv1"))
    }

    @Test(arguments: ["resnet-8", "resnet-14", "resnet-20", "vgg-mini", "alexnet-mini", "inception-mini", "vgg", "resnet"])
    func everyPresetAnalyses(name: String) throws {
        let s = try Zoo.architecture(name, classes: 5).analyze()
        #expect(s.output == .flat(5))
        #expect(s.backboneOutput.isFlat)
        #expect(s.parameters > 0 && s.forwardFLOPs > 0)
    }

    @Test func resnetNamesAndShortcuts() throws {
        let s = try Zoo.architecture("resnet-20", classes: 10).analyze()
        #expect(s.layer("stage2.block1.shortcut.conv")?.output == FeatureShape(channels: 32, height: 14, width: 14))
        #expect(s.layer("stage1.block1.shortcut.conv") == nil)
        #expect(s.layers.filter { $0.kind == "residual" }.count == 9)
    }

    @Test func unknownNamesAndOptions() {
        #expect(throws: ZooError.unknownArchitecture("resnet20", suggestion: "resnet-20")) {
            try Zoo.architecture("resnet20", classes: 10)
        }
        #expect(throws: ZooError.self) { try Zoo.architecture("mlp", options: ["depth": .int(3)], classes: 10) }
        #expect(throws: ZooError.self) { try Zoo.architecture("resnet", options: ["depth": .int(9)], classes: 10) }
    }

    @Test func tooSmallInputIsAShapeError() throws {
        let arch = try Zoo.architecture("lenet5", input: FeatureShape(channels: 1, height: 8, width: 8), classes: 10)
        #expect(throws: ShapeError.self) { try arch.analyze() }
    }

    @Test func freezeSelections() throws {
        let s = try Zoo.architecture("vgg-mini", classes: 10).analyze()
        #expect(s.frozenLayers(.names(["block1"])) == ["block1.conv1", "block1.bn1", "block1.conv2", "block1.bn2"])
        #expect(s.frozenLayers(.upTo("block2")).count == 8)
        #expect(s.frozenLayers(.names(["block*.conv1"])) == ["block1.conv1", "block2.conv1", "block3.conv1"])
        #expect(s.frozenLayers(.all).allSatisfy { !$0.hasPrefix("head") })
        #expect(s.unmatched(["block9", "block1"]) == ["block9"])
        #expect(s.frozenLayers(.names(["**.bn*"])).count == 6)
    }
}
