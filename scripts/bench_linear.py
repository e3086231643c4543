#!/usr/bin/env python3
"""Per-backend timings of the linear operators (README "Linear operators").

    python3 scripts/bench_linear.py BINARY INPUT.jsonl [RUNS]

Runs `BINARY score INPUT --operator OP --solver S --explain` RUNS times per (operator, backend)
and prints the minimum and median of the solve time (the operator's own stages from --explain:
assembly, factorisation / sweeps, solve, residual check) and of the whole CLI run (reading,
graph building, extraction and writing included). The output goes to a temporary file, never
to /dev/null (the CLI writes atomically by renaming a temporary file over its output path).
"""
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

SOLVE = re.compile(r"^time (assemble|acyclic|dense|direct|iterative|cholmod|power|residual)")
CASES = [
    ("discounted", ["direct", "iterative", "dense", "auto"]),
    ("diffusion", ["direct", "dense", "auto"]),
    ("pagerank", ["auto"]),
]


def main() -> None:
    binary, data = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 15
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.jsonl")
        core = ""
        for op, solvers in CASES:
            for solver in solvers:
                walls, solves, info = [], [], ""
                for _ in range(runs):
                    start = time.perf_counter()
                    p = subprocess.run(
                        [binary, "score", data, "--operator", op, "--solver", solver, "--explain", "-o", out],
                        capture_output=True, text=True, check=True)
                    walls.append(time.perf_counter() - start)
                    lines = p.stderr.splitlines()
                    solves.append(sum(float(line.split()[-2]) for line in lines if SOLVE.match(line)))
                    info = "; ".join(line for line in lines if line.startswith(("backend", "iterations")))
                    core = next((line for line in lines if "OpenBLAS kernels" in line), core)
                print(f"{op:10s} {solver:9s} solve min {min(solves) * 1e3:6.2f} ms, median "
                      f"{statistics.median(solves) * 1e3:6.2f} ms | whole run min {min(walls) * 1e3:6.1f} ms, "
                      f"median {statistics.median(walls) * 1e3:6.1f} ms | {info}")
        print(core.replace("note: ", ""), f"| {os.cpu_count()} cores | {runs} runs each")


if __name__ == "__main__":
    main()
