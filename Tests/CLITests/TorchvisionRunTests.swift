// torchvision's architectures in specs: head.classifier (keep and its located errors),
// freeze / optimizer.groups on torchvision's module paths, a kept classifier checked
// in a `file:` checkpoint, a tiny run end to end from a state_dict torchvision
// itself wrote (resnet18, frozen, its own classifier fine-tuned), and the committed
// `file:` example (Experiments/images-torchvision.yaml) on small copies of its inputs.
import Foundation
import Testing
import Engine
import FrontEnd
import ModelZoo
import TestSupport
@testable import TLCCommands

@Suite(.serialized) struct TorchvisionRunTests {
    func scratch() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-torchvision-run-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// The diagnostics of loading `body` as a spec (empty when it loads).
    func diagnostics(_ body: String, in dir: String) throws -> [Diagnostic] {
        let file = dir + "/s.yaml"
        try ("tlc: 1\nname: s\n" + body).write(toFile: file, atomically: true, encoding: .utf8)
        do { _ = try ExperimentLoader().load(path: file); return [] } catch { return error.diagnostics }
    }

    @Test func classifierAndModulePathsAreChecked() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Module paths of torchvision name layers for freeze, up_to and optimizer groups.
        #expect(try diagnostics("""
            backbone: {arch: resnet18, freeze: {up_to: layer3}}
            head: {classifier: keep}
            optimizer: {groups: {layer4.1.conv2: {lr: 1e-4}, "layer*.0.downsample": {lr: 1e-4}}}
            """, in: dir).isEmpty)
        #expect(try diagnostics("backbone: {arch: resnet18, freeze: [layer4.1.conv2, \"layer*.0.downsample\", fc]}\nhead: {classifier: keep}\n",
                                in: dir).isEmpty)
        let unknown = try diagnostics("backbone: {arch: resnet18, freeze: [layer5]}\n", in: dir)
        #expect(unknown.contains { $0.message.contains("no layer or block 'layer5'") && $0.location?.line == 3 }, "\(unknown)")
        // keep on an architecture without a classifier of its own, at head.classifier.
        let mini = try diagnostics("backbone: {arch: vgg-mini}\nhead:\n  classifier: keep\n", in: dir)
        #expect(mini.count == 1 && mini[0].message.contains("vgg-mini has none") && mini[0].location?.line == 5, "\(mini)")
        // keep with hidden layers, at head.layers.
        let layers = try diagnostics("backbone: {arch: resnet18}\nhead:\n  classifier: keep\n  layers: [relu]\n", in: dir)
        #expect(layers.count == 1 && layers[0].message.contains("head.layers") && layers[0].location?.line == 6, "\(layers)")
        let typo = try diagnostics("backbone: {arch: resnet18}\nhead: {classifier: kept}\n", in: dir)
        #expect(typo.contains { $0.message.contains("unknown head.classifier 'kept'") && $0.notes.contains("expected one of: new, keep") && $0.location?.line == 4 }, "\(typo)")
        // An input too small for the architecture names the layer.
        let small = try diagnostics("backbone: {arch: vgg16}\n", in: dir)
        #expect(small.contains { $0.message.contains("features") && $0.location?.line == 3 }, "\(small)")
    }

    /// With classifier: keep, validation checks the file's classifier against the classes.
    @Test func aKeptClassifierIsCheckedInTheCheckpoint() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let input = FeatureShape(channels: 1, height: 28, width: 28)   // fashion-mnist: 10 classes
        let imagenet = try Network(architecture: Zoo.architecture("resnet18", input: input, classes: 1000, keepClassifier: true), seed: 1)
        try imagenet.save(to: dir + "/r18.safetensors")
        let kept = try diagnostics("backbone: {arch: resnet18, weights: file:r18.safetensors}\nhead: {classifier: keep}\n", in: dir)
        let error = try #require(kept.first { $0.message.contains("does not match the resnet18 backbone and classifier") }, "\(kept)")
        #expect(error.location?.line == 3)
        #expect(error.notes.contains { $0.contains("'fc.weight' is [1000, 512] in the file but resnet18 needs [10, 512]") })
        #expect(error.notes.contains { $0.contains("head.classifier: keep") })
        // A new head ignores the file's classifier.
        #expect(try diagnostics("backbone: {arch: resnet18, weights: file:r18.safetensors}\n", in: dir).isEmpty)
    }

    /// torchvision writes a resnet18 state_dict (3 classes); tlc trains on its frozen
    /// backbone with torchvision's own `fc` as the output layer.
    @Test func aTorchvisionStateDictRunsEndToEnd() throws {
        let dir = try scratch(), out = dir + "/Outputs"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let made = try pythonScript("""
            import os, numpy as np, torch, torchvision
            from safetensors.torch import save_file
            torch.manual_seed(0)
            m = torchvision.models.resnet18(num_classes=3)
            with torch.no_grad():
                for mod in m.modules():
                    if isinstance(mod, torch.nn.BatchNorm2d):
                        mod.running_mean.normal_(0, 0.1); mod.running_var.uniform_(0.5, 1.5)
            save_file({k: v.contiguous() for k, v in m.state_dict().items()}, "\(dir)/r18.safetensors")
            rng = np.random.default_rng(1)
            for folder, n in [("train", 48), ("test", 24)]:
                os.makedirs("\(dir)/" + folder, exist_ok=True)
                y = np.arange(n) % 3
                x = rng.normal(0, 1, (n, 3, 32, 32)).astype(np.float32)
                for i in range(n): x[i, y[i]] += 1.5
                np.save("\(dir)/" + folder + "/x.npy", x); np.save("\(dir)/" + folder + "/y.npy", y.astype(np.int64))
            print("ok")
            """, needs: [.torch, .torchvision])
        try #require(made.status == 0, "\(made.output)")
        let file = dir + "/r18.yaml"
        try """
            tlc: 1
            name: r18
            data: {dataset: npy:train, test_dataset: npy:test, classes: [0, 1, 2], input_shape: [3, 32, 32], validation: 0}
            backbone: {arch: resnet18, weights: file:r18.safetensors, freeze: all}
            head: {classifier: keep}
            optimizer: {lr: 1e-3}
            training: {epochs: 1, batch_size: 16}

            """.write(toFile: file, atomically: true, encoding: .utf8)
        #expect(TLC.run(["run", file, "--output", out]) == 0)
        let runDir = out + "/r18/" + (try FileManager.default.destinationOfSymbolicLink(atPath: out + "/r18/latest"))
        let log = try String(contentsOfFile: runDir + "/log.txt", encoding: .utf8)
        #expect(log.contains("backbone and classifier tensors"), "\(log)")
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: runDir + "/metrics.json"))) as! [String: Double]
        #expect(metrics["time.features_seconds"] != nil && metrics["test.accuracy"] != nil)
        // The frozen backbone is torchvision's, bit for bit; the kept fc was trained from torchvision's.
        let theirs = try SafeTensors.read(dir + "/r18.safetensors"), ours = try SafeTensors.read(runDir + "/model.safetensors")
        for name in ["conv1.weight", "layer3.1.conv2.weight", "layer4.0.downsample.1.running_var", "layer4.1.bn2.bias"] {
            #expect(try #require(ours.tensor(name)).values == (try #require(theirs.tensor(name))).values, "\(name)")
        }
        let fc = try #require(ours.tensor("fc.weight")), fc0 = try #require(theirs.tensor("fc.weight"))
        #expect(fc.shape == [3, 512] && fc.values != fc0.values)
        #expect(zip(fc.values, fc0.values).map { abs($0 - $1) }.max()! < 0.1)
        #expect(ours.tensor("head.output.weight") == nil)
    }
    /// Experiments/images-torchvision.yaml as committed, on a small copy of its inputs
    /// made the way `make example-data` makes them: Fashion-MNIST PNG folders and a
    /// resnet18 state_dict torchvision writes (test support). One epoch at 32×32.
    @Test func theCommittedFileWeightsExampleRuns() throws {
        let dir = try scratch(), out = dir + "/Outputs"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/Experiments", withIntermediateDirectories: true)
        let file = dir + "/Experiments/images-torchvision.yaml"
        try FileManager.default.copyItem(atPath: ExampleData.repositoryRoot + "/Experiments/images-torchvision.yaml", toPath: file)
        try ExampleData.fashionImages(in: dir + "/Data/fashion-images", size: 40, train: 12, test: 4)
        let weights = dir + "/Data/resnet18-torchvision.safetensors"
        try torchvisionStateDict("resnet18", to: weights)
        #expect(TLC.run(["run", file, "--set", "training.epochs=1", "--set", "data.image_size=32", "--output", out]) == 0)
        let runDir = out + "/images-torchvision/" + (try FileManager.default.destinationOfSymbolicLink(atPath: out + "/images-torchvision/latest"))
        let log = try String(contentsOfFile: runDir + "/log.txt", encoding: .utf8)
        #expect(log.contains("backbone tensors from \(weights)"), "\(log)")
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: runDir + "/metrics.json"))) as! [String: Double]
        #expect(metrics["time.features_seconds"] != nil && metrics["test.accuracy"] != nil)
        // The frozen backbone is torchvision's state_dict bit for bit, under its names; the head is new.
        let theirs = try SafeTensors.read(weights), ours = try SafeTensors.read(runDir + "/model.safetensors")
        for name in ["conv1.weight", "bn1.running_mean", "layer2.0.downsample.0.weight", "layer4.1.bn2.weight"] {
            #expect(try #require(ours.tensor(name)).values == (try #require(theirs.tensor(name))).values, "\(name)")
        }
        #expect(try #require(ours.tensor("head.output.weight")).shape == [5, 512] && ours.tensor("fc.weight") == nil)
        // Its checkpoint predicts images on its own (the run's resize and crop are in its metadata).
        let images = dir + "/Data/fashion-images/transfer/test/bag"
        #expect(TLC.run(["predict", runDir + "/model.safetensors", images, "--output", out]) == 0)
    }
}
