#!/usr/bin/env python3
"""Single process vs Ray Data: rows/s and peak memory scoring Parquet shards of synth batches.

    .venv/bin/python scripts/bench_ray.py --bin .build/release/rewardflow --groups 3800 19000 --repeat 3

For each size (``rewardflow synth --groups G --rollouts 8 --max-steps 50 --seed 7``; 3800 groups
≈ 1M rows) the JSONL is cut into Parquet shards of --rows-per-shard rows (contiguous, so groups
straddle the cuts), then scored with max-decay + mean_norm advantages:

- ``single``: one process, no Ray: the shards read with pyarrow, one ``score`` call (the
  offline command's in-process path, output not written);
- ``ray-W``: ``ray.init(num_cpus=W)``, ``read_shards`` + ``score_dataset(workers=W)``,
  materialised in the object store (not written); ``ray-W-block``: the same with
  ``per_group=False`` (one engine call per shuffled block instead of per group). Time from the job's start to its end (Ray's
  start-up, ~4 s, is reported apart); the same session serves all repeats.

Memory (peak RSS = VmHWM; ru_maxrss would carry the parent's over exec): ``single`` reports
its own; Ray the largest of the scoring actors (``GroupScorer`` writes it when
REWARDFLOW_RAY_RSS_DIR is set; VmHWM counts the object store's shared pages the actor mapped,
so it also reports the largest private RssAnon seen after a call), the largest of the Ray worker processes still alive at the end
(shuffle and read tasks), and the driver's. Every mode runs in a fresh child process; medians of
--repeat runs; ``uptime`` before and after each size.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OPTIONS = dict(operator="max-decay", gamma=0.9, advantage="mean_norm")


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip().split("load average: ")[-1]


def make_shards(binary: str, groups: int, directory: Path, rows_per_shard: int) -> tuple[int, int]:
    """The synth batch as Parquet shards in ``directory``; returns (rows, bytes of the shards)."""
    import pyarrow.json as pj
    import pyarrow.parquet as pq
    if not (directory / "done").exists():
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        jsonl = directory / "synth.jsonl"
        subprocess.run([binary, "synth", "--groups", str(groups), "--rollouts", "8", "--max-steps", "50",
                        "--seed", "7", "-o", str(jsonl)], check=True, stdout=subprocess.DEVNULL)
        table = pj.read_json(jsonl)
        jsonl.unlink()
        for number, offset in enumerate(range(0, table.num_rows, rows_per_shard)):
            pq.write_table(table.slice(offset, rows_per_shard), directory / f"part-{number:04d}.parquet")
        (directory / "done").write_text(str(table.num_rows))
    rows = int((directory / "done").read_text())
    size = sum(p.stat().st_size for p in directory.glob("*.parquet"))
    return rows, size


def child_single(directory: str, repeat: int) -> list[dict]:
    import pyarrow as pa

    from rewardflow_engine._tables import SPEC_COLUMNS, bind_columns, read_table, score_table
    from rewardflow_engine.ray import peak_rss_kib
    files = sorted(str(p) for p in Path(directory).glob("*.parquet"))
    read_table(files[0], SPEC_COLUMNS)  # warm-up: imports, page cache
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        table = pa.concat_tables([read_table(path, SPEC_COLUMNS) for path in files])
        read = time.perf_counter() - start
        outputs = score_table(table, bind_columns(table.column_names, SPEC_COLUMNS), OPTIONS)
        total = time.perf_counter() - start
        runs.append(dict(rows=table.num_rows, seconds=total, read_seconds=read,
                         maxrss_mib=peak_rss_kib() / 1024))
        del table, outputs
    return runs


def _ray_worker_hwm() -> float:
    """The largest VmHWM (peak RSS, MiB) over this machine's Ray worker processes."""
    best = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                command = f.read()
            if b"default_worker.py" not in command and not command.startswith(b"ray::"):
                continue
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        best = max(best, int(line.split()[1]) / 1024)
        except OSError:
            continue
    return best


def child_ray(directory: str, repeat: int, workers: int, partitions: int | None, per_group: bool) -> list[dict]:
    import ray
    import ray.data

    rss_dir = tempfile.mkdtemp(prefix="rf-rss-")
    start = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, logging_level="ERROR", log_to_driver=False,
             runtime_env={"env_vars": {"REWARDFLOW_RAY_RSS_DIR": rss_dir}})
    startup = time.perf_counter() - start
    ray.data.DataContext.get_current().enable_progress_bars = False
    from rewardflow_engine.ray import SPEC_COLUMNS, peak_rss_kib, read_shards, score_dataset
    files = sorted(str(p) for p in Path(directory).glob("*.parquet"))
    runs = []
    for _ in range(repeat):
        for name in os.listdir(rss_dir):
            os.remove(os.path.join(rss_dir, name))
        start = time.perf_counter()
        ds = score_dataset(read_shards(files), columns=SPEC_COLUMNS, workers=workers, partitions=partitions,
                           per_group=per_group, **OPTIONS).materialize()
        seconds = time.perf_counter() - start
        rows = ds.count()
        del ds
        time.sleep(1.5)  # the actors write their final ru_maxrss when they exit
        actors = [json.load(open(os.path.join(rss_dir, name))) for name in os.listdir(rss_dir)
                  if name.endswith(".json")]
        runs.append(dict(rows=rows, seconds=seconds, startup_seconds=startup, actors=len(actors),
                         actor_maxrss_mib=max((a["hwm_kib"] for a in actors), default=0) / 1024,
                         actor_anon_mib=max((a["anon_kib"] for a in actors), default=0) / 1024,
                         actor_rows=[a["rows"] for a in actors], worker_hwm_mib=_ray_worker_hwm(),
                         driver_maxrss_mib=peak_rss_kib() / 1024,
                         nodes=len(ray.nodes())))
    ray.shutdown()
    return runs


def run_child(mode: str, directory: Path, repeat: int, partitions: int | None) -> list[dict]:
    command = [sys.executable, __file__, "--child", mode, "--dir", str(directory), "--repeat", str(repeat)]
    if partitions:
        command += ["--partitions", str(partitions)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"bench_ray: {mode} failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default=".build/release/rewardflow", help="the rewardflow CLI (for synth)")
    parser.add_argument("--groups", type=int, nargs="+", default=[3800, 19000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--modes", nargs="+", default=["single", "ray-1", "ray-2", "ray-2-block"])
    parser.add_argument("--rows-per-shard", type=int, default=125_000)
    parser.add_argument("--partitions", type=int, help="group-by partitions (default: Ray's)")
    parser.add_argument("--workdir", default="/tmp/rewardflow-bench-ray")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child == "single":
            runs = child_single(args.dir, args.repeat)
        else:
            runs = child_ray(args.dir, args.repeat, int(args.child.split("-")[1]), args.partitions,
                             per_group=not args.child.endswith("-block"))
        print(json.dumps(runs))
        return
    results = []
    for groups in args.groups:
        directory = Path(args.workdir) / f"g{groups}"
        rows, size = make_shards(args.bin, groups, directory, args.rows_per_shard)
        before = load()
        print(f"# {groups} groups: {rows:,} rows, {len(list(directory.glob('*.parquet')))} Parquet shards, "
              f"{size / 2**20:.0f} MiB; load before: {before}", flush=True)
        for mode in args.modes:
            runs = run_child(mode, directory, args.repeat, args.partitions)
            seconds = statistics.median(r["seconds"] for r in runs)
            line = dict(groups=groups, rows=rows, mode=mode, median_seconds=round(seconds, 3),
                        rows_per_second=round(rows / seconds), runs=[round(r["seconds"], 3) for r in runs])
            if mode == "single":
                line.update(read_seconds=round(statistics.median(r["read_seconds"] for r in runs), 3),
                            maxrss_mib=round(max(r["maxrss_mib"] for r in runs)))
            else:
                line.update(startup_seconds=round(runs[0]["startup_seconds"], 1),
                            actors=max(r["actors"] for r in runs),
                            actor_maxrss_mib=round(max(r["actor_maxrss_mib"] for r in runs)),
                            actor_anon_mib=round(max(r["actor_anon_mib"] for r in runs)),
                            worker_hwm_mib=round(max(r["worker_hwm_mib"] for r in runs)),
                            driver_maxrss_mib=round(max(r["driver_maxrss_mib"] for r in runs)))
            line["load_after"] = load()
            results.append(line)
            print(json.dumps(line), flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
