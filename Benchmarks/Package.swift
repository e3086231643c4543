// swift-tools-version: 6.1
import PackageDescription

/// Benchmarks of the RewardFlow engine (ordo-one/benchmark).
///
/// A nested package, so the library itself never depends on the benchmark harness:
/// `cd Benchmarks && swift package benchmark` (see ../README.md, "Performance").
let package = Package(
    name: "RewardFlowBenchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "RewardFlow", path: "../"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "RewardFlowBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "RewardFlow", package: "RewardFlow"),
                .product(name: "RewardFlowSynthesis", package: "RewardFlow"),
            ],
            path: "Benchmarks/RewardFlowBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
