import Testing
import Foundation
import ModelZoo
@testable import Engine
import TestSupport

/// Python with numpy and safetensors (see TestSupport).
func python(_ script: String) throws -> (status: Int32, output: String) { try pythonWithSafetensors(script) }

@Suite(.serialized) struct CheckpointTests {
    @Test func roundTripInSwift() throws {
        let net = try Network(architecture: tinyCNN(), seed: 1)
        let path = tempPath("rt.safetensors")
        try net.save(to: path, metadata: ["tlc.version": "0.1", "classes": "a,b,c"])
        let other = try Network(architecture: tinyCNN(), seed: 99)
        let (loaded, meta) = try other.load(from: path)
        #expect(loaded.count == net.stateTensors.count)
        #expect(meta["tlc.version"] == "0.1" && meta["tlc.architecture"] == "tiny")
        #expect(other.stateTensors.map { $0.tensor.values } == net.stateTensors.map { $0.tensor.values })
        // Missing tensors and shape mismatches are errors naming the file.
        try SafeTensors.write(Array(net.stateTensors.dropLast()), to: path)
        do { try other.load(from: path); Issue.record("no error") }
        catch let e as EngineError { #expect(e.description.contains("missing") && e.description.contains(path)) }
        let wrong = try Network(architecture: tinyCNN(classes: 5), seed: 1)
        try net.save(to: path)
        #expect(throws: EngineError.self) { try wrong.load(from: path) }
        // ...unless only the backbone is requested.
        let (bl, _) = try wrong.load(from: path, only: ["backbone"])
        #expect(bl.contains("block1.bn1.running_var") && !bl.contains("out.weight"))
        // Truncated file
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count - 4).write(to: URL(fileURLWithPath: path))
        #expect(throws: EngineError.self) { try SafeTensors.read(path) }
    }

    @Test func pythonReadsOurFileAndWeReadPythons() throws {
        let path = tempPath("ours.safetensors")
        let a = try Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5.5, -6])
        let b = try Tensor(shape: [4], values: [0.25, 0, -1e-3, 3e7])
        try SafeTensors.write([("block1.conv1.weight", a), ("head.bias", b)], metadata: ["arch": "cnn"], to: path)
        let check = try python("""
        import numpy as np
        from safetensors.numpy import load_file
        from safetensors import safe_open
        t = load_file('\(path)')
        assert sorted(t) == ['block1.conv1.weight', 'head.bias'], sorted(t)
        assert t['block1.conv1.weight'].dtype == np.float32 and t['block1.conv1.weight'].shape == (2, 3)
        assert (t['block1.conv1.weight'] == np.array([[1, 2, 3], [4, 5.5, -6]], dtype=np.float32)).all()
        assert (t['head.bias'] == np.array([0.25, 0, -1e-3, 3e7], dtype=np.float32)).all()
        with safe_open('\(path)', framework='np') as f:
            assert f.metadata() == {'arch': 'cnn'}, f.metadata()
        print('ok')
        """)
        #expect(check.status == 0, "\(check.output)")
        #expect(check.output.contains("ok"))

        let theirs = tempPath("theirs.safetensors")
        let w = try python("""
        import numpy as np
        from safetensors.numpy import save_file
        save_file({'x.weight': np.arange(12, dtype=np.float32).reshape(3, 4) / 8, 'y': np.array([1.5, -2], dtype=np.float64)},
                  '\(theirs)', metadata={'format': 'np', 'k': 'v'})
        """)
        #expect(w.status == 0, "\(w.output)")
        let f = try SafeTensors.read(theirs)
        #expect(f.metadata["k"] == "v")
        #expect(f.tensor("x.weight")?.shape == [3, 4])
        #expect(f.tensor("x.weight")?.values == (0..<12).map { Float($0) / 8 })
        #expect(f.tensor("y")?.values == [1.5, -2])
    }
}
