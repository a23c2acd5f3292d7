// FrontEndFuzzer — libFuzzer's entry point over what `tlc validate` and `tlc plan`
// do with a spec file: load it (YAML, extends, overrides, sweeps, checks), plan
// it, and print the plan as text and JSON. Any input must end in a plan or in
// located diagnostics; a crash, a hang, or raw Swift error text in a message is a
// finding (the input is kept in Fuzz/findings/ by `make fuzz`).
//
// Input: the spec's text. Lines at the very top of the form `#set PATH=VALUE` are
// also passed as `--set` overrides, so the fuzzer reaches the override parser too.
import Foundation
import FrontEnd
import Jobs
import Planner

/// One folder per fuzzing process for the spec file (relative paths in a spec resolve here).
private let workFolder: String = {
    let folder = NSTemporaryDirectory() + "tlc-fuzz-\(getpid())"
    try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    return folder
}()

/// Sweeps above this many points are refused (a located error like any other):
/// planning a million points is the front-end benchmark's job, and would only slow
/// the fuzzer down.
private let maxSweepPoints = 4096

/// Words that only raw Swift or Foundation errors print: never shown to a user.
private let rawErrorWords = ["NSError", "DecodingError", "EncodingError", "Error Domain", "Swift.", "NSCocoaErrorDomain"]

private func checkMessage(_ text: String, _ input: String) {
    for word in rawErrorWords where text.contains(word) {
        FileHandle.standardError.write(Data("raw error text '\(word)' reached a message:\n\(text)\n".utf8))
        abort()
    }
}

/// libFuzzer's driver (its own `main` is not linked: SwiftPM names this program's
/// entry point, so the driver is started from main.swift).
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<CInt>,
                     _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// One input: load, plan, print; findings abort.
func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Data(bytes: $0, count: size) } ?? Data()
    let text = String(decoding: bytes, as: UTF8.self)
    var overrides: [String] = []
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        guard line.hasPrefix("#set ") else { break }
        overrides.append(String(line.dropFirst(5)))
    }
    let file = workFolder + "/spec.yaml"
    guard FileManager.default.createFile(atPath: file, contents: bytes) else { return 0 }

    var loader = ExperimentLoader()
    loader.maxSweepPoints = maxSweepPoints
    let loaded: LoadedExperiment
    do { loaded = try loader.load(path: file, overrides: overrides) } catch {
        for d in error.diagnostics { checkMessage(d.description, text) }
        return 0
    }
    for d in loaded.warnings { checkMessage(d.description, text) }
    var builder = PlanBuilder()
    builder.bestMayBeUnknown = true
    do {
        let plan = try builder.plan(loaded)
        for w in plan.warnings { checkMessage(w, text) }
        _ = plan.text()
        _ = plan.json()
    } catch {
        checkMessage(error.description, text)
    }
    return 0
}
