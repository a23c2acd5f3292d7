// The mixed operation against PyTorch in float64: the same weights, alpha and input
// through F.conv2d, F.batch_norm (training statistics), the poolings and
// softmax(alpha); tlc's float32 output, input gradient, every candidate's weight
// gradients and d loss / d alpha must agree with autograd's.
import Foundation
import Testing
@testable import Engine
import ModelZoo
import TestSupport

@Suite struct DartsTorchTests {
    @Test func mixedOperationMatchesPyTorch() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-darts-torch-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let ops = CellOperation.allCases
        let net = try DartsTests.cellNetwork([[CellEdge(from: 0, operations: ops)]], input: FeatureShape(channels: 3, height: 6, width: 6))
        let alpha = try #require(net.architectureParameters.first)
        var rng = SeededGenerator(seed: 21)
        rng.fillNormal(alpha.value, std: 1)
        for p in net.parameterObjects where p.name.hasSuffix("bn.weight") { rng.fillUniform(p.value, 0.5, 1.5) }
        for p in net.parameterObjects where p.name.hasSuffix("bn.bias") { rng.fillNormal(p.value, std: 0.1) }
        let x = Tensor(zeros: [4, 3, 6, 6]), r = Tensor(zeros: [4, 3, 6, 6])
        rng.fillNormal(x, std: 1); rng.fillNormal(r, std: 1)
        _ = net.root.configureGradients(upstreamTrainable: true)
        let y = try net.root.forward(x, training: true)
        let dx = try #require(try net.root.backward(r))
        try SafeTensors.write(net.parameters + [("x", x), ("r", r)], to: folder + "/in.safetensors")

        let run = try pythonScript("""
            import torch, torch.nn.functional as F
            from safetensors.torch import load_file, save_file
            t = {k: v.double() for k, v in load_file("\(folder)/in.safetensors").items()}
            x = t.pop("x").requires_grad_(); r = t.pop("r")
            p = {k: v.requires_grad_() for k, v in t.items()}
            P = "cell1.node1.in0."
            def bn(h, name):
                return F.batch_norm(h, None, None, p[P + name + ".weight"], p[P + name + ".bias"], training=True, eps=1e-5)
            def op(name, h):
                if name == "zero": return torch.zeros_like(h)
                if name == "identity": return h
                if name in ("conv_3x3", "conv_5x5"):
                    k = p[P + name + ".conv.weight"]
                    return bn(F.conv2d(F.relu(h), k, padding=k.shape[-1] // 2), name + ".bn")
                if name == "sep_conv_3x3":
                    d = F.conv2d(F.relu(h), p[P + name + ".depthwise.weight"], padding=1, groups=h.shape[1])
                    return bn(F.conv2d(d, p[P + name + ".pointwise.weight"]), name + ".bn")
                if name == "max_pool_3x3": return F.max_pool2d(h, 3, 1, 1)
                if name == "avg_pool_3x3": return F.avg_pool2d(h, 3, 1, 1)
            w = torch.softmax(p["alpha"][0], 0)
            y = sum(w[i] * op(n, x) for i, n in enumerate([\(ops.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))]))
            (y * r).sum().backward()
            out = {"y": y.detach().float(), "dx": x.grad.float()}
            out.update({k + ".grad": v.grad.float() for k, v in p.items()})
            save_file({k: v.contiguous() for k, v in out.items()}, "\(folder)/out.safetensors")
            print("ok")
            """, needs: [.torch, .safetensors])
        try #require(run.status == 0 && run.output.contains("ok"), "\(run.output.suffix(2000))")
        let ref = try SafeTensors.read(folder + "/out.safetensors")

        /// ‖ours − reference‖ / ‖reference‖.
        func error(_ ours: Tensor, _ name: String) throws -> Double {
            let want = try #require(ref.tensor(name), "PyTorch wrote no \(name)")
            #expect(want.count == ours.count, "\(name)")
            var num = 0.0, den = 0.0
            for i in 0..<min(want.count, ours.count) {
                num += pow(Double(ours[i]) - Double(want[i]), 2); den += pow(Double(want[i]), 2)
            }
            return (num / max(den, 1e-30)).squareRoot()
        }
        #expect(try error(y, "y") < 1e-5, "output")
        #expect(try error(dx, "dx") < 1e-4, "input gradient")
        for p in net.parameterObjects {
            let e = try error(p.grad, p.name + ".grad")
            #expect(e < 1e-4, "\(p.name): relative error \(e)")
        }
        #expect(net.parameterObjects.count == 11, "alpha and the weights of conv_3x3, conv_5x5 and sep_conv_3x3 with their batch norms")
    }
}
