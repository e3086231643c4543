#!/usr/bin/env python3
"""JSONL parse against simdjson (issue 16, "JSONL at memory speed").

Runs side by side, alternating, on the same 1M-row JSONL batch:

  * Benchmarks/simdjson_columns (simdjson 3.0.1 On-Demand, Debian 12's libsimdjson-dev) parsing
    the file into the same columns as our reader, `--no-intern` and `--intern`, each built twice:
    `portable` (plain -O3: simdjson's header-only On-Demand code then compiles its `fallback`
    scalar kernel, since baseline x86-64 has no SSE4.2/PCLMUL/AVX2) and `native` (-O3
    -march=native: the kernel for this CPU, e.g. haswell or icelake);
  * our reader's parse stage: `rewardflow time FILE --repeat 3`, field `parse` (median of its
    repeats; includes reading the file, so it is compared with simdjson's load_s + parse_s);
  * our end to end: `rewardflow score FILE --advantage mean_norm -o OUT --quiet` (wall clock,
    output deleted before each run; its peak RSS and CPU time from wait4), plus one run with
    `--explain` for the stage times;
  * our in-memory score of 1M rows with 64-bit keys (`rewardflow time --synth-groups 3800 --keys
    --repeat 11`, field `score`).

Prints medians over --repeat rounds, the load average before and after, and the ratios
ours / simdjson+intern (issue 16's target: <= 1.5x) and ours / simdjson no-intern.
Standard library only. Needs g++ and libsimdjson-dev (scripts/setup installs it).

  python3 scripts/bench_jsonl.py --bin .build/release/rewardflow --file /tmp/batch.jsonl
"""

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE = os.path.join(ROOT, "Benchmarks", "simdjson_columns", "simdjson_columns.cpp")
SYNTH = ["--groups", "3800", "--rollouts", "8", "--max-steps", "50", "--seed", "7"]
VARIANTS = {
    "portable": ["-O3"],
    "native": ["-O3", "-march=native"],
}
E2E_TARGET_S = 0.5
RATIO_TARGET = 1.5
RSS_TARGET_MB = 200
KEYS_TARGET_MS = 50


def build(cxx, variant, flags):
    """Compiles the anchor into a temp dir keyed by source and flags (reused when present)."""
    with open(SOURCE, "rb") as f:
        key = hashlib.sha256(f.read() + " ".join([cxx] + flags).encode()).hexdigest()[:16]
    out_dir = os.path.join(tempfile.gettempdir(), "rewardflow-simdjson-columns")
    os.makedirs(out_dir, exist_ok=True)
    exe = os.path.join(out_dir, f"simdjson_columns-{variant}-{key}")
    if not os.path.exists(exe):
        cmd = [cxx, *flags, "-std=c++17", "-pthread", SOURCE, "-o", exe + ".tmp", "-lsimdjson"]
        print("build:", " ".join(cmd), file=sys.stderr)
        subprocess.run(cmd, check=True)
        os.replace(exe + ".tmp", exe)
    return exe


def run_measured(cmd):
    """Wall seconds, peak RSS (KB) and user + system CPU seconds of one run of `cmd`."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"bench_jsonl: {' '.join(cmd)} exited with {proc.returncode}")
    return wall, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def run_json(cmd):
    res = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(res.stdout)


def med(xs):
    return statistics.median(xs)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=".build/release/rewardflow", help="rewardflow binary")
    ap.add_argument("--file", help="JSONL batch to reuse (generated with the 1M-row synth options if missing)")
    ap.add_argument("--repeat", type=int, default=5, help="alternating rounds (default 5)")
    ap.add_argument("--time-repeat", type=int, default=3, help="`rewardflow time --repeat` (default 3)")
    ap.add_argument("--variants", default="portable,native", help="simdjson builds: portable,native")
    ap.add_argument("--batch-size", type=int, default=1000000, help="simdjson iterate_many window (bytes)")
    ap.add_argument("--cxx", default=os.environ.get("CXX", "g++"))
    ap.add_argument("--no-e2e", action="store_true", help="skip the end-to-end score runs")
    ap.add_argument("--json", action="store_true", help="also print the medians as one JSON line")
    args = ap.parse_args()

    rf = os.path.abspath(args.bin)
    if not os.access(rf, os.X_OK):
        sys.exit(f"bench_jsonl: no rewardflow binary at {rf} (swift build -c release, or --bin)")
    variants = [v for v in args.variants.split(",") if v]
    for v in variants:
        if v not in VARIANTS:
            sys.exit(f"bench_jsonl: unknown variant {v!r} (portable, native)")

    tmp = tempfile.mkdtemp(prefix="bench_jsonl-")
    try:
        path = args.file or os.path.join(tmp, "batch.jsonl")
        if not os.path.exists(path):
            print(f"synth: {path}", file=sys.stderr)
            subprocess.run([rf, "synth", *SYNTH, "-o", path, "--quiet"], check=True)
        size = os.path.getsize(path)
        exes = {v: build(args.cxx, v, VARIANTS[v]) for v in variants}
        out = os.path.join(tmp, "scored.jsonl")

        load_before = os.getloadavg()
        started = time.strftime("%H:%M:%S")
        sj = {(v, m): {"load": [], "parse": [], "total": []} for v in variants for m in ("no-intern", "intern")}
        ours_parse, ours_e2e, ours_rss, ours_cpu, ours_keys, stages = [], [], [], [], [], {}
        rows = None
        checks = {}
        for r in range(args.repeat):
            for v in variants:
                for m in ("no-intern", "intern"):
                    d = run_json([exes[v], "--" + m, "--batch-size", str(args.batch_size), path])
                    s = sj[(v, m)]
                    s["load"].append(d["load_s"])
                    s["parse"].append(d["parse_s"])
                    s["total"].append(d["load_s"] + d["parse_s"])
                    rows = d["rows"]
                    checks[(v, m)] = (d["rows"], d["step_sum"], d["reward_sum"], d["inactive"],
                                      d.get("distinct_states"), d["ondemand_kernel"])
            d = run_json([rf, "time", path, "--repeat", str(args.time_repeat)])
            ours_parse.append(d["parse"])
            if d["rows"] != rows:
                sys.exit(f"bench_jsonl: row counts differ: rewardflow {d['rows']}, simdjson {rows}")
            if not args.no_e2e:
                if os.path.exists(out):
                    os.remove(out)  # a fresh file each run (replacing one costs extra at rename)
                wall, rss_kb, cpu = run_measured([rf, "score", path, "--advantage", "mean_norm", "-o", out, "--quiet"])
                ours_e2e.append(wall)
                ours_rss.append(rss_kb)
                ours_cpu.append(cpu)
                os.remove(out)
                explained = subprocess.run([rf, "score", path, "--advantage", "mean_norm", "-o", out, "--explain"],
                                           check=True, capture_output=True, text=True).stderr
                for line in explained.splitlines():
                    if line.startswith("time "):  # "time read: 0.61 s (cpu 1.05 s)"
                        name, rest = line[5:].split(":", 1)
                        words = rest.replace("(", " ").split()
                        cpu = float(words[words.index("cpu") + 1]) if "cpu" in words else float("nan")
                        stages.setdefault(name.strip(), []).append((float(words[0]), cpu))
            keyed = run_json([rf, "time", "--synth-groups", "3800", "--keys", "--repeat", "11"])
            ours_keys.append(keyed["score"])
            print(f"round {r + 1}/{args.repeat} done, load {os.getloadavg()[0]:.2f}", file=sys.stderr)
        load_after = os.getloadavg()

        print(f"file: {path} ({size / 1e6:.0f} MB, {rows:,} rows); rounds: {args.repeat}, "
              f"alternating; {started}-{time.strftime('%H:%M:%S')}")
        print("load average before: %.2f %.2f %.2f, after: %.2f %.2f %.2f" % (*load_before, *load_after))
        for (v, m), c in checks.items():
            print(f"simdjson {v} {m}: kernel {c[5]}, rows {c[0]}, step_sum {c[1]}, reward_sum {c[2]}, "
                  f"inactive {c[3]}, distinct_states {c[4]}")
        print()
        print("| reader | load (s) | parse (s) | load + parse (s) |")
        print("|---|---|---|---|")
        for (v, m), s in sj.items():
            print(f"| simdjson {v} {m} | {med(s['load']):.3f} | {med(s['parse']):.3f} | {med(s['total']):.3f} |")
        p = med(ours_parse)
        print(f"| rewardflow `time` parse (reads the file) | — | — | {p:.3f} |")
        if ours_e2e:
            print(f"| rewardflow `score` end to end (wall) | — | — | {med(ours_e2e):.3f} |")
            print()
            print(f"end to end: peak RSS {med(ours_rss) / 1024:.0f} MB (max {max(ours_rss) / 1024:.0f} MB; "
                  f"target <= {RSS_TARGET_MB} MB), CPU (user + sys) {med(ours_cpu):.3f} s = "
                  f"{med(ours_cpu) / med(ours_e2e):.2f} cores busy on average")
            print("stages of `score --explain` (medians, wall s / CPU s of every thread): "
                  + ", ".join(f"{name} {med([w for w, _ in xs]):.3f} / {med([c for _, c in xs]):.3f}"
                              for name, xs in stages.items()))
        print(f"in-memory score, 1M rows, 64-bit keys (`rewardflow time --synth-groups 3800 --keys`, field "
              f"`score`): {1e3 * med(ours_keys):.1f} ms (target <= {KEYS_TARGET_MS} ms)")
        print()
        print("| ratio | value |")
        print("|---|---|")
        summary = {"rows": rows, "ours_parse": p, "load_before": load_before, "load_after": load_after}
        for v in variants:
            ti, tn = med(sj[(v, "intern")]["total"]), med(sj[(v, "no-intern")]["total"])
            pi, pn = med(sj[(v, "intern")]["parse"]), med(sj[(v, "no-intern")]["parse"])
            print(f"| ours / simdjson {v} intern (load + parse) | {p / ti:.2f}x "
                  f"({'within' if p / ti <= RATIO_TARGET else 'over'} the {RATIO_TARGET}x target) |")
            print(f"| ours / simdjson {v} no-intern (load + parse) | {p / tn:.2f}x |")
            print(f"| ours / simdjson {v} intern (parse alone) | {p / pi:.2f}x |")
            print(f"| ours / simdjson {v} no-intern (parse alone) | {p / pn:.2f}x |")
            for m in ("no-intern", "intern"):
                summary[f"simdjson_{v}_{m}"] = {k: med(x) for k, x in sj[(v, m)].items()}
        if ours_e2e:
            e = med(ours_e2e)
            summary["ours_e2e"] = e
            print(f"| ours end to end / {E2E_TARGET_S} s target | {e / E2E_TARGET_S:.2f}x "
                  f"({'met' if e <= E2E_TARGET_S else 'not met'}) |")
            print(f"| ours parse stage / {E2E_TARGET_S} s | {p / E2E_TARGET_S:.2f}x "
                  f"({'within' if p <= E2E_TARGET_S else 'over'}) |")
        print()
        print("runs (s): ours parse " + ", ".join(f"{x:.3f}" for x in ours_parse)
              + ("; ours end to end " + ", ".join(f"{x:.3f}" for x in ours_e2e) if ours_e2e else ""))
        if args.json:
            print(json.dumps(summary))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
