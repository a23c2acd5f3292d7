// TestSupport — helpers shared by test targets: running Python with numpy and
// safetensors (installed from PyPI on first use), the interoperability partner
// the checkpoint and data tests check against.
import Foundation

/// Runs python3 with `script` after making sure numpy and safetensors import
/// (pip-installing them when missing). Returns the exit status and the combined output.
public func pythonWithSafetensors(_ script: String) throws -> (status: Int32, output: String) {
    func run(_ args: [String]) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe; p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
    if try run(["python3", "-c", "import numpy, safetensors.numpy"]).0 != 0 {
        _ = try run(["python3", "-m", "pip", "install", "-q", "numpy", "safetensors"])
        if try run(["python3", "-c", "import numpy, safetensors.numpy"]).0 != 0 {
            _ = try run(["python3", "-m", "pip", "install", "-q", "--user", "--break-system-packages", "numpy", "safetensors"])
        }
    }
    return try run(["python3", "-c", script])
}
