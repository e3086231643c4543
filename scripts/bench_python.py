#!/usr/bin/env python3
"""Scoring from Python: the native binding against the previous ctypes path, side by side.

Both paths call the same librewardflow.so (the one inside the installed rewardflow_engine),
so the ratio is what the binding costs. The ctypes path is the previous binding's method,
restated here: every string column encoded to UTF-8, joined, offsets by cumsum, then
`rf_batch_append` + `rf_score` through ctypes.

Batches come from `rewardflow synth` (seeded): the 1M-row batch (3800 groups x 8 rollouts x 50
steps) as NumPy object arrays of str (float32 rewards, bool active, as a trainer holds them) and
as pyarrow arrays, and the paper batch (16 x 8 x 50). Reports medians of alternating runs and
checks that both paths give the same bytes. Beside each native median: the call's minor page
faults and system time (getrusage around each timed run, medians per call), and with --phases
where the native call's time goes (medians per call): reading the columns (the views of the
str objects, dtype conversions), rf_batch_append_columns (checks and interning), rf_score.
With --skip-ctypes, only the native calls run, back to back. With --fresh, a third path
alternates with the two: the native call after
`rewardflow_engine.release_memory()`, so it allocates its batch and view buffers afresh (as every
call did before score() kept them), its outputs checked equal to the kept-storage call's; then
how much resident memory release_memory() gives back after the kept-storage calls.

    .venv/bin/python scripts/bench_python.py --bin .build/release/rewardflow --repeat 7
"""
import argparse
import ctypes
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import orjson

import rewardflow_engine as rf


class Strings(ctypes.Structure):
    _fields_ = [("data", ctypes.c_char_p), ("offsets", ctypes.c_void_p)]


class Rows(ctypes.Structure):
    _fields_ = [("count", ctypes.c_size_t), ("group", Strings), ("trajectory", Strings), ("step", ctypes.c_void_p),
                ("state", Strings), ("state_key", ctypes.c_void_p), ("action", Strings), ("reward", ctypes.c_void_p),
                ("active", ctypes.c_void_p), ("noop", ctypes.c_void_p)]


class Options(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("operator_name", ctypes.c_char_p), ("gamma", ctypes.c_double),
                ("alpha", ctypes.c_double), ("solver", ctypes.c_char_p), ("tolerance", ctypes.c_double),
                ("max_iterations", ctypes.c_int64), ("node_reward", ctypes.c_char_p), ("advantage", ctypes.c_char_p),
                ("step_weight", ctypes.c_double)]


class Outputs(ctypes.Structure):
    _fields_ = [("capacity", ctypes.c_size_t)] + [(name, ctypes.c_void_p) for name in (
        "value", "step_reward", "step_reward_abs", "episode_advantage", "step_advantage", "advantage")]


LIB = ctypes.CDLL(rf.library_path)
LIB.rf_batch_append.argtypes = [ctypes.c_void_p, ctypes.POINTER(Rows)]
LIB.rf_score.argtypes = [ctypes.c_void_p, ctypes.POINTER(Options), ctypes.POINTER(Outputs)]
LIB.rf_batch_create.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
LIB.rf_batch_destroy.argtypes = [ctypes.c_void_p]
LIB.rf_options_init.argtypes = [ctypes.POINTER(Options)]


def ctypes_strings(values, count):
    """The previous binding's string column: encode, join, int64 offsets."""
    values = values.tolist() if isinstance(values, np.ndarray) else list(values)
    encoded = [value.encode("utf-8", "surrogatepass") for value in values]
    offsets = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=count), out=offsets[1:])
    data = b"".join(encoded)
    return Strings(data, offsets.ctypes.data), (data, offsets)


def ctypes_score(group, trajectory, step, state, reward, active, advantage):
    n = len(reward)
    keep = []
    rows = Rows(count=n)
    for name, values in (("group", group), ("trajectory", trajectory), ("state", state)):
        column, buffers = ctypes_strings(values, n)
        setattr(rows, name, column)
        keep.append(buffers)
    steps = np.ascontiguousarray(step, dtype=np.int64)
    rewards = np.ascontiguousarray(reward, dtype=np.float64)
    flags = np.ascontiguousarray(active, dtype=np.bool_).view(np.uint8)
    rows.step, rows.reward, rows.active = steps.ctypes.data, rewards.ctypes.data, flags.ctypes.data
    options = Options()
    LIB.rf_options_init(ctypes.byref(options))
    options.advantage = advantage.encode()
    result = {name: np.empty(n) for name, _ in Outputs._fields_[1:]}
    outputs = Outputs(capacity=n, **{name: a.ctypes.data for name, a in result.items()})
    batch = ctypes.c_void_p()
    LIB.rf_batch_create(ctypes.byref(batch))
    try:
        if LIB.rf_batch_append(batch, ctypes.byref(rows)) or LIB.rf_score(batch, ctypes.byref(options), ctypes.byref(outputs)):
            raise RuntimeError("engine refused the batch")
    finally:
        LIB.rf_batch_destroy(batch)
    return result


def load(path):
    rows = [orjson.loads(line) for line in open(path, "rb")]
    return dict(
        group=np.array([r["group"] for r in rows], dtype=object),
        trajectory=np.array([r["trajectory"] for r in rows], dtype=object),
        step=np.array([r["step"] for r in rows], dtype=np.int64),
        state=np.array([r["state"] for r in rows], dtype=object),
        reward=np.array([r["reward"] for r in rows], dtype=np.float32),
        active=np.array([r["active"] for r in rows], dtype=bool))


def resident_megabytes():
    """This process's resident set (/proc/self/statm), in MB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measured(function, inner, before_each=None):
    """Runs `function` `inner` times (after `before_each`, untimed, each time); returns the last
    result and the per-call seconds, minor faults and system seconds."""
    seconds, faults, system, result = 0.0, 0, 0.0, None
    for _ in range(inner):
        if before_each:
            before_each()
        before = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        result = function()
        seconds += time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_SELF)
        faults += after.ru_minflt - before.ru_minflt
        system += after.ru_stime - before.ru_stime
    return result, seconds / inner, faults / inner, system / inner


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=".build/release/rewardflow", help="the rewardflow CLI (for `synth`)")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--groups", type=int, default=3800, help="groups of the large batch (3800: 1,012,121 rows)")
    parser.add_argument("--phases", action="store_true",
                        help="also time the native call's three phases (_core.score's phases list)")
    parser.add_argument("--fresh", action="store_true",
                        help="also time the native call with its kept storage released before each call")
    parser.add_argument("--skip-ctypes", action="store_true",
                        help="time the native calls only, back to back (a trainer's steady state: nothing "
                             "else allocates between the calls)")
    args = parser.parse_args()
    phases, fresh_phases = [], []
    sink = [phases]  # where _core.score's phases go: the kept-storage or the fresh calls' list
    if args.phases:
        core_score = rf._core.score
        rf._core.score = lambda *arguments: core_score(*arguments, sink[0])
    import pyarrow as pa

    with tempfile.TemporaryDirectory() as folder:
        batches = {}
        for name, groups in (("large", args.groups), ("paper", 16)):
            path = os.path.join(folder, f"{name}.jsonl")
            subprocess.run([args.bin, "synth", "--groups", str(groups), "--rollouts", "8", "--max-steps", "50",
                            "--seed", "7", "-o", path, "--quiet"], check=True)
            batches[name] = load(path)
    large, paper = batches["large"], batches["paper"]
    arrow = {k: pa.array(v.tolist()) if v.dtype == object else v for k, v in large.items()}
    print(f"engine {rf.version()} at {rf.library_path}; Python {sys.version.split()[0]}; "
          f"{len(large['reward']):,} and {len(paper['reward']):,} rows; {args.repeat} alternating runs each")

    cases = [
        (f"{len(large['reward']):,} rows, NumPy object arrays", large, args.repeat, 1),
        (f"{len(large['reward']):,} rows, pyarrow arrays", arrow, args.repeat, 1),
        ("paper batch, NumPy object arrays", paper, args.repeat, 200),
    ]
    for label, columns, repeat, inner in cases:
        native_times, ctypes_times, faults, system = [], [], [], []
        fresh_times, fresh_faults, fresh_system = [], [], []
        phases.clear()
        fresh_phases.clear()
        for _ in range(repeat):
            call = lambda: rf.score(**columns, advantage="mean_norm")
            if args.fresh:
                sink[0] = fresh_phases
                released, *costs = measured(call, inner, before_each=rf.release_memory)
                for series, cost in zip((fresh_times, fresh_faults, fresh_system), costs):
                    series.append(cost)
                sink[0] = phases
            native, *costs = measured(call, inner)
            for series, cost in zip((native_times, faults, system), costs):
                series.append(cost)
            if columns is not arrow and not args.skip_ctypes:
                old, seconds, _, _ = measured(lambda: ctypes_score(**columns, advantage="mean_norm"), inner)
                ctypes_times.append(seconds)
                assert all(np.array_equal(native[k], old[k]) for k in native), "the two paths disagree"
            if args.fresh:
                assert all(np.array_equal(native[k], released[k]) for k in native), "kept and fresh storage disagree"
        native_median = statistics.median(native_times)
        line = f"{label:42s} native {native_median * 1e3:9.3f} ms (min {min(native_times) * 1e3:.3f};"
        line += f" {statistics.median(faults):,.0f} minor faults, {statistics.median(system) * 1e3:.1f} ms system per call)"
        if ctypes_times:
            ctypes_median = statistics.median(ctypes_times)
            line += f"   ctypes {ctypes_median * 1e3:9.3f} ms   ratio {ctypes_median / native_median:5.1f}x"
        elif not args.skip_ctypes:
            line += "   (the ctypes path took no Arrow arrays)"
        if phases:
            split = [1e3 * statistics.median(phases[k::3]) for k in range(3)]
            line += (f"\n{'':42s} phases: columns {split[0]:.3f} ms, append {split[1]:.3f} ms, "
                     f"score {split[2]:.3f} ms")
        if fresh_times:
            fresh_median = statistics.median(fresh_times)
            line += (f"\n{'':42s} fresh storage {fresh_median * 1e3:.3f} ms (min {min(fresh_times) * 1e3:.3f}; "
                     f"{statistics.median(fresh_faults):,.0f} minor faults, "
                     f"{statistics.median(fresh_system) * 1e3:.1f} ms system per call), "
                     f"{fresh_median / native_median:.2f}x the kept storage's")
            if fresh_phases:
                split = [1e3 * statistics.median(fresh_phases[k::3]) for k in range(3)]
                line += f"; phases {split[0]:.3f} / {split[1]:.3f} / {split[2]:.3f} ms"
            kept = resident_megabytes()
            rf.release_memory()
            line += f"; release_memory() then returns {kept - resident_megabytes():.1f} MB of resident memory"
        print(line, flush=True)


if __name__ == "__main__":
    main()
