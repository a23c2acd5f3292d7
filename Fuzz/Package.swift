// swift-tools-version:6.0
// The front end's fuzz target (libFuzzer), a package of its own so that a plain
// `swift build` of tlc never builds it: `make fuzz` builds it with
// `-sanitize=fuzzer` and runs it over a seed corpus of real specs.
import PackageDescription

let package = Package(
    name: "tlc-fuzz",
    platforms: [.macOS(.v13)],
    dependencies: [.package(name: "tlc", path: "..")],
    targets: [
        .executableTarget(name: "FrontEndFuzzer", dependencies: [
            .product(name: "FrontEnd", package: "tlc"),
            .product(name: "Planner", package: "tlc"),
            .product(name: "Jobs", package: "tlc"),
        ]),
    ]
)
