#!/usr/bin/env python3
"""Side-by-side speed comparison of the RewardFlow engine with Python, on the same inputs.

Two comparisons, each printing medians and ratios:

A. End to end on a ~1M-row JSONL batch (max-decay, gamma 0.9, mean_norm advantages):
   `rewardflow score` (the Swift CLI) against the fastest Python pipeline we know:
   orjson parse -> numpy assembly (SPEC section 2 for noop-free input) -> one SciPy
   `csgraph.dijkstra` exact solve (super-source over the reversed graph in -log space, then the
   values re-multiplied along the shortest-path tree so they are the same gamma*(gamma*(...r))
   chain the engine computes) -> numpy extraction and advantages -> orjson write.
   Both run as separate processes; wall time (median of --repeat runs) and peak RSS each.

B. The paper batch (16 groups x 8 rollouts x 50 steps): the reference implementation's
   propagation loop (`propagate_reward_decay(..., max_iter=1000)` from tmlr-group/RewardFlow,
   imported from a checkout) against the engine's in-process graph build + exact solve
   (`rewardflow time`, median of many repeats). Values are checked row by row.

Getting the reference (never copied into this repository):
    git clone https://github.com/tmlr-group/RewardFlow /path/to/RewardFlow
    scripts/compare.py --reference /path/to/RewardFlow        (or REWARDFLOW_REFERENCE=...)
Only `rewardflow/propagation.py` is loaded (by file path; it needs networkx). Without a
checkout the script falls back to `restated_sweeps` below: a re-statement of SPEC section 3's
1000-sweep loop written for this project (clearly labelled as such in the output).

Usage:
    swift build -c release && python3 scripts/compare.py --reference /path/to/RewardFlow
Options: --bin PATH (default .build/release/rewardflow), --input FILE (default: synthesise
3800 groups x 8 x 50 = ~1M rows with `rewardflow synth --seed 7`), --repeat N, --workdir DIR.
"""
import argparse
import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
import time

GAMMA = 0.9


# ----------------------------------------------------------------------------------------------
# The Python pipeline (run in a child process by part A)
# ----------------------------------------------------------------------------------------------

def python_pipeline(inp, out, gamma=GAMMA):
    """orjson parse -> numpy assembly -> SciPy dijkstra exact solve -> orjson write."""
    import numpy as np
    import orjson
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra

    with open(inp, "rb") as f:
        recs = [orjson.loads(line) for line in f if line.strip()]
    n = len(recs)
    gid, tid, sid = {}, {}, {}
    G = np.empty(n, np.int64)
    T = np.empty(n, np.int64)
    S = np.empty(n, np.int64)
    step = np.empty(n, np.int64)
    R = np.empty(n, np.float64)
    A = np.empty(n, np.bool_)
    for i, r in enumerate(recs):
        g = gid.setdefault(r["group"], len(gid))
        G[i] = g
        T[i] = tid.setdefault((g, r["trajectory"]), len(tid))
        S[i] = sid.setdefault(r["state"], len(sid))
        step[i] = r["step"]
        R[i] = r["reward"]
        A[i] = r.get("active", True)
        if r.get("noop", False):
            raise SystemExit("python pipeline: noop rows are not supported by the vectorised assembly")
    if (R < 0).any():
        raise SystemExit("python pipeline: negative rewards need the general max-decay, not one dijkstra")

    # Trajectories: rows by (trajectory, step); lengths, active prefixes, state-sequence cut.
    order = np.lexsort((step, T))
    To = T[order]
    ntraj = len(tid)
    L = np.bincount(To, minlength=ntraj)
    start = np.concatenate([[0], np.cumsum(L)[:-1]])
    pos = np.arange(n) - start[To]
    Ao = A[order]
    inactive_pos = np.where(~Ao, pos, np.iinfo(np.int64).max)
    m = np.minimum(L, np.minimum.reduceat(inactive_pos, start))  # first inactive (L if none)
    nseq = np.where(m < L, np.minimum(np.maximum(m, 1) + 1, L), L)

    # Transitions j -> j+1 inside the state sequence, self-loops removed (no noop rows).
    j = np.flatnonzero((pos[:-1] + 1 < nseq[To[:-1]]) & (To[:-1] == To[1:]))
    NS = len(sid)
    src = G[order[j]] * NS + S[order[j]]
    dst = G[order[j + 1]] * NS + S[order[j + 1]]
    rsrc = np.where(pos[j] == 0, 0.0, R[order[np.maximum(j - 1, 0)]])
    rdst = R[order[j]]
    keep = src != dst
    src, dst, rsrc, rdst = src[keep], dst[keep], rsrc[keep], rdst[keep]

    # Nodes and first-seen rewards (trajectory order, transition order, source before target).
    mentions = np.stack([src, dst], 1).ravel()
    mention_reward = np.stack([rsrc, rdst], 1).ravel()
    nodes, first = np.unique(mentions, return_index=True)
    reward = mention_reward[first]
    N = len(nodes)
    u = np.searchsorted(nodes, src)
    v = np.searchsorted(nodes, dst)
    pairs = np.unique(u * N + v)
    u, v = pairs // N, pairs % N

    # One dijkstra from a super source over the reversed graph in -log space.
    pos_nodes = np.flatnonzero(reward > 0)
    V = np.zeros(N)
    if len(pos_nodes):
        rmax = reward.max()
        rows_ = np.concatenate([v, np.full(len(pos_nodes), N)])
        cols_ = np.concatenate([u, pos_nodes])
        data = np.concatenate([np.full(len(u), -math.log(gamma)), 1.0 + np.log(rmax / reward[pos_nodes])])
        graph = csr_matrix((data, (rows_, cols_)), shape=(N + 1, N + 1))
        dist, pred = dijkstra(graph, directed=True, indices=N, return_predecessors=True)
        dist, pred = dist[:N], pred[:N]
        # Exact values: the same chain gamma*(gamma*(...r)) along the shortest-path tree.
        reached = np.flatnonzero(np.isfinite(dist))
        for x in reached[np.argsort(dist[reached], kind="stable")].tolist():
            p = pred[x]
            V[x] = reward[x] if p == N else gamma * V[p]

    # Per-row values, step rewards (SPEC section 4).
    key = G * NS + S
    idx = np.minimum(np.searchsorted(nodes, key), N - 1)
    value = np.where(nodes[idx] == key, V[idx], 0.0)
    vo = value[order]
    in_range = pos < np.minimum(m, L - 1)[To]
    nxt = np.append(vo[1:], 0.0)
    sr_o = np.where(in_range, nxt - vo, R[order])
    sa_o = np.where(in_range, nxt, R[order])
    step_reward = np.empty(n)
    step_reward[order] = sr_o
    step_reward_abs = np.empty(n)
    step_reward_abs[order] = sa_o

    # Advantages, mean_norm (SPEC section 5).
    act_o = pos < m[To]
    score = np.bincount(To[act_o], weights=R[order][act_o], minlength=ntraj)
    gof_t = np.empty(ntraj, np.int64)
    gof_t[To] = G[order]
    ngroups = len(gid)
    w = m.astype(np.float64)
    gcount = np.bincount(gof_t, weights=w, minlength=ngroups)
    gmean = np.bincount(gof_t, weights=score * w, minlength=ngroups) / np.maximum(gcount, 1)
    gmean = np.where(gcount == 1, 0.0, gmean)
    active_row = np.zeros(n, np.bool_)
    active_row[order] = act_o
    traj_score = score[T]
    episode = np.where(active_row, traj_score - gmean[G], 0.0)
    keys_active = key[active_row]
    _, inverse, counts = np.unique(keys_active, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=step_reward[active_row])
    means = sums / counts
    step_adv = np.zeros(n)
    step_adv[active_row] = np.where(counts[inverse] > 1, step_reward[active_row] - means[inverse], 0.0)
    advantage = episode + step_adv

    cols = [x.tolist() for x in (value, step_reward, step_reward_abs, episode, step_adv, advantage)]
    with open(out, "wb") as f:
        dumps = orjson.dumps
        lines = []
        for i, r in enumerate(recs):
            lines.append(dumps({
                "group": r["group"], "trajectory": r["trajectory"], "step": r["step"],
                "value": cols[0][i] + 0.0, "step_reward": cols[1][i] + 0.0,
                "step_reward_abs": cols[2][i] + 0.0, "episode_advantage": cols[3][i] + 0.0,
                "step_advantage": cols[4][i] + 0.0, "advantage": cols[5][i] + 0.0}))
            if len(lines) >= 65536:
                f.write(b"\n".join(lines) + b"\n")
                lines.clear()
        if lines:
            f.write(b"\n".join(lines) + b"\n")


# ----------------------------------------------------------------------------------------------
# Part B helpers: the reference's input (SPEC section 2) and the 1000-sweep loop
# ----------------------------------------------------------------------------------------------

def flat_unique_trajectories(rows):
    """Per group, in order: the reference pre-processing of SPEC section 2 (build transitions,
    remove self-loops, dedup inside each trajectory, concatenate). States become small ints."""
    groups = {}
    for r in rows:
        groups.setdefault(r["group"], {}).setdefault(r["trajectory"], []).append(r)
    out = []
    for g, trajs in groups.items():
        ids = {}
        flat = []
        for rs in trajs.values():
            rs.sort(key=lambda r: r["step"])
            seq = []
            for j, r in enumerate(rs):
                seq.append((ids.setdefault(r["state"], len(ids)), 0.0 if j == 0 else float(rs[j - 1]["reward"]), r.get("action", "")))
                if j >= 1 and not r.get("active", True):
                    break
            seen = []
            for j in range(len(seq) - 1):
                t = (seq[j][0], seq[j][2], seq[j + 1][0], seq[j][1], seq[j + 1][1])
                if t[0] != t[2] and t not in seen:
                    seen.append(t)
            flat.extend(seen)
        out.append((g, ids, flat))
    return out


def restated_sweeps(flat, gamma=GAMMA, max_iter=1000):
    """RESTATEMENT (written for this project from SPEC section 3, not the reference's code):
    V_0 = first-seen reward; V_{k+1}(s) = max(V_k(s), gamma * max_{s->t} V_k(t)), 1000 sweeps."""
    succ, value = {}, {}
    for (s, _a, t, rs, rt) in flat:
        succ.setdefault(s, set()).add(t)
        succ.setdefault(t, set())
        value.setdefault(s, rs)
        value.setdefault(t, rt)
    for _ in range(max_iter):
        new = dict(value)
        for s, ts in succ.items():
            best = value[s]
            for t in ts:
                cand = gamma * value[t]
                if cand > best:
                    best = cand
            new[s] = best
        value = new
    return None, value


def load_reference(path):
    if not path:
        return None
    file = os.path.join(path, "rewardflow", "propagation.py")
    if not os.path.exists(file):
        raise SystemExit(f"--reference {path}: no rewardflow/propagation.py there")
    spec = importlib.util.spec_from_file_location("reference_rewardflow_propagation", file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.propagate_reward_decay


# ----------------------------------------------------------------------------------------------
# Measuring
# ----------------------------------------------------------------------------------------------

def run_timed(cmd):
    """Runs cmd; returns (wall seconds, peak RSS in MB of that child)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"failed ({status}): {' '.join(cmd)}")
    return wall, usage.ru_maxrss / 1024.0


def read_jsonl(path):
    import orjson
    with open(path, "rb") as f:
        return [orjson.loads(line) for line in f if line.strip()]


def compare_outputs(a_path, b_path):
    a, b = read_jsonl(a_path), read_jsonl(b_path)
    assert len(a) == len(b), (len(a), len(b))
    exact = sum(1 for x, y in zip(a, b) if x["value"] == y["value"])
    diffs = {k: max(abs(x[k] - y[k]) for x, y in zip(a, b))
             for k in ("value", "step_reward", "step_reward_abs", "episode_advantage", "step_advantage", "advantage")}
    return len(a), exact, diffs


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", default=os.path.join(root, ".build", "release", "rewardflow"))
    p.add_argument("--reference", default=os.environ.get("REWARDFLOW_REFERENCE"))
    p.add_argument("--input", help="JSONL batch for part A (default: synthesise ~1M rows)")
    p.add_argument("--groups", type=int, default=3800, help="groups of the synthesised part-A batch")
    p.add_argument("--repeat", type=int, default=5, help="runs per side in part A")
    p.add_argument("--workdir", default="/tmp/rewardflow-compare")
    p.add_argument("--skip-a", action="store_true")
    p.add_argument("--skip-b", action="store_true")
    p.add_argument("--python-pipeline", nargs=2, metavar=("IN", "OUT"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.python_pipeline:
        python_pipeline(*a.python_pipeline)
        return
    os.makedirs(a.workdir, exist_ok=True)
    rf = a.bin
    if not os.path.exists(rf):
        raise SystemExit(f"{rf}: build it first (swift build -c release) or pass --bin")
    threads = os.environ.get("REWARDFLOW_THREADS", str(os.cpu_count()))
    print(f"machine: {os.cpu_count()} cores; engine threads {threads}; load average {os.getloadavg()[0]:.2f}")

    if not a.skip_a:
        batch = a.input or os.path.join(a.workdir, f"batch_{a.groups}x8x50.jsonl")
        if not os.path.exists(batch):
            subprocess.run([rf, "synth", "--groups", str(a.groups), "--rollouts", "8", "--max-steps", "50",
                            "--seed", "7", "--quiet", "-o", batch], check=True)
        size = os.path.getsize(batch) / 1e6
        swift_out = os.path.join(a.workdir, "swift.jsonl")
        py_out = os.path.join(a.workdir, "python.jsonl")
        swift_cmd = [rf, "score", batch, "--gamma", str(GAMMA), "--advantage", "mean_norm", "-o", swift_out]
        py_cmd = [sys.executable, os.path.abspath(__file__), "--python-pipeline", batch, py_out]
        sw, py = [], []
        for _ in range(a.repeat):
            sw.append(run_timed(swift_cmd))
            py.append(run_timed(py_cmd))
        rows, exact, diffs = compare_outputs(swift_out, py_out)
        sw_t, py_t = statistics.median(x[0] for x in sw), statistics.median(x[0] for x in py)
        sw_m, py_m = max(x[1] for x in sw), max(x[1] for x in py)
        print(f"\nA. end to end, {rows} rows ({size:.0f} MB JSONL), max-decay gamma {GAMMA}, mean_norm advantages, {a.repeat} runs each")
        print(f"   rewardflow score           median {sw_t:8.3f} s   peak RSS {sw_m:6.0f} MB   (runs: {', '.join(f'{x[0]:.3f}' for x in sw)})")
        print(f"   Python orjson/numpy/SciPy  median {py_t:8.3f} s   peak RSS {py_m:6.0f} MB   (runs: {', '.join(f'{x[0]:.3f}' for x in py)})")
        print(f"   ratio (Python / rewardflow): {py_t / sw_t:.1f}x")
        print(f"   values bit-identical on {exact}/{rows} rows; max |diff|: " + ", ".join(f"{k} {v:.1e}" for k, v in diffs.items()))

    if not a.skip_b:
        paper = os.path.join(a.workdir, "paper_16x8x50.jsonl")
        subprocess.run([rf, "synth", "--groups", "16", "--rollouts", "8", "--max-steps", "50", "--seed", "7",
                        "--quiet", "-o", paper], check=True)
        rows = read_jsonl(paper)
        reference = load_reference(a.reference)
        loop = reference or restated_sweeps
        label = (f"reference propagate_reward_decay (max_iter=1000) from {a.reference}" if reference
                 else "RESTATED 1000-sweep loop (scripts/compare.py restated_sweeps; no --reference given)")
        groups = flat_unique_trajectories(rows)
        ref_times = []
        values = {}
        for _ in range(3):
            total = 0.0
            for g, ids, flat in groups:
                t0 = time.perf_counter()
                _, vd = loop(flat, gamma=GAMMA, max_iter=1000)
                total += time.perf_counter() - t0
                values[g] = (ids, vd)
            ref_times.append(total)
        out = subprocess.run([rf, "time", paper, "--repeat", "500", "--gamma", str(GAMMA)],
                             check=True, capture_output=True, text=True).stdout
        timing = json.loads(out)
        engine = timing["index"] + timing["graph"] + timing["solve"]
        swift_out = os.path.join(a.workdir, "paper_swift.jsonl")
        subprocess.run([rf, "score", paper, "--gamma", str(GAMMA), "-o", swift_out], check=True)
        scored = read_jsonl(swift_out)
        exact = worst = 0
        for r, s in zip(rows, scored):
            ids, vd = values[r["group"]]
            ref = float(vd.get(ids[r["state"]], 0.0))
            exact += ref == s["value"]
            worst = max(worst, abs(ref - s["value"]))
        ref_t = statistics.median(ref_times)
        print(f"\nB. paper batch, {len(rows)} rows, {len(groups)} groups, gamma {GAMMA}")
        print(f"   {label}: median {ref_t * 1e3:9.1f} ms (runs: {', '.join(f'{x * 1e3:.1f}' for x in ref_times)})")
        print(f"   rewardflow in process: index+graph+solve median {engine * 1e6:8.1f} us; whole score (with advantages) {timing['score'] * 1e6:.1f} us")
        print(f"   ratio (loop / engine index+graph+solve): {ref_t / engine:,.0f}x; (loop / whole score): {ref_t / timing['score']:,.0f}x")
        print(f"   values: {exact}/{len(rows)} rows bit-identical, max |diff| {worst:.1e}")


if __name__ == "__main__":
    main()
