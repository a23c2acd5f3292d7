// TestSupport — the inputs the committed image experiments (Experiments/images-*.yaml)
// read, made by the project's own scripts: Fashion-MNIST as PNG folders
// (scripts/fashion-images.py) and torchvision state_dicts with torchvision's names
// (scripts/torchvision-weights.py, run with the test environment's torchvision).
import Foundation

public enum ExampleData {
    /// The package root, found from this file's path.
    public static let repositoryRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
        }
        return FileManager.default.currentDirectoryPath
    }()

    private static let lock = NSLock()

    /// Makes `Data/` of the repository (what `make example-data` makes) when it is
    /// missing: one process at a time (a file lock), once per test process.
    public static func prepare() throws {
        lock.lock(); defer { lock.unlock() }
        let data = repositoryRoot + "/Data"
        if FileManager.default.fileExists(atPath: data + "/fashion-images"),
           FileManager.default.fileExists(atPath: data + "/resnet18-torchvision.safetensors") { return }
        try PythonEnvironment.prepare([.torch, .torchvision])
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        let fd = open(data + "/.lock", O_CREAT | O_RDWR, 0o644)
        guard fd >= 0 else { throw PythonError.setup("cannot open \(data)/.lock") }
        defer { close(fd) }
        flock(fd, LOCK_EX); defer { flock(fd, LOCK_UN) }
        var env = ProcessInfo.processInfo.environment
        env["TLC_TEST_VENV"] = PythonEnvironment.folder
        let made = try PythonEnvironment.run([repositoryRoot + "/scripts/example-data.sh", data], environment: env)
        guard made.status == 0 else { throw PythonError.setup("scripts/example-data.sh failed:\n\(made.output)") }
    }

    /// Fashion-MNIST as PNG folders in `folder` (`pretrain/` and `transfer/`, each with
    /// `train/` and `test/`), `train` and `test` images a class, `size`×`size`.
    public static func fashionImages(in folder: String, size: Int = 80, train: Int, test: Int) throws {
        let made = try PythonEnvironment.run(["python3", repositoryRoot + "/scripts/fashion-images.py", folder, "--size", "\(size)",
                                              "--pretrain-train", "\(train)", "--transfer-train", "\(train)", "--test", "\(test)"])
        guard made.status == 0 else { throw PythonError.setup("scripts/fashion-images.py failed:\n\(made.output)") }
    }
}

/// Writes torchvision's `state_dict()` of `arch` (seeded random weights, batch-norm
/// statistics randomized too; `classes` outputs) to `path` with safetensors.
public func torchvisionStateDict(_ arch: String, to path: String, seed: Int = 0, classes: Int = 1000) throws {
    let script = ExampleData.repositoryRoot + "/scripts/torchvision-weights.py"
    let run = try pythonScript("""
        import runpy, sys
        sys.argv = ["\(script)", "\(arch)", "\(path)", "--seed", "\(seed)", "--classes", "\(classes)"]
        runpy.run_path(sys.argv[0], run_name="__main__")
        """, needs: [.torch, .torchvision])
    guard run.status == 0, FileManager.default.fileExists(atPath: path) else {
        throw PythonError.setup("scripts/torchvision-weights.py \(arch) failed:\n\(run.output)")
    }
}
