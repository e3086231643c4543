// swift-tools-version: 6.1
import PackageDescription

/// RewardFlow: graph-based dense rewards for agentic RL rollouts.
///
/// Stages: rows → `StateGraph` → `Propagator` → values → `RewardExtractor` → per-row outputs.
/// The numerical kernels run on OpenBLAS, LAPACKE and SuiteSparse through thin shim targets.
let package = Package(
    name: "RewardFlow",
    products: [
        .library(name: "RewardFlow", targets: ["RewardFlow"]),
        // Seeded synthetic rollout batches (`rewardflow synth`, the tests, the benchmarks).
        .library(name: "RewardFlowSynthesis", targets: ["RewardFlowSynthesis"]),
        .executable(name: "rewardflow", targets: ["rewardflow"]),
    ],
    dependencies: [
        // The CLI's argument parsing (subcommands, help, usage errors); only the executable uses it.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // File descriptors (open/read/write/close with EINTR retried) of the library's I/O.
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CLAPACKE", path: "Sources/CLAPACKE", pkgConfig: "lapacke",
            providers: [.apt(["liblapacke-dev"])]),
        .systemLibrary(
            name: "CSuiteSparse", path: "Sources/CSuiteSparse",
            providers: [.apt(["libsuitesparse-dev"])]),
        // The JSONL scanner's SIMD kernel (header-only C: SSE2 intrinsics).
        .systemLibrary(name: "CJSONScan", path: "Sources/CJSONScan"),
        .target(
            name: "RewardFlow",
            dependencies: ["CBLAS", "CLAPACKE", "CSuiteSparse", "CJSONScan", .product(name: "SystemPackage", package: "swift-system")],
            path: "Sources/RewardFlow"),
        .target(
            name: "RewardFlowSynthesis",
            dependencies: ["RewardFlow", .product(name: "SystemPackage", package: "swift-system")],
            path: "Sources/RewardFlowSynthesis"),
        .systemLibrary(name: "CRewardFlowAPI", path: "Sources/CRewardFlowAPI"),
        .target(
            name: "RewardFlowC",
            dependencies: ["RewardFlow", "CRewardFlowAPI"],
            path: "Sources/RewardFlowC"),
        .executableTarget(
            name: "rewardflow",
            dependencies: ["RewardFlow", "RewardFlowSynthesis", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Sources/rewardflow"),
        .testTarget(
            name: "RewardFlowTests",
            dependencies: ["RewardFlow", "RewardFlowSynthesis", "RewardFlowC", "CRewardFlowAPI", "rewardflow"],
            path: "Tests/RewardFlowTests"),
    ]
)
