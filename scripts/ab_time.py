#!/usr/bin/env python3
"""The in-memory score of two (or more) builds, side by side: `rewardflow time` alternated.

Each round runs every binary once, in turn, on the same seeded synthetic batch
(`time --synth-groups G --keys --repeat R`: the in-process score and its stages, medians of R
repeats); the rounds' figures are then reduced to medians per binary, and each later binary's
score is set against the first one's. Only the standard library is needed.

    python3 scripts/ab_time.py /tmp/rewardflow-before .build/release/rewardflow --rounds 4
"""
import argparse
import json
import statistics
import subprocess

STAGES = ["index", "graph", "solve", "extract", "advantages", "score", "score_min"]


def run(binary, args):
    command = [binary, "time", "--synth-groups", str(args.groups), "--keys", "--repeat", str(args.repeat)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binaries", nargs="+", help="rewardflow CLIs to compare (the first is the baseline)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=21, help="in-process repeats per run")
    parser.add_argument("--groups", type=int, default=3800, help="synthetic groups (3800: 1,012,121 rows)")
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    results = {b: [] for b in args.binaries}
    reference = None  # the first run's value sum: every build must score the same values
    for r in range(args.rounds):
        for b in args.binaries:
            d = run(b, args)
            reference = d["value_sum"] if reference is None else reference
            if d["value_sum"] != reference:
                raise SystemExit(f"{b}: value sum {d['value_sum']} differs from {reference}")
            results[b].append(d)
            print(f"round {r + 1} {b}: " + " ".join(f"{s} {d[s] * 1e3:.2f}" for s in STAGES), flush=True)
    base = statistics.median(d["score"] for d in results[args.binaries[0]])
    print(f"medians over {args.rounds} rounds (ms), rows {results[args.binaries[0]][0]['rows']:,}:")
    for b in args.binaries:
        row = {s: statistics.median(d[s] for d in results[b]) for s in STAGES}
        line = " ".join(f"{s} {row[s] * 1e3:.2f}" for s in STAGES)
        print(f"  {b}: {line}  score vs first {base / row['score']:.2f}x")


if __name__ == "__main__":
    main()
