// NPY and CSV loaders for a user's own data. NPY: versions 1–3, C order, little-endian
// or byte-sized integer/float dtypes, converted to Float32. CSV: numeric feature columns
// and one label column (integers or class names). Malformed files throw naming the file.

import Foundation
import ModelZoo

/// A NumPy array read from a `.npy` file, converted to Float32.
public struct NPYArray: Sendable {
    public var shape: [Int]
    public var values: [Float]
}

public enum NPY {
    /// Reads a `.npy` file.
    public static func load(_ path: String) throws -> NPYArray {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw EngineError.dataFile(path: path, message: "cannot read the file")
        }
        return try parse([UInt8](data), path: path)
    }

    /// Parses `.npy` bytes; `path` names the source in errors.
    public static func parse(_ b: [UInt8], path: String) throws -> NPYArray {
        func fail(_ m: String) -> EngineError { .dataFile(path: path, message: m) }
        guard b.count >= 10, b[0] == 0x93, Array(b[1..<6]) == Array("NUMPY".utf8) else { throw fail("not an NPY file (bad magic)") }
        let major = b[6]
        let (hlen, hstart): (Int, Int)
        switch major {
        case 1: hlen = Int(b[8]) | Int(b[9]) << 8; hstart = 10
        case 2, 3:
            guard b.count >= 12 else { throw fail("truncated NPY header") }
            hlen = Int(b[8]) | Int(b[9]) << 8 | Int(b[10]) << 16 | Int(b[11]) << 24; hstart = 12
        default: throw fail("unsupported NPY version \(major)")
        }
        guard b.count >= hstart + hlen else { throw fail("truncated NPY header") }
        let header = String(decoding: b[hstart..<(hstart + hlen)], as: UTF8.self)
        func field(_ key: String) -> String? {
            guard let r = header.range(of: "'\(key)':") else { return nil }
            return String(header[r.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
        guard let descrField = field("descr"), descrField.first == "'" || descrField.first == "\"" else { throw fail("NPY header has no 'descr'") }
        let descr = String(descrField.dropFirst().prefix { $0 != "'" && $0 != "\"" })
        if let f = field("fortran_order"), f.hasPrefix("True") { throw fail("Fortran-ordered arrays are not supported; save with np.ascontiguousarray") }
        guard let shapeField = field("shape"), shapeField.first == "(", let close = shapeField.firstIndex(of: ")") else {
            throw fail("NPY header has no 'shape'")
        }
        let inner = shapeField[shapeField.index(after: shapeField.startIndex)..<close]
        var shape: [Int] = []
        for part in inner.split(separator: ",") {
            let t = part.trimmingCharacters(in: .whitespaces)
            if t.isEmpty { continue }
            guard let v = Int(t), v >= 0 else { throw fail("bad NPY shape '\(EngineError.excerpt(inner))'") }
            shape.append(v)
        }
        var count = 1
        for d in shape {
            let (m, o) = count.multipliedReportingOverflow(by: d)
            guard !o, m < 1 << 40 else { throw fail("NPY shape \(shape) is too large") }
            count = m
        }
        let kind = descr.dropFirst()
        let order = descr.first ?? "<"
        guard order == "<" || order == "|" || order == "=" else { throw fail("big-endian dtype '\(EngineError.excerpt(descr))' is not supported") }
        let width: Int
        switch kind {
        case "f4", "i4", "u4": width = 4
        case "f8", "i8", "u8": width = 8
        case "f2", "i2", "u2": width = 2
        case "u1", "i1", "b1": width = 1
        default: throw fail("unsupported dtype '\(EngineError.excerpt(descr))'")
        }
        let start = hstart + hlen
        guard b.count - start >= count * width else {
            throw fail("truncated: shape \(shape) of \(descr) needs \(count * width) bytes of data, found \(b.count - start)")
        }
        var values = [Float](repeating: 0, count: count)
        b.withUnsafeBytes { raw in
            let base = raw.baseAddress! + start
            for i in 0..<count {
                let p = base + i * width
                switch kind {
                case "f4": values[i] = Float(bitPattern: UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
                case "f8": values[i] = Float(Double(bitPattern: UInt64(littleEndian: p.loadUnaligned(as: UInt64.self))))
                case "f2": values[i] = Float(Float16(bitPattern: UInt16(littleEndian: p.loadUnaligned(as: UInt16.self))))
                case "i4": values[i] = Float(Int32(littleEndian: p.loadUnaligned(as: Int32.self)))
                case "u4": values[i] = Float(UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
                case "i8": values[i] = Float(Int64(littleEndian: p.loadUnaligned(as: Int64.self)))
                case "u8": values[i] = Float(UInt64(littleEndian: p.loadUnaligned(as: UInt64.self)))
                case "i2": values[i] = Float(Int16(littleEndian: p.loadUnaligned(as: Int16.self)))
                case "u2": values[i] = Float(UInt16(littleEndian: p.loadUnaligned(as: UInt16.self)))
                case "i1": values[i] = Float(p.load(as: Int8.self))
                default: values[i] = Float(p.load(as: UInt8.self))
                }
            }
        }
        return NPYArray(shape: shape, values: values)
    }
}

extension Dataset {
    /// A data set from an NPY feature array `(N, F)`, `(N, H, W)` or `(N, C, H, W)` and an
    /// integer label array `(N,)`. Class names default to "0", "1", … up to the largest label.
    public static func fromNPY(features: String, labels: String, classNames: [String]? = nil) throws -> Dataset {
        let x = try NPY.load(features), y = try NPY.load(labels)
        guard let n = x.shape.first, x.shape.count >= 2, x.shape.count <= 4 else {
            throw EngineError.dataFile(path: features, message: "expected features of shape (N, F), (N, H, W) or (N, C, H, W), got \(x.shape)")
        }
        guard y.shape == [n] else {
            throw EngineError.dataFile(path: labels, message: "expected labels of shape (\(n),) to match \(features), got \(y.shape)")
        }
        guard n > 0 else { throw EngineError.dataFile(path: features, message: "no samples") }
        let shape: FeatureShape = switch x.shape.count {
        case 2: .flat(x.shape[1])
        case 3: FeatureShape(channels: 1, height: x.shape[1], width: x.shape[2])
        default: FeatureShape(channels: x.shape[1], height: x.shape[2], width: x.shape[3])
        }
        // NaN or infinity would surface much later as a failed encoding: name the sample now.
        if let bad = x.values.firstIndex(where: { !$0.isFinite }) {
            let per = max(1, x.values.count / n)
            throw EngineError.dataFile(path: features, message: "value \(x.values[bad]) at index \(bad) (sample \(bad / per), value \(bad % per)) is not a finite number")
        }
        var labs: [Int] = []
        labs.reserveCapacity(n)
        for (i, v) in y.values.enumerated() {
            guard v >= 0, v == v.rounded(), v < 1e6 else {
                throw EngineError.dataFile(path: labels, message: "label \(v) at index \(i) is not a non-negative integer")
            }
            labs.append(Int(v))
        }
        let k = (labs.max() ?? 0) + 1
        let names = classNames ?? (0..<k).map(String.init)
        guard names.count >= k else {
            throw EngineError.dataFile(path: labels, message: "label \(k - 1) has no class name (\(names.count) names given)")
        }
        return try Dataset(sampleShape: shape, features: x.values, labels: labs, classNames: names)
    }

    /// A data set from a CSV file: one header row, numeric feature columns and the label
    /// column `labelColumn` (integers 0..<K, or class names, which are numbered in sorted order).
    /// `sampleShape` reshapes the features (default: flat).
    public static func fromCSV(_ path: String, labelColumn: String = "label", sampleShape: FeatureShape? = nil) throws -> Dataset {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw EngineError.dataFile(path: path, message: "cannot read the file")
        }
        let text = String(decoding: data, as: UTF8.self)
        var lines = text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }).map { $0.trimmingCharacters(in: .whitespaces) }
        lines.removeAll { $0.isEmpty }
        guard let head = lines.first else { throw EngineError.dataFile(path: path, message: "empty file") }
        let columns = head.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard columns.filter({ $0 == labelColumn }).count <= 1 else {
            throw EngineError.dataFile(path: path, message: "\(columns.filter { $0 == labelColumn }.count) columns are named '\(labelColumn)'; one is the label")
        }
        guard let li = columns.firstIndex(of: labelColumn) else {
            throw EngineError.dataFile(path: path, message: "no column named '\(labelColumn)' in its header line (\(columns.count) column\(columns.count == 1 ? "" : "s"))")
        }
        let f = columns.count - 1
        guard f > 0 else { throw EngineError.dataFile(path: path, message: "no feature columns") }
        var feats: [Float] = []
        feats.reserveCapacity((lines.count - 1) * f)
        var rawLabels: [String] = []
        for (r, line) in lines.dropFirst().enumerated() {
            let cells = line.split(separator: ",", omittingEmptySubsequences: false)
            guard cells.count == columns.count else {
                throw EngineError.dataFile(path: path, message: "line \(r + 2): \(cells.count) cells, expected \(columns.count)")
            }
            for (c, cell) in cells.enumerated() {
                let t = cell.trimmingCharacters(in: .whitespaces)
                if c == li { rawLabels.append(t); continue }
                guard let v = Float(t) else {
                    throw EngineError.dataFile(path: path, message: "line \(r + 2), column \(c + 1) ('\(EngineError.excerpt(columns[c]))'): '\(EngineError.excerpt(t))' is not a number")
                }
                guard v.isFinite else {
                    throw EngineError.dataFile(path: path, message: "line \(r + 2), column \(c + 1) ('\(EngineError.excerpt(columns[c]))'): '\(EngineError.excerpt(t))' is not a finite number")
                }
                feats.append(v)
            }
        }
        guard !rawLabels.isEmpty else { throw EngineError.dataFile(path: path, message: "no data rows") }
        let labels: [Int], names: [String]
        // All non-negative integers, or all class names: a label column that mixes them
        // (a -1, a 2.5, a 99 among names) would silently renumber the classes.
        let numeric = rawLabels.map { Double($0) != nil }
        if numeric.contains(true) {
            for (r, label) in rawLabels.enumerated() where Int(label).map({ $0 < 0 }) ?? true {
                throw EngineError.dataFile(path: path, message: "line \(r + 2), column '\(labelColumn)': '\(EngineError.excerpt(label))' is not a non-negative integer"
                                           + (numeric[r] ? "" : " (the column holds numbers, so every label must be one)"))
            }
            labels = rawLabels.map { Int($0)! }
            names = (0...(labels.max()!)).map(String.init)
        } else {
            names = Array(Set(rawLabels)).sorted()
            let index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
            labels = rawLabels.map { index[$0]! }
        }
        let shape = sampleShape ?? .flat(f)
        guard shape.count == f else {
            throw EngineError.dataFile(path: path, message: "\(f) feature columns cannot be shaped as \(shape)")
        }
        return try Dataset(sampleShape: shape, features: feats, labels: labels, classNames: names)
    }
}
