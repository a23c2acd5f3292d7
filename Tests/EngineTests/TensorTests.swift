import Testing
@testable import Engine

@Suite struct TensorAndRNG {
    @Test func tensorShapeErrors() throws {
        #expect(throws: EngineError.self) { try Tensor(shape: [2, 3], values: [1, 2, 3]) }
        let t = try Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        #expect(t.count == 6 && t.sampleCount == 3 && t.batch == 2)
        #expect(throws: EngineError.self) { try t.reshape([4, 2]) }
        try t.reshape([3, 2]); #expect(t.shape == [3, 2])
        let c = t.copy(); c[0] = 9; #expect(t[0] == 1)
    }
    @Test func layerShapeErrorNamesLayer() throws {
        let d = Dense(name: "head.fc", inFeatures: 4, outFeatures: 2, rng: SeededGenerator(seed: 1))
        do { _ = try d.forward(Tensor(zeros: [2, 5]), training: false); Issue.record("no error") }
        catch let e as EngineError { #expect(e.description.contains("head.fc")) }
    }
    @Test func generatorIsDeterministicAndSplitsAreStable() {
        var a = SeededGenerator(seed: 7), b = SeededGenerator(seed: 7), c = SeededGenerator(seed: 8)
        let xa = (0..<5).map { _ in a.next() }, xb = (0..<5).map { _ in b.next() }, xc = (0..<5).map { _ in c.next() }
        #expect(xa == xb); #expect(xa != xc)
        // split depends on the key and label only, not on draws made before
        var s1 = SeededGenerator(seed: 7).split(label: "block1.conv1.weight")
        var s2 = a.split(label: "block1.conv1.weight")
        #expect(s1.next() == s2.next())
        var s3 = SeededGenerator(seed: 7).split(label: "block1.conv2.weight")
        var s4 = SeededGenerator(seed: 7).split(label: "block1.conv1.weight")
        #expect(s3.next() != s4.next())
        // FNV-1a is the documented, process-stable hash
        #expect(SeededGenerator.fnv1a("") == 0xcbf29ce484222325)
        #expect(SeededGenerator.fnv1a("a") == 0xaf63dc4c8601ec8c)
    }
    @Test func samplingMoments() {
        var g = SeededGenerator(seed: 3)
        var s = 0.0, sq = 0.0, u = 0.0
        let n = 20000
        for _ in 0..<n { let v = Double(g.normal()); s += v; sq += v * v; u += Double(g.nextFloat()) }
        #expect(abs(s / Double(n)) < 0.03)
        #expect(abs(sq / Double(n) - 1) < 0.05)
        #expect(abs(u / Double(n) - 0.5) < 0.01)
        var p = g.permutation(100); p.sort(); #expect(p == Array(0..<100))
        for _ in 0..<1000 { let k = g.nextInt(below: 3); #expect(k >= 0 && k < 3) }
    }
}
