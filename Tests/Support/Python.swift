// TestSupport — the Python side of the tests: one cached virtual environment
// outside the source tree (numpy, safetensors, and on request torch, torchvision,
// onnx, onnxruntime, pillow), made and pip-installed by this code on first use and
// reused by every later run. These are the reference implementations tlc's numbers
// are checked against.
import Foundation

/// The Python packages a test can ask for (pip names).
public enum PythonPackage: String, CaseIterable, Sendable {
    case numpy, safetensors, torch, torchvision, onnx, onnxruntime, pillow

    /// What `import` proves the package is there.
    var importName: String {
        switch self {
        case .safetensors: "safetensors.numpy"
        case .pillow: "PIL"
        default: rawValue
        }
    }
}

/// The test virtual environment: `$TLC_TEST_VENV`, else `~/.cache/tlc/test-venv`.
public enum PythonEnvironment {
    public static var folder: String {
        if let v = ProcessInfo.processInfo.environment["TLC_TEST_VENV"], !v.isEmpty { return v }
        return NSHomeDirectory() + "/.cache/tlc/test-venv"
    }
    public static var python: String { folder + "/bin/python" }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var ready: Set<PythonPackage> = []

    /// Makes sure the environment exists with `packages` importable. Tests of this
    /// process share one lock; other processes (test runs side by side) wait on a
    /// file lock, so two never pip-install into the environment at once.
    public static func prepare(_ packages: Set<PythonPackage>) throws {
        lock.lock(); defer { lock.unlock() }
        let wanted = packages.union([.numpy, .safetensors])
        if wanted.isSubset(of: ready) { return }
        try FileManager.default.createDirectory(atPath: (folder as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        let lockFile = folder + ".lock"
        let fd = open(lockFile, O_CREAT | O_RDWR, 0o644)
        guard fd >= 0 else { throw PythonError.setup("cannot open \(lockFile)") }
        defer { close(fd) }
        flock(fd, LOCK_EX); defer { flock(fd, LOCK_UN) }

        if !FileManager.default.isExecutableFile(atPath: python) {
            let made = try run(["python3", "-m", "venv", folder])
            guard made.status == 0 else { throw PythonError.setup("python3 -m venv \(folder) failed:\n\(made.output)") }
        }
        let missing = wanted.filter { !ready.contains($0) }.sorted { $0.rawValue < $1.rawValue }
            .filter { (try? run([python, "-c", "import \($0.importName)"]).status) != 0 }
        if !missing.isEmpty {
            // torch comes from a CPU-only wheel where one is offered (PIP_FIND_LINKS), so
            // pip never pulls CUDA libraries; the rest come from PyPI.
            let installed = try run([python, "-m", "pip", "install", "-q"] + missing.map(\.rawValue))
            guard installed.status == 0 else {
                throw PythonError.setup("pip install \(missing.map(\.rawValue).joined(separator: " ")) failed:\n\(installed.output)")
            }
        }
        ready.formUnion(wanted)
    }

    /// Runs `args` and returns the exit status and the combined output.
    static func run(_ args: [String], environment: [String: String]? = nil) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        if let environment { p.environment = environment }
        let pipe = Pipe()
        p.standardOutput = pipe; p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

public enum PythonError: Error, CustomStringConvertible {
    case setup(String)
    public var description: String {
        switch self { case .setup(let m): "test Python environment: \(m)" }
    }
}

/// Runs `script` with the test environment's python, after making sure `packages`
/// (and always numpy and safetensors) import. Two threads, like the engine's tests,
/// so reference numbers do not depend on the machine's core count.
public func pythonScript(_ script: String, needs packages: Set<PythonPackage> = []) throws -> (status: Int32, output: String) {
    try PythonEnvironment.prepare(packages)
    var env = ProcessInfo.processInfo.environment
    env["OMP_NUM_THREADS"] = env["OMP_NUM_THREADS"] ?? "2"
    // The allocator settings a benchmark gives tlc (Benchmarks/) are not PyTorch's.
    env["GLIBC_TUNABLES"] = nil
    return try PythonEnvironment.run([PythonEnvironment.python, "-c", script], environment: env)
}

/// Runs python with numpy and safetensors (the checkpoint and data tests' partner).
public func pythonWithSafetensors(_ script: String) throws -> (status: Int32, output: String) {
    try pythonScript(script)
}
