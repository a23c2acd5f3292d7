// A stage found by its work's fingerprint is the stage its hash would name: equal
// fingerprints for the same work, different ones whenever the hash differs (a
// negative zero included, which compares equal to zero).
import Foundation
import Testing
@testable import Jobs

@Suite struct WorkFingerprintTests {
    @Test func fingerprintsAgreeWithHashes() throws {
        var hashByFingerprint: [WorkFingerprint: String] = [:]
        var fingerprintByHash: [String: WorkFingerprint] = [:]
        func check(_ work: StageWork, _ deps: [String]) throws {
            let f = try WorkFingerprint(work, dependencies: deps)
            let h = try StageHashing.hash(work, dependencies: deps)
            #expect(try WorkFingerprint(work, dependencies: deps) == f)
            if let known = hashByFingerprint[f] { #expect(known == h, "\(work)") }
            if let known = fingerprintByHash[h] { #expect(known == f, "\(work)") }
            hashByFingerprint[f] = h
            fingerprintByHash[h] = f
        }
        for plan in [try StageWorkTests.everyKind(), try StageWorkTests.imageFolder()] { for stage in plan.stages {
            let deps = stage.deps.map { plan.stage($0)!.hash }
            try check(stage.work, deps)
            try check(stage.work, deps.reversed() + ["0"])
            let json = try JSONDecoder().decode(JSONValue.self, from: Data(StageHashing.canonicalJSON(stage.work)))
            for mutated in StageWorkTests.mutations(of: json) {
                guard let work = try? StageWork.decode(stage.kind, from: JSONDecoderBox.decoder(JSONEncoder().encode(mutated))) else { continue }
                try check(work, deps)
            }
        } }
        #expect(hashByFingerprint.count > 200)
    }

    @Test func negativeZeroIsNotZero() throws {
        let plan = try StageWorkTests.everyKind()
        guard case .train(var work)? = plan.stages.first(where: { $0.kind == .train })?.work else { Issue.record("no train stage"); return }
        work.l2sp = 0
        let zero = try WorkFingerprint(.train(work), dependencies: [])
        work.l2sp = -0.0
        #expect(try WorkFingerprint(.train(work), dependencies: []) != zero)
    }
}
