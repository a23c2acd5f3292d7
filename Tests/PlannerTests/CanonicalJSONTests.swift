// Stage hashes are cache keys and part of plan.json: the canonical JSON they cover
// must stay byte for byte what JSONEncoder ([.sortedKeys, .withoutEscapingSlashes])
// wrote before CanonicalJSON replaced it, for every work value and every odd
// string or number a value can hold.
import Crypto
import Foundation
import Testing
@testable import Jobs

@Suite struct CanonicalJSONTests {
    static func reference<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }

    /// The hash as it was computed before: JSONEncoder's bytes between the header and the dependencies.
    static func referenceHash(_ work: StageWork, dependencies: [String]) throws -> String {
        var canonical = Array("tlc-stage/\(StageHashing.formatVersion)\n\(work.kind.rawValue)\n".utf8)
        canonical += try reference(StageWork.Payload(work: work))
        canonical += Array("\n\(dependencies.joined(separator: ","))".utf8)
        return StageHashing.sha256(canonical)
    }

    @Test func everyWorkValueAndItsMutationsEncodeAsJSONEncoderDoes() throws {
        var checked = 0
        for plan in [try StageWorkTests.everyKind(), try StageWorkTests.imageFolder()] { for stage in plan.stages {
            let depHashes = stage.deps.map { d in plan.stage(d)!.hash }
            #expect(try StageHashing.hash(stage.work, dependencies: depHashes) == Self.referenceHash(stage.work, dependencies: depHashes))
            let json = try JSONDecoder().decode(JSONValue.self, from: Data(Self.reference(StageWork.Payload(work: stage.work))))
            for mutated in StageWorkTests.mutations(of: json) {
                let data = try JSONEncoder().encode(mutated)
                guard let work = try? StageWork.decode(stage.kind, from: JSONDecoderBox.decoder(data)) else { continue }
                #expect(try StageHashing.canonicalJSON(work) == Self.reference(StageWork.Payload(work: work)),
                        "\(stage.kind.rawValue): \(String(decoding: data, as: UTF8.self))")
                #expect(try StageHashing.hash(work, dependencies: depHashes) == Self.referenceHash(work, dependencies: depHashes))
                checked += 1
            }
        } }
        #expect(checked > 200)
    }

    static let strings = ["", "plain", "a/b\\c", "quote \" inside", "tab\tnew\nline\r", "\u{08}\u{0C}\u{00}\u{01}\u{1F}\u{7F}",
                          "é ü 漢字 🙂", "key_with_underscore", "Key", "key", "k10", "k9", "a b", "~"]
    static let doubles: [Double] = [0, -0.0, 1, -1, 0.1, 1e-5, 3e-4, 1.5, 1e16, 1e22, 1.7976931348623157e308, 5e-324,
                                    2.2250738585072014e-308, 123456789.125, -2.5e-7, 100, 1e100, Double(Int64.max)]
    static let ints = [0, 1, -1, 42, Int.max, Int.min, 1_000_000]

    /// Values of every shape: nested objects (keys out of order, to be sorted), lists, every scalar.
    static func values() -> [JSONValue] {
        var rng = SystemRandomNumberGenerator()
        var out: [JSONValue] = strings.map(JSONValue.string) + doubles.map(JSONValue.double) + ints.map(JSONValue.int)
            + [.null, .bool(true), .bool(false), .list([]), .object([])]
        func random(_ depth: Int) -> JSONValue {
            switch Int.random(in: 0..<(depth > 3 ? 5 : 7), using: &rng) {
            case 0: return .string(strings.randomElement(using: &rng)!)
            case 1: return .double(doubles.randomElement(using: &rng)!)
            case 2: return .int(ints.randomElement(using: &rng)!)
            case 3: return .bool(Bool.random(using: &rng))
            case 4: return .null
            case 5: return .list((0..<Int.random(in: 0...4, using: &rng)).map { _ in random(depth + 1) })
            default:
                let keys = Set((0..<Int.random(in: 0...6, using: &rng)).map { _ in strings.randomElement(using: &rng)! })
                return .object(keys.shuffled(using: &rng).map { JSONValue.Entry(key: $0, value: random(depth + 1)) })
            }
        }
        for _ in 0..<2000 { out.append(random(0)) }
        return out
    }

    @Test func oddStringsNumbersAndShapesEncodeAsJSONEncoderDoes() throws {
        for value in Self.values() {
            #expect(try CanonicalJSON.encode(value) == Self.reference(value), "\(value)")
        }
        // Plain Swift values: optionals (absent keys), dictionaries, nested arrays, floats.
        struct Sample: Encodable {
            var name: String
            var rate: Double?
            var ratio: Float
            var small: Int8
            var big: UInt64
            var table: [String: [Int]]
            var byNumber: [Int: String]
            var flags: [Bool?]
        }
        let samples = [
            Sample(name: "x/y", rate: nil, ratio: 0.1, small: -3, big: .max, table: ["b": [1, 2], "a": [], "B": [3]],
                   byNumber: [10: "ten", 9: "nine"], flags: [true, nil, false]),
            Sample(name: "", rate: 1e-7, ratio: 3, small: 0, big: 0, table: [:], byNumber: [:], flags: []),
        ]
        let numbers = Self.doubles.map { Sample(name: "n", rate: $0, ratio: Float($0).isFinite ? Float($0) : 1, small: 1, big: 1, table: [:], byNumber: [:], flags: []) }
        for s in samples + numbers { #expect(try CanonicalJSON.encode(s) == Self.reference(s), "\(s)") }
    }

    @Test func nonFiniteNumbersAreRefused() {
        #expect(throws: EncodingError.self) { try CanonicalJSON.encode([Double.nan]) }
        #expect(throws: EncodingError.self) { try CanonicalJSON.encode(["x": Double.infinity]) }
    }
}
