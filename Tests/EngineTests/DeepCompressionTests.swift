// Deep Compression's weight sharing and storage: k-means codebooks that keep pruned
// weights at zero, centroid fine-tuning, and the sparse, coded, deflated file —
// read back bit for bit by tlc and by Python (numpy, safetensors and zlib).
import Foundation
import Testing
import ModelZoo
import TestSupport
@testable import Engine

@Suite struct DeepCompressionTests {
    /// The zoo's lenet5, pruned to `sparsity` by magnitude.
    func prunedNet(_ sparsity: Double) throws -> Network {
        let net = try Network(architecture: try Zoo.architecture("lenet5", classes: 10), seed: 5)
        try PruningMasks.magnitude(net, sparsity: sparsity, global: true).apply(to: net)
        return net
    }

    func distinctNonzero(_ t: Tensor) -> Set<Float> { Set((0..<t.count).map { t[$0] }.filter { $0 != 0 }) }

    @Test func sharingKeepsAtMostTwoToTheBitsValuesAndEveryZero() throws {
        let net = try prunedNet(0.8)
        let zeros = PruningMasks.fromZeros(net)
        let books = try Codebooks.cluster(net, bits: 4)
        for p in PruningMasks.prunable(net) {
            #expect(distinctNonzero(p.value).count <= 16, "\(p.name)")
            #expect(zeros.masks[p.name]! == (0..<p.value.count).map { p.value[$0] == 0 ? 0 : 1 }, "\(p.name): zeros moved")
            // Every weight sits at the centroid nearest to where k-means left it.
            let layer = books.layers[p.name]!
            #expect(layer.centroids == layer.centroids.sorted())
        }
        // Deterministic.
        let again = try prunedNet(0.8)
        let books2 = try Codebooks.cluster(again, bits: 4)
        for p in PruningMasks.prunable(net) { #expect(books.layers[p.name]!.centroids == books2.layers[p.name]!.centroids) }
    }

    @Test func kMeansOnALineFindsTheClusters() throws {
        // Three tight groups: the three centroids are their means.
        let values: [Float] = [0, -1.01, -0.99, -1.0, 0.5, 0.51, 0.49, 2.0, 2.02, 1.98]
        let layer = Codebooks.clusterLayer(try Tensor(shape: [values.count], values: values), k: 3, iterations: 50)
        #expect(layer.codes[0] == -1)
        #expect(zip(layer.centroids, [-1.0, 0.5, 2.0]).allSatisfy { abs(Double($0) - $1) < 1e-6 }, "\(layer.centroids)")
    }

    @Test func fineTuningMovesCentroidsToTheirMembersMean() throws {
        let net = try prunedNet(0.5)
        var books = try Codebooks.cluster(net, bits: 3)
        let p = PruningMasks.prunable(net)[0]
        let layer = books.layers[p.name]!
        // An "optimizer step": every weight moves by +0.01, the pruned ones too.
        for i in 0..<p.value.count { p.value[i] += 0.01 }
        books.update(from: net)
        for c in layer.centroids.indices {
            let members = layer.codes.filter { $0 == Int32(c) }.count
            if members > 0 { #expect(abs(books.layers[p.name]!.centroids[c] - (layer.centroids[c] + 0.01)) < 1e-5) }
        }
        #expect((0..<p.value.count).allSatisfy { layer.codes[$0] >= 0 || p.value[$0] == 0 }, "pruned weights went back to zero")
        #expect(distinctNonzero(p.value).count <= 8)
    }

    @Test func theFileRoundTripsExactlyAndEveryStepIsSmaller() throws {
        let net = try prunedNet(0.9)
        let books = try Codebooks.cluster(net, bits: 5)
        let path = tempPath("dc-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let sizes = try DeepCompressionFormat.write(net, codebooks: books, metadata: ["tlc.stage": "x"], to: path)
        #expect(DeepCompressionFormat.isCompressed(path))
        let back = try Network(architecture: net.architecture, seed: 99)
        let meta = try DeepCompressionFormat.read(path, into: back)
        #expect(meta["tlc.stage"] == "x")
        for ((n, a), (_, b)) in zip(net.stateTensors, back.stateTensors) {
            #expect((0..<a.count).allSatisfy { a[$0] == b[$0] }, "\(n)")   // (-0 of a pruned weight reads back as 0)
        }
        #expect(sizes.dense > sizes.sparse && sizes.sparse > sizes.quantized && sizes.quantized > sizes.coded, "\(sizes)")
        #expect(Double(sizes.dense) / Double(sizes.coded) > 10, "\(sizes)")
        // Without codes (pruned only): float values, still lossless.
        let plain = try prunedNet(0.9)
        try DeepCompressionFormat.write(plain, codebooks: nil, to: path)
        let back2 = try Network(architecture: plain.architecture, seed: 98)
        try DeepCompressionFormat.read(path, into: back2)
        for ((n, a), (_, b)) in zip(plain.stateTensors, back2.stateTensors) {
            #expect((0..<a.count).allSatisfy { a[$0] == b[$0] }, "\(n)")   // (-0 of a pruned weight reads back as 0)
        }
    }

    @Test func aDamagedFileIsAnErrorNamingTheStream() throws {
        let net = try prunedNet(0.9)
        let books = try Codebooks.cluster(net, bits: 5)
        let path = tempPath("dc-bad-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try DeepCompressionFormat.write(net, codebooks: books, to: path)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[bytes.count - 40] ^= 0xFF   // inside the last tensor's deflated stream
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let back = try Network(architecture: net.architecture, seed: 1)
        do { try DeepCompressionFormat.read(path, into: back); Issue.record("a damaged file loaded") }
        catch let e as EngineError { #expect(e.description.contains("damaged"), "\(e)") }
    }

    @Test func pythonDecodesTheFileWithNumpyAndZlib() throws {
        let net = try prunedNet(0.85)
        let books = try Codebooks.cluster(net, bits: 4)
        let path = tempPath("dc-py-\(UUID().uuidString).safetensors"), dense = path + ".dense.safetensors"
        defer { try? FileManager.default.removeItem(atPath: path); try? FileManager.default.removeItem(atPath: dense) }
        try DeepCompressionFormat.write(net, codebooks: books, to: path)
        try net.save(to: dense)
        // The decoder docs/spec.md shows.
        let r = try pythonWithSafetensors("""
        import json, zlib, numpy as np
        from safetensors import safe_open
        from safetensors.numpy import load_file
        def load_deep_compression(path):
            with safe_open(path, "np") as f:
                meta = f.metadata()
            t = load_file(path)
            out = {}
            for name in t:
                if "::" not in name:
                    out[name] = t[name]
                    continue
                weight, part = name.split("::")
                if part != "mask":
                    continue
                shape = json.loads(meta["tlc.shape." + weight]); n = int(np.prod(shape)); bits = int(meta["tlc.bits." + weight])
                mask = np.unpackbits(np.frombuffer(zlib.decompress(t[name].tobytes()), np.uint8), bitorder="little")[:n].astype(bool)
                m = int(mask.sum())
                if bits == 0:
                    values = np.frombuffer(zlib.decompress(t[weight + "::values"].tobytes()), "<f4")
                else:
                    packed = np.unpackbits(np.frombuffer(zlib.decompress(t[weight + "::codes"].tobytes()), np.uint8), bitorder="little")
                    codes = packed[:m * bits].reshape(m, bits) @ (1 << np.arange(bits))
                    values = t[weight + "::codebook"][codes]
                w = np.zeros(n, np.float32); w[mask] = values
                out[weight] = w.reshape(shape)
            return out
        a = load_deep_compression("\(path)"); b = load_file("\(dense)")
        assert sorted(a) == sorted(b), (sorted(a), sorted(b))
        for k in b:
            assert a[k].shape == b[k].shape and np.array_equal(a[k], b[k]), k
        print("ok", len(b))
        """)
        #expect(r.status == 0 && r.output.contains("ok"), "\(r.output)")
    }
}
