#!/usr/bin/env python3
"""Similarity merging (SPEC 2.1): the engine against the reference's Python greedy loop.

The reference clusters a group's state occurrences (trajectory order, then position, over the
SPEC 2 sequences) with one `difflib.SequenceMatcher(None, state, rep).ratio() >= T` call per
(occurrence, cluster) pair (`extract_unique_states(..., use_similarity=True)`). This script times

  * that loop with the standard library's difflib: the reference's own function when
    `--reference CHECKOUT` can be imported (it needs torch, PIL and verl), else a restatement;
  * the same loop with `cydifflib` (an exact C port of difflib), when it can be imported;
  * `rewardflow score INPUT --similarity T` end to end (read, cluster, graph, solve, write) and
    its similarity stage alone (`--explain`), median of `--runs` runs;

and checks that the cydifflib loop finds the same clusters as the difflib loop. (That the
engine's clusters are the greedy loop's is tested in Tests/RewardFlowTests/SimilarityTests.swift
and by the conformance cases options/similar_states_*.)

The Python loops are slow (hours on a 128-group batch), so they run on the first `--py-groups`
groups and their time is scaled by (occurrences of all groups) / (occurrences timed): per
group cost is linear in the group count since groups are independent. The printed ratios say so.

    swift build -c release
    .build/release/rewardflow synth --groups 128 --rollouts 8 --max-steps 30 --perturb 0.3 --seed 1 -o /tmp/sim128.jsonl
    python3 scripts/bench_similarity.py .build/release/rewardflow /tmp/sim128.jsonl --py-groups 4
    # with cydifflib (never into the system python):
    python3 -m venv /tmp/simvenv && /tmp/simvenv/bin/pip install cydifflib
    /tmp/simvenv/bin/python scripts/bench_similarity.py .build/release/rewardflow /tmp/sim128.jsonl
"""
import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict


def sequences(path):
    """Per group (first appearance), the state occurrences of the SPEC 2 sequences."""
    groups = OrderedDict()
    with open(path, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            trajs = groups.setdefault(r["group"], OrderedDict())
            trajs.setdefault(r["trajectory"], []).append((r["step"], r["state"], r.get("active", True)))
    out = []
    for trajs in groups.values():
        occ = []
        for rows in trajs.values():
            rows.sort()
            n = len(rows)
            m = next((j for j, row in enumerate(rows) if not row[2]), n)
            if m < n:
                n = min(max(m, 1) + 1, n)
            occ.extend(row[1] for row in rows[:n])
        out.append(occ)
    return out


def greedy(states, threshold, matcher):
    """The reference's greedy loop: first cluster whose first element has ratio >= T."""
    clusters = []
    for s in states:
        for c in clusters:
            if matcher(None, s, c[0]).ratio() >= threshold:
                c.append(s)
                break
        else:
            clusters.append([s])
    return clusters


def reference_loop(path):
    """The reference's `extract_unique_states` from a checkout, or None when it cannot load."""
    if not path:
        return None
    file = os.path.join(path, "agent_system", "multi_turn_rollout", "utils.py")
    try:
        spec = importlib.util.spec_from_file_location("reference_utils", file)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.extract_unique_states
    except Exception as error:  # torch, PIL, verl are not needed here otherwise
        print(f"--reference: cannot import {file} ({type(error).__name__}: {error}); using the restatement", file=sys.stderr)
        return None


def time_loop(groups, threshold, matcher, reference=None):
    start = time.perf_counter()
    counts = []
    for occ in groups:
        if reference is not None:
            clusters, _, _ = reference([[{"state": s} for s in occ]], use_similarity=True, similarity_threshold=threshold)
        else:
            clusters = greedy(occ, threshold, matcher)
        counts.append(len(clusters))
    return time.perf_counter() - start, counts


def engine(binary, path, threshold, runs):
    totals, stages = [], []
    out = tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False).name
    for _ in range(runs):
        start = time.perf_counter()
        p = subprocess.run([binary, "score", path, "--similarity", str(threshold), "--quiet", "--explain", "-o", out],
                           capture_output=True, text=True, check=True)
        totals.append(time.perf_counter() - start)
        for line in p.stderr.splitlines():
            if line.strip().startswith("time similarity:"):
                stages.append(float(line.split(":")[1].split()[0]))
    os.unlink(out)
    return statistics.median(totals), statistics.median(stages) if stages else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary")
    ap.add_argument("input")
    ap.add_argument("--threshold", type=float, default=0.95)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--py-groups", type=int, default=4, help="groups the Python loops are timed on")
    ap.add_argument("--reference", default=os.environ.get("REWARDFLOW_REFERENCE"))
    args = ap.parse_args()

    groups = sequences(args.input)
    timed = groups[: args.py_groups]
    scale = sum(map(len, groups)) / max(1, sum(map(len, timed)))
    print(f"batch: {len(groups)} groups, {sum(map(len, groups))} occurrences; Python loops timed on "
          f"{len(timed)} groups ({sum(map(len, timed))} occurrences), scaled x{scale:.1f}")

    total, stage = engine(args.binary, args.input, args.threshold, args.runs)
    print(f"engine (median of {args.runs}): end to end {total * 1e3:.1f} ms, similarity stage {stage * 1e3:.1f} ms")

    import difflib
    reference = reference_loop(args.reference)
    seconds, counts = time_loop(timed, args.threshold, difflib.SequenceMatcher, reference)
    name = "reference extract_unique_states" if reference else "greedy loop (restated), difflib"
    full = seconds * scale
    print(f"{name}: {seconds:.2f} s on {len(timed)} groups -> {full:.1f} s for the batch; "
          f"engine end to end {full / total:.0f}x faster, similarity stage {full / stage:.0f}x")
    try:
        import cydifflib
    except ImportError:
        print("cydifflib: not importable here (pip install cydifflib into a venv and run this script with its python)")
    else:
        cy_seconds, cy_counts = time_loop(timed, args.threshold, cydifflib.SequenceMatcher)
        if cy_counts != counts:  # cluster counts per group
            print(f"cydifflib clusters differ from difflib's: {cy_counts} vs {counts}")
        cy_full = cy_seconds * scale
        print(f"greedy loop, cydifflib: {cy_seconds:.2f} s on {len(timed)} groups -> {cy_full:.1f} s for the batch; "
              f"engine end to end {cy_full / total:.0f}x faster, similarity stage {cy_full / stage:.0f}x")
    print(f"clusters per timed group (Python loop): {counts}")


if __name__ == "__main__":
    main()
