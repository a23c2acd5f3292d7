import Testing
import Foundation
import ModelZoo
@testable import Engine

func tempPath(_ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlc-engine-tests-\(getpid())")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent(name).path
}

func toyDataset(perClass: [Int], shape: FeatureShape = FeatureShape(channels: 2, height: 2, width: 2)) throws -> Dataset {
    var feats: [Float] = [], labels: [Int] = []
    for (c, n) in perClass.enumerated() {
        for i in 0..<n {
            labels.append(c)
            feats += (0..<shape.count).map { Float(c * 100 + i) + Float($0) * 0.01 }
        }
    }
    return try Dataset(sampleShape: shape, features: feats, labels: labels, classNames: perClass.indices.map { "c\($0)" })
}

@Suite struct DataTests {
    @Test func idxParsingAndErrors() throws {
        let good: [UInt8] = [0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6]
        let a = try IDX.parse(good, path: "x.idx")
        #expect(a.dimensions == [2, 3]); #expect(a.bytes == [1, 2, 3, 4, 5, 6])
        do { _ = try IDX.parse(Array(good.dropLast()), path: "trunc.idx"); Issue.record("no error") }
        catch let e as EngineError { #expect(e.description.contains("trunc.idx") && e.description.contains("truncated")) }
        #expect(throws: EngineError.self) { try IDX.parse([1, 0, 8, 1], path: "m") }
        #expect(throws: EngineError.self) { try IDX.parse([0, 0, 8, 1, 0, 0], path: "m") }
        #expect(throws: EngineError.self) { try IDX.parse([0, 0, 0x0D, 1, 0, 0, 0, 0], path: "m") }
        #expect(throws: EngineError.self) { try IDX.parse([0, 0, 8, 2, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], path: "m") }
        do { _ = try IDX.load("/nonexistent/file.gz"); Issue.record("no error") }
        catch let e as EngineError { #expect(e.description.contains("/nonexistent/file.gz")) }
    }

    @Test func gzipAndPlainFilesReadTheSame() throws {
        let bytes: [UInt8] = [0, 0, 8, 1, 0, 0, 0, 4, 9, 8, 7, 6]
        let plain = tempPath("p.idx"), gz = tempPath("p.idx.gz")
        try Data(bytes).write(to: URL(fileURLWithPath: plain))
        let proc = Process()
        proc.executableURL = URL(fileURLWithPath: "/bin/sh")
        proc.arguments = ["-c", "gzip -c '\(plain)' > '\(gz)'"]
        try proc.run(); proc.waitUntilExit()
        #expect(try IDX.load(plain).bytes == [9, 8, 7, 6])
        #expect(try IDX.load(gz).bytes == [9, 8, 7, 6])
        // A truncated gzip stream is an error naming the file, not a short read.
        let gzData = try Data(contentsOf: URL(fileURLWithPath: gz))
        let cut = tempPath("cut.idx.gz")
        try gzData.prefix(gzData.count - 12).write(to: URL(fileURLWithPath: cut))
        do { _ = try IDX.load(cut); Issue.record("no error") }
        catch let e as EngineError { #expect(e.description.contains("cut.idx.gz")) }
    }

    @Test func fashionMNISTLoads() throws {
        let (train, test) = try FashionMNIST.load()
        #expect(train.count == 60000 && test.count == 10000)
        #expect(train.sampleShape == FeatureShape(channels: 1, height: 28, width: 28))
        #expect(train.classCounts == [Int](repeating: 6000, count: 10))
        #expect(train.features.allSatisfy { $0 >= 0 && $0 <= 1 })
        #expect(throws: EngineError.self) { try FashionMNIST.load(folder: "/nonexistent") }
    }

    @Test func classSubsetLimitsAndSplit() throws {
        let d = try toyDataset(perClass: [10, 20, 30])
        let s = try d.selectingClasses([2, 0])
        #expect(s.classNames == ["c2", "c0"]); #expect(s.classCounts == [30, 10])
        #expect(s.features[0] == 0)  // first kept sample is original class 0 sample 0, relabelled 1
        #expect(s.labels[0] == 1)
        #expect(throws: EngineError.self) { try d.selectingClasses([3]) }
        #expect(throws: EngineError.self) { try d.selectingClasses([]) }
        let rng = SeededGenerator(seed: 4)
        let l = try d.limitingPerClass(12, rng: rng)
        #expect(l.classCounts == [10, 12, 12])
        #expect(try d.limitingPerClass(12, rng: rng).features == l.features)
        let (tr, va) = try d.stratifiedSplit(validationFraction: 0.2, rng: rng)
        #expect(va.classCounts == [2, 4, 6]); #expect(tr.classCounts == [8, 16, 24])
        let (tr2, _) = try d.stratifiedSplit(validationFraction: 0.2, rng: rng)
        #expect(tr2.features == tr.features)
        // disjoint
        let trIDs = Set(tr.features.enumerated().filter { $0.offset % 8 == 0 }.map(\.element))
        #expect(va.features.enumerated().filter { $0.offset % 8 == 0 }.allSatisfy { !trIDs.contains($0.element) })
    }

    @Test func normalizationFitsOnTrainingOnly() throws {
        let d = try toyDataset(perClass: [3, 3])
        let n = try Normalization.fit(.standardize, on: d)
        let z = try n.apply(to: d)
        for ch in 0..<2 {
            var s = 0.0, sq = 0.0, m = 0.0
            for i in 0..<z.count { for p in 0..<4 { let v = Double(z.features[i * 8 + ch * 4 + p]); s += v; sq += v * v; m += 1 } }
            #expect(abs(s / m) < 1e-4); #expect(abs(sq / m - 1) < 1e-3)
        }
        let mm = try Normalization.fit(.minMax, on: d).apply(to: d)
        #expect(mm.features.min()! == 0); #expect(abs(mm.features.max()! - 1) < 1e-6)
        #expect(try Normalization.fit(.none, on: d).apply(to: d).features == d.features)
        #expect(try Normalization(json: n.json) == n)
        #expect(throws: EngineError.self) { try Normalization(json: "{") }
        #expect(throws: EngineError.self) { try Normalization.fit(.standardize, on: d.subset([])) }
    }

    @Test func globalNormalizationPoolsEveryChannel() throws {
        let d = try toyDataset(perClass: [3, 3])
        let g = try Normalization.fit(.standardize, global: true, on: d)
        let z = try g.apply(to: d)
        // One mean and spread over all values, stored for each channel …
        #expect(g.shift[0] == g.shift[1] && g.scale[0] == g.scale[1])
        let n = Double(z.features.count)
        #expect(abs(z.features.reduce(0) { $0 + Double($1) } / n) < 1e-4)
        #expect(abs(z.features.reduce(0) { $0 + Double($1) * Double($1) } / n - 1) < 1e-3)
        // … unlike per channel (the toy channels differ), and min-max likewise.
        let perChannel = try Normalization.fit(.standardize, on: d)
        #expect(perChannel.shift[0] != perChannel.shift[1])
        let mm = try Normalization.fit(.minMax, global: true, on: d)
        #expect(mm.shift[0] == d.features.min()! && mm.shift[1] == mm.shift[0])
    }

    @Test func augmentationIsSeededAndShapePreserving() throws {
        let x = Tensor(zeros: [4, 1, 4, 4]); for i in 0..<x.count { x[i] = Float(i % 16) + 1 }
        let a = x.copy(), b = x.copy()
        var r1 = SeededGenerator(seed: 1), r2 = SeededGenerator(seed: 1)
        let aug = Augmentation(cropPadding: 1, horizontalFlip: true)
        try aug.apply(to: a, rng: &r1); try aug.apply(to: b, rng: &r2)
        #expect(a.values == b.values); #expect(a.values != x.values)
        // flip only: each row reversed or unchanged
        let f = x.copy(); var r3 = SeededGenerator(seed: 2)
        try Augmentation(horizontalFlip: true).apply(to: f, rng: &r3)
        for s in 0..<4 {
            let row = Array(f.values[(s * 16)..<(s * 16 + 4)])
            #expect(row == [1, 2, 3, 4] || row == [4, 3, 2, 1])
        }
    }
}

@Suite struct UserDataTests {
    @Test func npyFromPython() throws {
        let x = tempPath("x.npy"), y = tempPath("y.npy"), bad = tempPath("bad.npy")
        let r = try python("""
        import numpy as np
        np.save('\(x)', (np.arange(2*3*4, dtype=np.float64).reshape(2, 3, 4) / 4))
        np.save('\(y)', np.array([1, 0], dtype=np.int64))
        np.save('\(bad)', np.zeros((5, 7), dtype=np.float32))
        """)
        #expect(r.status == 0, "\(r.output)")
        let d = try Dataset.fromNPY(features: x, labels: y)
        #expect(d.sampleShape == FeatureShape(channels: 1, height: 3, width: 4))
        #expect(d.features == (0..<24).map { Float($0) / 4 })
        #expect(d.labels == [1, 0]); #expect(d.classNames == ["0", "1"])
        // truncated file
        let bytes = try Data(contentsOf: URL(fileURLWithPath: bad))
        try bytes.prefix(bytes.count - 3).write(to: URL(fileURLWithPath: bad))
        do { _ = try NPY.load(bad); Issue.record("no error") }
        catch let e as EngineError { #expect(e.description.contains("bad.npy") && e.description.contains("truncated")) }
        #expect(throws: EngineError.self) { try NPY.parse([0x93, 78, 85, 77, 80, 89, 1, 0, 200, 0], path: "h") }
        #expect(throws: EngineError.self) { try Dataset.fromNPY(features: x, labels: x) }
    }

    @Test func csvWithNamedClasses() throws {
        let p = tempPath("d.csv")
        try "a,b,label\n1,2,cat\n3,4.5,dog\n\n5,6,cat\n".write(toFile: p, atomically: true, encoding: .utf8)
        let d = try Dataset.fromCSV(p)
        #expect(d.features == [1, 2, 3, 4.5, 5, 6]); #expect(d.labels == [0, 1, 0]); #expect(d.classNames == ["cat", "dog"])
        try "a,label\n1,0\nx,1\n".write(toFile: p, atomically: true, encoding: .utf8)
        do { _ = try Dataset.fromCSV(p); Issue.record("no error") }
        catch let e as EngineError { #expect(e.description.contains("line 3") && e.description.contains("d.csv")) }
        try "a,label\n1,0,3\n".write(toFile: p, atomically: true, encoding: .utf8)
        #expect(throws: EngineError.self) { try Dataset.fromCSV(p) }
        #expect(throws: EngineError.self) { try Dataset.fromCSV(p, labelColumn: "y") }
    }

    @Test func aLabelColumnIsAllIntegersOrAllNames() throws {
        let p = tempPath("l.csv")
        for (bad, row) in [("-1", 3), ("2.5", 3), ("dog", 3)] {
            try "a,label\n1,0\n2,\(bad)\n3,1\n".write(toFile: p, atomically: true, encoding: .utf8)
            do { _ = try Dataset.fromCSV(p); Issue.record("label \(bad) loaded") }
            catch let e as EngineError { #expect(e.description.contains("line \(row), column 'label'") && e.description.contains("'\(bad)'"), "\(e)") }
        }
        try "a,label,label\n1,0,0\n".write(toFile: p, atomically: true, encoding: .utf8)
        do { _ = try Dataset.fromCSV(p); Issue.record("two label columns loaded") }
        catch let e as EngineError { #expect(e.description.contains("2 columns are named 'label'")) }
        // Names alone, and integers alone, still load.
        try "a,label\n1,cat\n2,dog\n".write(toFile: p, atomically: true, encoding: .utf8)
        #expect(try Dataset.fromCSV(p).classNames == ["cat", "dog"])
        try "a,label\n1,0\n2,3\n".write(toFile: p, atomically: true, encoding: .utf8)
        #expect(try Dataset.fromCSV(p).numClasses == 4)
    }

    @Test func aForeignFileIsNeverQuotedBeyondAShortEscapedExcerpt() throws {
        let p = tempPath("shadow.csv")
        // A file that is not a data set (its first line is taken as the header).
        try "root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n".write(toFile: p, atomically: true, encoding: .utf8)
        do { _ = try Dataset.fromCSV(p); Issue.record("loaded") }
        catch let e as EngineError {
            #expect(!e.description.contains("root") && !e.description.contains("19000"), "\(e)")
            #expect(e.description.contains("no column named 'label' in its header line (1 column)"), "\(e)")
        }
        // A cell with a terminal escape and a long secret: escaped, and cut short.
        let secret = String(repeating: "s3cr3t", count: 20)
        try "a,label\n1,0\n\u{1B}]0;PWNED\u{07}\(secret),1\n".write(toFile: p, atomically: true, encoding: .utf8)
        do { _ = try Dataset.fromCSV(p); Issue.record("loaded") }
        catch let e as EngineError {
            #expect(!e.description.contains("\u{1B}") && e.description.contains("\\u{1B}]0;PWNED\\u{7}"), "\(e)")
            #expect(!e.description.contains(secret) && e.description.contains("…"), "\(e)")
        }
        #expect(EngineError.excerpt("short") == "short")
        #expect(EngineError.excerpt(String(repeating: "x", count: 30)) == String(repeating: "x", count: 24) + "…")
    }

    @Test func nanAndInfinityAreErrorsAtLoadNamingWhere() throws {
        let p = tempPath("n.csv")
        for bad in ["nan", "inf", "1e40"] {
            try "a,b,label\n1,2,0\n3,\(bad),1\n".write(toFile: p, atomically: true, encoding: .utf8)
            do { _ = try Dataset.fromCSV(p); Issue.record("\(bad) loaded") }
            catch let e as EngineError { #expect(e.description.contains("n.csv") && e.description.contains("line 3, column 2 ('b')"), "\(e)") }
        }
        let x = tempPath("xn.npy"), y = tempPath("yn.npy")
        let r = try python("""
        import numpy as np
        a = np.zeros((3, 4), dtype=np.float32); a[2, 1] = np.inf
        np.save('\(x)', a)
        np.save('\(y)', np.array([0, 1, 0], dtype=np.int64))
        """)
        #expect(r.status == 0, "\(r.output)")
        do { _ = try Dataset.fromNPY(features: x, labels: y); Issue.record("inf loaded") }
        catch let e as EngineError { #expect(e.description.contains("xn.npy") && e.description.contains("sample 2, value 1"), "\(e)") }
    }
}
