// The int8 checkpoint's layout as docs/spec.md documents it: the Python lines there
// turn the file into PyTorch's layouts (OIHW convs, dense inputs in C·H·W order),
// and every dequantized weight lands within half a quantization step of the float
// weight it came from — while a plain reshape (the mistake the layout invites) does not.
import Foundation
import Testing
import ModelZoo
import TestSupport
@testable import Engine

@Suite struct Int8FormatTests {
    @Test func theDocumentedPythonLoaderRecoversPyTorchLayouts() throws {
        let arch = Architecture(name: "int8net", input: FeatureShape(channels: 2, height: 8, width: 8),
                                backbone: [.conv2d(name: "conv", filters: 4, kernel: 3, stride: 1, padding: 1), .relu(name: "relu"),
                                           .maxPool(name: "pool", size: 2, stride: 2, padding: 0), .flatten(name: "flat")],
                                head: [.dense(name: "fc", units: 16), .relu(name: "r"), .dense(name: "out", units: 4)])
        let net = try Network(architecture: arch, seed: 11)
        var g = SeededGenerator(seed: 3)
        let data = try Dataset(sampleShape: arch.input, features: (0..<(64 * 128)).map { _ in g.normal(std: 1) },
                               labels: (0..<64).map { $0 % 4 }, classNames: ["a", "b", "c", "d"])
        let q = try QuantizedNetwork.quantize(net, calibration: data, config: QuantizationConfig(calibrationBatches: 2, batchSize: 32))
        let int8 = tempPath("int8-\(UUID().uuidString).safetensors"), float = int8 + ".float.safetensors"
        defer { try? FileManager.default.removeItem(atPath: int8); try? FileManager.default.removeItem(atPath: float) }
        try q.save(to: int8)
        try net.save(to: float)
        let r = try pythonWithSafetensors("""
        import json, numpy as np
        from safetensors import safe_open
        from safetensors.numpy import load_file

        def int8_to_float_state_dict(path):
            \"\"\"Dequantized weights in PyTorch's layouts (batch norm, if any, is folded into the conv before it).\"\"\"
            t = load_file(path)
            with safe_open(path, "np") as f:
                layout = json.loads(f.metadata()["tlc.int8"])
            out = {}
            for op in layout["ops"]:
                if "linear" not in op:
                    continue                       # pooling: no tensors
                l = op["linear"]["_0"]
                name, shape = l["name"], l["inputShape"]
                w = t[name + ".weight"].astype(np.float32) * t[name + ".weight_scale"][:, None]   # [out, K]
                if l["kernel"] > 0:                # conv: K is (kh, kw, in)
                    k = l["kernel"]
                    w = w.reshape(-1, k, k, shape[2]).transpose(0, 3, 1, 2)                      # OIHW
                elif len(shape) == 3:              # dense after a flatten: K is (h, w, c)
                    h, wd, c = shape
                    w = w.reshape(-1, h, wd, c).transpose(0, 3, 1, 2).reshape(w.shape[0], -1)  # C·H·W order
                out[name + ".weight"] = w
                out[name + ".bias"] = t[name + ".bias"]
            return out

        deq, ref, raw = int8_to_float_state_dict("\(int8)"), load_file("\(float)"), load_file("\(int8)")
        assert sorted(deq) == sorted(ref), (sorted(deq), sorted(ref))
        for name in ref:
            if not name.endswith(".weight"):
                assert np.array_equal(deq[name], ref[name]), name
                continue
            half_step = raw[name + "_scale"].reshape((-1,) + (1,) * (ref[name].ndim - 1)) / 2
            assert np.all(np.abs(deq[name] - ref[name]) <= half_step * 1.0001 + 1e-7), name
        # The mistake the layout invites: reshaping K straight to PyTorch's order.
        naive_conv = (raw["conv.weight"].astype(np.float32) * raw["conv.weight_scale"][:, None]).reshape(ref["conv.weight"].shape)
        naive_fc = raw["fc.weight"].astype(np.float32) * raw["fc.weight_scale"][:, None]
        assert np.abs(naive_conv - ref["conv.weight"]).max() > 10 * raw["conv.weight_scale"].max()
        assert np.abs(naive_fc - ref["fc.weight"]).max() > 10 * raw["fc.weight_scale"].max()
        print("ok")
        """)
        #expect(r.status == 0 && r.output.contains("ok"), "\(r.output)")
    }
}
