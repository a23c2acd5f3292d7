// mobilenet_v2's width multiplier against torchvision's `mobilenet_v2(width_mult=…)`:
// every state_dict name and shape for several multipliers (meta device, no weights),
// and at 0.5 the logits, eval and train mode, from torchvision's own seeded weights.
import Testing
import Foundation
import ModelZoo
@testable import Engine
import TestSupport

@Suite(.serialized) struct TorchvisionWidthTests {
    static let multipliers = [0.35, 0.5, 0.75, 1.0, 1.4]

    /// The reference files' folder; it goes when the test process exits.
    static let folder: String = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-tvwidth-\(getpid())").path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: TorchvisionWidthTests.folder) }
        return dir
    }()

    static let reference: Result<String, Error> = Result {
        let dir = folder
        let run = try pythonScript("""
            import json, warnings, torch, torchvision.models as tvm
            from safetensors.torch import save_file
            warnings.filterwarnings("ignore")
            torch.set_num_threads(2)
            out = "\(dir)"
            shapes = {}
            for w in [\(multipliers.map { String($0) }.joined(separator: ", "))]:
                with torch.device("meta"):
                    sd = tvm.mobilenet_v2(weights=None, width_mult=w).state_dict()
                shapes[str(w)] = [[k, list(v.shape)] for k, v in sd.items() if not k.endswith("num_batches_tracked")]
            json.dump(shapes, open(out + "/shapes.json", "w"))
            torch.manual_seed(0)
            m = tvm.mobilenet_v2(weights=None, width_mult=0.5, num_classes=10)
            with torch.no_grad():
                for mod in m.modules():
                    if isinstance(mod, torch.nn.BatchNorm2d):
                        mod.weight.uniform_(0.5, 1.5); mod.bias.normal_(0, 0.1)
                        mod.running_mean.normal_(0, 0.1); mod.running_var.uniform_(0.5, 1.5)
            m.eval()
            save_file({k: v.contiguous() for k, v in m.state_dict().items()}, out + "/weights.safetensors")
            x = torch.randn(2, 3, 96, 96)
            with torch.no_grad():
                ev = m(x)
                m.train(); m.classifier[0].eval()
                tr = m(x)
            save_file({"x": x, "eval": ev.contiguous(), "train": tr.contiguous()}, out + "/io.safetensors")
            print("ok")
            """, needs: [.torch, .torchvision])
        guard run.status == 0, run.output.contains("ok") else {
            throw EngineError.invalidArgument("torchvision reference failed: \(run.output.suffix(2000))")
        }
        return dir
    }

    @Test func stateDictShapesAreTorchvisions() throws {
        let dir = try Self.reference.get()
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/shapes.json"))) as? [String: [[Any]]])
        var counts: [Int] = []
        for w in Self.multipliers {
            let theirs = try #require(json[String(w)]).map { "\($0[0] as! String) \($0[1] as! [Int])" }
            let summary = try Zoo.architecture("mobilenet_v2", options: ["width_mult": .double(w)], input: Zoo.imageNetInput,
                                               classes: 1000, keepClassifier: true).analyze()
            let ours = summary.stateTensors(backboneOnly: false).map { "\($0.name) \($0.shape)" }
            #expect(ours == theirs, "width_mult \(w)")
            counts.append(summary.parameters)
        }
        #expect(counts == counts.sorted() && Set(counts).count == counts.count, "wider is bigger: \(counts)")
        #expect(counts[3] == 3_504_872, "1.0 is the plain mobilenet_v2")
    }

    @Test func logitsAtHalfWidthAreTorchvisions() throws {
        let dir = try Self.reference.get()
        let io = try SafeTensors.read(dir + "/io.safetensors")
        let arch = try Zoo.architecture("mobilenet_v2", options: ["width_mult": .double(0.5)],
                                        input: FeatureShape(channels: 3, height: 96, width: 96), classes: 10, keepClassifier: true)
        let net = try Network(architecture: arch, seed: 7)
        let (loaded, _) = try net.load(from: dir + "/weights.safetensors")
        #expect(loaded.count == net.stateTensors.count)
        let x = try #require(io.tensor("x"))
        let eval = try net.forward(x, training: false)
        let (de, se) = TorchvisionReference.difference(eval, try #require(io.tensor("eval")))
        #expect(eval.shape == [2, 10] && se > 0 && de <= 1e-4 * se, "eval: max |Δ| \(de), max |logit| \(se)")
        for layer in net.leafLayers { (layer as? Dropout)?.isDisabled = true }
        let train = try net.forward(x, training: true)
        let (dt, st) = TorchvisionReference.difference(train, try #require(io.tensor("train")))
        #expect(st > 0 && dt <= 1e-4 * st, "train: max |Δ| \(dt), max |logit| \(st)")
    }

    @Test func badMultipliersAreRefused() {
        for bad: OptionValue in [.double(0), .double(-1), .double(4.5), .string("half")] {
            #expect(throws: ZooError.self) { try Zoo.architecture("mobilenet_v2", options: ["width_mult": bad], classes: 10) }
        }
        #expect(throws: ZooError.self) { try Zoo.architecture("resnet18", options: ["width_mult": .double(0.5)], classes: 10) }
    }
}
