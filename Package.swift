// swift-tools-version:6.0
// tlc — a compiler for declarative transfer-learning experiments.
// Layering (one direction only):
//   CYaml ─► FrontEnd ─► Planner ─► Runtime ─► Reporting ─► TLCCommands ─► tlc
//   Jobs (the plan as Codable data: stages and their typed work) ─► Planner, Execution
//   CBLAS, CBLASCore, CMalloc, CZlib, CInt8, CDirectConv, CDepthwiseConv, CDense, CPooling, CBatchNorm, CImageCodec (CJPEG, CPNG) ─► Engine ─► Execution (runs one stage's work) ─► Runtime
//   ONNXProto (onnx.proto's generated Swift) ─► ONNXExport (runs' models as ONNX graphs) ─► TLCCommands
//   ModelZoo (pure architecture descriptions) is shared by FrontEnd, Jobs and Engine.
//   SafeTensorsFormat (the safetensors header, Foundation only) is shared by FrontEnd and Engine.
import PackageDescription

// tlc's own kernels are optimized in debug builds too: every test trains through them.
let optimizedC: [CSetting] = [.unsafeFlags(["-O2"])]

let package = Package(
    name: "tlc",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "tlc", targets: ["tlc"]),
        // For the fuzz target (Fuzz/), a package of its own.
        .library(name: "FrontEnd", targets: ["FrontEnd"]),
        .library(name: "Planner", targets: ["Planner"]),
        .library(name: "Jobs", targets: ["Jobs"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        // The runtime library only; onnx.pb.swift is generated once (`make onnx-proto`) and committed.
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // System libraries (pkg-config names as Debian ships them).
        .systemLibrary(name: "CYaml", path: "Sources/CYaml", pkgConfig: "yaml-0.1",
                       providers: [.apt(["libyaml-dev"])]),
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CMalloc", path: "Sources/CMalloc"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CJPEG", path: "Sources/CJPEG", pkgConfig: "libjpeg",
                       providers: [.apt(["libjpeg62-turbo-dev"])]),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng16",
                       providers: [.apt(["libpng-dev"])]),

        // The integer kernels of the int8 inference path (AVX2 with a portable fallback).
        .target(name: "CInt8", path: "Sources/CInt8", cSettings: optimizedC),
        // A direct stride-1 float convolution and its weight gradient for Conv2D on CPUs with AVX-512 or AVX2.
        .target(name: "CDirectConv", path: "Sources/CDirectConv", cSettings: optimizedC),
        // The depthwise convolution and its gradients for GroupedConv2D (AVX-512, AVX2 or plain C, the same bits).
        .target(name: "CDepthwiseConv", path: "Sources/CDepthwiseConv", cSettings: optimizedC),
        .target(name: "CDense", path: "Sources/CDense", cSettings: optimizedC),
        // Max pooling's forward pass (any window, stride and padding), vectorized by the compiler.
        .target(name: "CPooling", path: "Sources/CPooling", cSettings: optimizedC),
        // A training batch norm's per-channel loops in AVX2 (bitwise BatchNorm's Swift loops, which remain the fallback).
        .target(name: "CBatchNorm", path: "Sources/CBatchNorm", cSettings: optimizedC),
        // OpenBLAS's kernels matched to the CPU when its own detection falls back (recent Xeons get SSE3 kernels).
        .target(name: "CBLASCore", path: "Sources/CBLASCore", linkerSettings: [.linkedLibrary("openblas"), .linkedLibrary("dl")]),
        // JPEG and PNG files to RGB8 as PIL converts them, with setjmp error handling.
        .target(name: "CImageCodec", dependencies: ["CJPEG", "CPNG"], path: "Sources/CImageCodec"),
        // Pure descriptions of the model zoo: layers, names, shapes, counts.
        .target(name: "ModelZoo"),
        // The safetensors header: layout, dtypes, reading and checking, encoding (Foundation only).
        .target(name: "SafeTensorsFormat"),
        // Front end: YAML tree with locations, spec types, validation, extends, overrides, sweeps.
        .target(name: "FrontEnd", dependencies: ["CYaml", "ModelZoo", "SafeTensorsFormat"]),
        // Jobs: the plan as plain Codable data — stages, their typed work values, hashes.
        .target(name: "Jobs", dependencies: [
            "ModelZoo",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // Planner: lowers resolved specs to a plan of stages; plan printing.
        .target(name: "Planner", dependencies: ["FrontEnd", "ModelZoo", "Jobs"]),
        // Engine: tensors, layers, training, data, checkpoints (knows nothing about YAML).
        .target(name: "Engine", dependencies: ["CBLAS", "CBLASCore", "CMalloc", "CZlib", "CInt8", "CDirectConv", "CDepthwiseConv", "CDense", "CPooling", "CBatchNorm", "CImageCodec", "ModelZoo", "SafeTensorsFormat"],
                // Optimized in debug builds too (with its checks): every numeric test runs through it,
                // and unoptimized Swift loops made `make test` the slowest part of CI.
                swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release)),
                                .unsafeFlags(["-O"], .when(configuration: .debug))]),
        // onnx.proto (ONNX 1.23.2's, from the onnx pip package) as Swift, generated by `make onnx-proto`.
        .target(name: "ONNXProto", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
                exclude: ["onnx.proto"]),
        // ONNX export: a run's float, int8 or ensemble model as an ONNX graph (normalization folded in).
        .target(name: "ONNXExport", dependencies: ["ONNXProto", "Engine", "ModelZoo",
                                                   .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        // Execution: carries out one stage's work with the engine (no specs, no planner).
        .target(name: "Execution", dependencies: ["Jobs", "Engine", "ModelZoo"]),
        // Runtime: schedules plans, the stage cache, run directories, Slurm, verify.
        .target(name: "Runtime", dependencies: [
            "Planner", "Jobs", "Execution", "Engine", "FrontEnd", "ModelZoo", "CBLAS",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // Reporting: Mustache templates, SVG charts, HTML/Markdown reports, diffs, starters.
        .target(name: "Reporting", dependencies: [
            "Runtime", "Planner", "Jobs", "FrontEnd",
            .product(name: "Mustache", package: "swift-mustache"),
        ]),
        // The command line, as a library so tests can drive it in-process.
        .target(name: "TLCCommands", dependencies: [
            "FrontEnd", "Planner", "Jobs", "Execution", "Runtime", "Reporting", "ModelZoo", "ONNXExport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "tlc", dependencies: ["TLCCommands", "Engine"]),
        // tlc's float and int8 inference latency per zoo model (Benchmarks/int8-vs-onnxruntime.sh).
        .executableTarget(name: "tlc-inference-latency", dependencies: ["Engine", "ModelZoo"], path: "Benchmarks/InferenceLatency"),

        // Helpers shared by the test targets (Python interoperability).
        .target(name: "TestSupport", path: "Tests/Support"),
        .testTarget(name: "ModelZooTests", dependencies: ["ModelZoo"]),
        .testTarget(name: "SafeTensorsFormatTests", dependencies: ["SafeTensorsFormat"]),
        .testTarget(name: "FrontEndTests", dependencies: ["FrontEnd"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "PlannerTests", dependencies: ["Planner", "Jobs", "FrontEnd", "ModelZoo"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "ModelZoo", "Jobs", "Execution", "TestSupport"]),
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime", "Planner", "Jobs", "Execution", "Engine", "FrontEnd", "ModelZoo", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["TLCCommands", "ONNXExport", "FrontEnd", "Planner", "Jobs", "Execution", "Runtime", "Reporting", "ModelZoo", "Engine", "TestSupport"]),
        .testTarget(name: "ONNXExportTests", dependencies: ["ONNXExport", "Engine", "ModelZoo", "TestSupport"]),
        .testTarget(name: "ReportingTests", dependencies: ["Reporting", "Runtime", "Planner", "Jobs", "FrontEnd"],
                    resources: [.copy("Fixtures")]),
    ]
)
