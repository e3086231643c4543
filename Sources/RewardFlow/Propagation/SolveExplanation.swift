/// What a scoring run solved, for `--explain`: backend → (groups, nodes, nonzeros), iterations,
/// final residual, and wall-clock seconds per stage.
package struct SolveExplanation: Sendable, CustomStringConvertible {
    /// One backend's share of the batch.
    package struct BackendUse: Sendable, Equatable {
        /// Backend name: `acyclic`, `dense`, `direct`, `iterative`, `cholmod`, `power`, ….
        package var backend: String
        /// Number of groups it solved.
        package var groups: Int
        /// Number of graph nodes (unknowns) in those groups.
        package var nodes: Int
        /// Stored nonzeros of the matrix it worked on (0 when not meaningful).
        package var nonzeros: Int
    }

    /// One timed stage of the pipeline.
    package struct Stage: Sendable, Equatable {
        /// Stage name, e.g. `graph`, `direct: factorise`.
        package var name: String
        /// Wall-clock seconds.
        package var seconds: Double
        /// CPU seconds of the whole process (user + system, every thread) during the stage:
        /// `cpuSeconds / seconds` is how many cores were busy on average.
        package var cpuSeconds: Double = 0
    }

    /// The operator and its parameter, e.g. `discounted (gamma 0.9)`.
    package var operatorDescription = ""
    /// Groups, nodes and edges of the state graph (0 for graph-free operators).
    package var groups = 0, nodes = 0, edges = 0
    /// The backends used, in the order they ran.
    package var backends: [BackendUse] = []
    /// Sweeps of an iterative method (power iteration, Jacobi), when one ran.
    package var iterations: Int?
    /// The final residual (`‖A·x − b‖∞` of the linear operators; PageRank: the last sweep's
    /// largest per-group change `‖x_{k+1} − x_k‖₁`).
    package var residual: Double?
    /// What `residual` measures.
    package var residualDescription = ""
    /// Timed stages, in order.
    package var stages: [Stage] = []
    /// Free-form remarks (thresholds applied, library facts).
    package var notes: [String] = []
    /// Threads the run's parallel loops were given (`ScoringOptions.threads` resolved; 0 until
    /// a scorer has run).
    package var threads = 0

    /// An empty explanation.
    package init() {}

    /// Adds (or extends) the row of `backend`.
    mutating func record(_ backend: String, groups: Int, nodes: Int, nonzeros: Int = 0) {
        guard groups > 0 else { return }
        if let i = backends.firstIndex(where: { $0.backend == backend }) {
            backends[i].groups += groups
            backends[i].nodes += nodes
            backends[i].nonzeros += nonzeros
        } else {
            backends.append(BackendUse(backend: backend, groups: groups, nodes: nodes, nonzeros: nonzeros))
        }
    }

    /// Runs `body` and appends its wall-clock time as stage `name`.
    package mutating func time<T, E: Error>(_ name: String, _ body: () throws(E) -> T) throws(E) -> T {
        let clock = ContinuousClock()
        let start = clock.now, startCPU = Self.processCPUSeconds()
        defer {
            let d = clock.now - start
            let seconds = Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
            stages.append(Stage(name: name, seconds: seconds, cpuSeconds: Self.processCPUSeconds() - startCPU))
        }
        return try body()
    }

    /// User + system CPU seconds of the process so far (every thread).
    private static func processCPUSeconds() -> Double { ProcessQueries.cpuSeconds() }

    /// A few lines for a terminal.
    package var description: String {
        var lines = ["operator: \(operatorDescription)"]
        if groups > 0 || nodes > 0 { lines.append("graph: \(groups) groups, \(nodes) nodes, \(edges) edges") }
        for b in backends {
            var line = "backend \(b.backend): \(b.groups) group\(b.groups == 1 ? "" : "s"), \(b.nodes) nodes"
            if b.nonzeros > 0 { line += ", \(b.nonzeros) nonzeros" }
            lines.append(line)
        }
        if let iterations { lines.append("iterations: \(iterations)") }
        if let residual { lines.append("residual: \(residual)\(residualDescription.isEmpty ? "" : " (\(residualDescription))")") }
        for s in stages { lines.append("time \(s.name): \(Self.format(s.seconds)) s (cpu \(Self.format(s.cpuSeconds)) s)") }
        for n in notes { lines.append("note: \(n)") }
        return lines.joined(separator: "\n")
    }

    private static func format(_ seconds: Double) -> String {
        let micro = (seconds * 1e6).rounded()
        let whole = Int(micro) / 1_000_000, frac = Int(micro) % 1_000_000
        let digits = String(frac)
        return "\(whole).\(String(repeating: "0", count: 6 - digits.count))\(digits)"
    }
}
