"""``python -m rewardflow_engine score IN [-o OUT] [options] [--ray [ADDRESS]]``: offline scoring
of JSONL / Parquet step rows (files or directories of shards), in process or on a Ray cluster.

Output is written atomically: into a temporary file or directory beside OUT, renamed onto OUT
only when complete; on any error (or Ctrl-C, SIGTERM) nothing of it is left behind.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Optional, Sequence

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rewardflow_engine", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("score", help="score step rows (JSONL or Parquet) into dense rewards",
                            description="Scores step rows; output = the input columns + row_id + value, "
                                        "step_reward, step_reward_abs (+ the advantages with --advantage).")
    p.add_argument("input", metavar="IN", help="a .jsonl/.ndjson/.json or .parquet/.pq file, or a directory of them "
                                              "(shards, read in name order; groups may straddle shards)")
    p.add_argument("-o", "--output", metavar="OUT",
                   help="a .jsonl or .parquet file, or a directory (shards; see --format); default: JSONL on stdout")
    p.add_argument("--format", choices=("jsonl", "parquet"),
                   help="format of the shards when OUT is a directory (default: the input's format)")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="score on a Ray cluster (ray.init(address=ADDRESS); without ADDRESS: $RAY_ADDRESS or a "
                        "new local instance). Default: in this process, without Ray")
    p.add_argument("--workers", type=int, help="with --ray: most scoring actors (default: the cluster's CPUs)")
    p.add_argument("--partitions", type=int, help="with --ray: shuffle partitions of the group-by (default Ray's)")
    p.add_argument("--per-block", action="store_true",
                   help="with --ray: one engine call per shuffled block of whole groups, not per group")
    p.add_argument("--columns", default="spec", metavar="MAP",
                   help="field names: 'spec' (default: group, trajectory, step, state, reward, active, noop, "
                        "action), 'verl-agent' (uid, traj_uid, step, anchor_obs, rewards, active_masks), or "
                        "FIELD=COLUMN,... over spec's (e.g. group=uid,state=anchor_obs)")
    p.add_argument("--rows-per-shard", type=int, default=1_000_000,
                   help="in-process, OUT a directory: rows per output shard (default 1000000)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    o = p.add_argument_group("score options (rewardflow_engine.score's keywords)")
    o.add_argument("--operator", default="max-decay",
                   help="max-decay (default) | trajectory-return | discounted | pagerank | diffusion | goal-distance")
    o.add_argument("--gamma", type=float, default=0.9, help="decay / discount (default 0.9)")
    o.add_argument("--alpha", type=float, default=0.85, help="pagerank damping / diffusion strength (default 0.85)")
    o.add_argument("--advantage", default="none", choices=("none", "mean_norm", "mean_std_norm"),
                   help="advantage normalisation (default none: no advantage columns)")
    o.add_argument("--step-weight", type=float, default=1.0, help="w in advantage = w_e*episode + w*step")
    o.add_argument("--episode-weight", type=float, default=1.0, help="w_e (default 1)")
    o.add_argument("--episode-weighting", default="rows", choices=("rows", "trajectories"))
    o.add_argument("--node-reward", default="firstSeen", choices=("firstSeen", "max", "mean"))
    o.add_argument("--solver", default="auto", choices=("auto", "direct", "iterative", "dense"))
    o.add_argument("--tol", type=float, default=1e-12, help="iterative stop rule (default 1e-12)")
    o.add_argument("--max-iter", type=int, default=10_000, help="iteration cap (default 10000)")
    o.add_argument("--similarity", type=float, help="merge graph states with difflib ratio >= T (SPEC 2.1)")
    o.add_argument("--step-group-similarity", type=float, help="step groups by ratio >= T (SPEC 5)")
    o.add_argument("--goal-reward", type=float, default=10.0, help="R of goal-distance (default 10)")
    o.add_argument("--step-reward", default="difference", choices=("difference", "absolute", "progress"))
    o.add_argument("--step-group-history", type=int, default=0, help="K: step groups on the last K+1 states")
    return parser


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """The CLI's flags as ``rewardflow_engine.score`` keyword arguments."""
    return dict(operator=args.operator, gamma=args.gamma, alpha=args.alpha,
                advantage=None if args.advantage == "none" else args.advantage, step_weight=args.step_weight,
                node_reward=args.node_reward, solver=args.solver, tolerance=args.tol, max_iterations=args.max_iter,
                similarity=args.similarity, step_group_similarity=args.step_group_similarity,
                goal_reward=args.goal_reward, step_reward=args.step_reward,
                episode_weighting=args.episode_weighting, episode_weight=args.episode_weight,
                step_group_history=args.step_group_history)


def _columns(text: str) -> tuple[dict[str, Optional[str]], list[str]]:
    """--columns: the field -> column mapping, and the fields named explicitly."""
    from ._tables import FIELDS, SPEC_COLUMNS, VERL_AGENT_COLUMNS
    if text == "spec":
        return dict(SPEC_COLUMNS), []
    if text == "verl-agent":
        return {**{field: None for field in FIELDS}, **VERL_AGENT_COLUMNS}, []
    mapping: dict[str, Optional[str]] = dict(SPEC_COLUMNS)
    explicit = []
    for item in text.split(","):
        field, equals, name = item.partition("=")
        if not equals or field.strip() not in FIELDS:
            raise ValueError(f"--columns: expected 'spec', 'verl-agent' or FIELD=COLUMN,... with FIELD one of "
                             f"{', '.join(FIELDS)}; got {item!r}")
        mapping[field.strip()] = name.strip() or None
        explicit.append(field.strip())
    return mapping, explicit


class _Progress:
    """Progress on stderr: one line rewritten in place on a terminal, plain lines otherwise."""

    def __init__(self, quiet: bool):
        self.quiet, self.tty = quiet, sys.stderr.isatty()
        self.start = time.monotonic()

    def __call__(self, message: str, final: bool = True) -> None:
        if self.quiet:
            return
        text = f"[{time.monotonic() - self.start:7.1f} s] {message}"
        if self.tty:
            sys.stderr.write("\r\033[K" + text + ("\n" if final else ""))
        elif final:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()


class _Atomic:
    """A temporary file or directory beside ``target``, renamed onto it by ``commit``; removed
    by ``discard`` (and by ``__exit__`` unless committed)."""

    def __init__(self, target: str, directory: bool):
        self.target = os.path.abspath(target)
        self.directory = directory
        parent = os.path.dirname(self.target)
        os.makedirs(parent, exist_ok=True)
        prefix = f".{os.path.basename(self.target)}.tmp-"
        if directory:
            self.path = tempfile.mkdtemp(dir=parent, prefix=prefix)
        else:
            handle, self.path = tempfile.mkstemp(dir=parent, prefix=prefix)
            os.close(handle)
        self.committed = False

    def commit(self) -> None:
        """Puts the finished output in place (an existing target is replaced)."""
        if not self.directory:
            os.chmod(self.path, 0o666 & ~_umask())
            os.replace(self.path, self.target)
        elif os.path.isdir(self.target) and not os.path.islink(self.target):
            old = f"{self.path}.old"
            os.rename(self.target, old)
            os.rename(self.path, self.target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            if os.path.lexists(self.target):
                os.remove(self.target)
            os.rename(self.path, self.target)
        self.committed = True

    def discard(self) -> None:
        """Removes the temporary output."""
        if self.directory:
            shutil.rmtree(self.path, ignore_errors=True)
        elif os.path.lexists(self.path):
            os.remove(self.path)

    def __enter__(self) -> "_Atomic":
        return self

    def __exit__(self, *exc: Any) -> None:
        if not self.committed:
            self.discard()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _output_kind(output: str, files: Sequence[str], fmt: Optional[str]) -> tuple[str, bool]:
    """(format, is_directory) of OUT: by its suffix, else a directory of --format shards."""
    from ._tables import _JSONL, _PARQUET, file_format
    suffix = Path(output).suffix.lower()
    if suffix in _JSONL + _PARQUET and not output.endswith(os.sep) and not os.path.isdir(output):
        kind = file_format(output)
        if fmt and fmt != kind:
            raise ValueError(f"--format {fmt} but OUT {output} is a {kind} file")
        return kind, False
    return fmt or file_format(files[0]), True


def _score_local(args: argparse.Namespace, files: list[str], mapping: dict, explicit: list[str],
                 progress: _Progress) -> "Any":
    """The whole input in this process: one table, one engine call; returns the output table."""
    import numpy as np
    import pyarrow as pa

    from ._tables import FILE_COLUMN, ROW_COLUMN, Locator, bind_columns, read_table, score_table, with_outputs
    tables = []
    rows = 0
    for index, path in enumerate(files):
        table = read_table(path, mapping, file_index=index)
        bind_columns(table.column_names, mapping, explicit, where=path)
        tables.append(table)
        rows += table.num_rows
        progress(f"read {index + 1}/{len(files)} files, {rows:,} rows", final=index + 1 == len(files))
    table = pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]
    bound = bind_columns(table.column_names, mapping, explicit, where=args.input)
    if "row_id" not in table.column_names:
        table = table.append_column("row_id", pa.array(np.arange(table.num_rows, dtype=np.int64)))
    start = time.monotonic()
    outputs = score_table(table, bound, _options(args), Locator(files, "row_id"))
    progress(f"scored {table.num_rows:,} rows in {time.monotonic() - start:.2f} s")
    return with_outputs(table, outputs, drop=(FILE_COLUMN, ROW_COLUMN))


def _write_local(table: "Any", args: argparse.Namespace, kind: str, directory: bool, progress: _Progress) -> None:
    from ._tables import write_table
    with _Atomic(args.output, directory) as out:
        if directory:
            step = max(1, args.rows_per_shard)
            shards = range(0, max(table.num_rows, 1), step)
            for number, offset in enumerate(shards):
                write_table(table.slice(offset, step), os.path.join(out.path, f"part-{number:05d}.{kind}"), kind)
                progress(f"wrote {number + 1}/{len(shards)} shards", final=number + 1 == len(shards))
        else:
            write_table(table, out.path, kind)
            progress(f"wrote {table.num_rows:,} rows to {args.output}")
        out.commit()


def _write_shard(batch: "Any", directory: str, kind: str) -> "Any":
    """Ray map_batches step: one output shard per block (unique name), returns its row count."""
    import pyarrow as pa

    from ._tables import write_table
    if batch.num_rows:
        write_table(batch, os.path.join(directory, f"part-{uuid.uuid4().hex}.{kind}"), kind)
    return pa.table({"rows": [batch.num_rows]})


def _score_ray(args: argparse.Namespace, files: list[str], mapping: dict, explicit: list[str], kind: str,
               directory: bool, progress: _Progress) -> None:
    import ray

    from . import ray as rf_ray
    from ._tables import TableWriter, bind_columns
    if not ray.is_initialized():
        ray.init(address=args.ray or None, log_to_driver=not args.quiet,
                 logging_level="ERROR" if args.quiet else "INFO")
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = not args.quiet
    if args.quiet:
        import logging
        logging.getLogger("ray.data").setLevel(logging.ERROR)
    progress(f"ray: {ray.cluster_resources().get('CPU', 0):g} CPUs; reading {len(files)} files")
    ds = rf_ray.read_shards(files, mapping)
    bind_columns(ds.schema().names, mapping, explicit, where=args.input)
    scored = rf_ray.score_dataset(ds, columns=mapping, workers=args.workers, files=files,
                                  partitions=args.partitions, per_group=not args.per_block, **_options(args))
    with _Atomic(args.output, directory) as out:
        if directory:
            counts = scored.map_batches(_write_shard, batch_format="pyarrow", batch_size=None,
                                        fn_kwargs=dict(directory=out.path, kind=kind))
            rows = sum(int(row["rows"]) for row in counts.iter_rows())
        else:
            ordered = scored.sort("row_id")
            ordered.context.execution_options.preserve_order = True
            writer = TableWriter(out.path, kind)
            rows = 0
            try:
                for batch in ordered.iter_batches(batch_format="pyarrow", batch_size=65536):
                    if batch.num_rows:
                        writer.write(batch)
                        rows += batch.num_rows
            finally:
                writer.close()
        out.commit()
    progress(f"wrote {rows:,} rows to {args.output}")


def _score_stdout(table: "Any") -> None:
    from ._tables import _jsonl_lines
    out = sys.stdout.buffer
    for chunk in _jsonl_lines(table):
        out.write(chunk)
    out.flush()


def _message(error: BaseException) -> str:
    """The innermost message of an error (Ray wraps a worker's exception in its own)."""
    from . import RewardFlowError
    seen = error
    while True:
        cause = getattr(seen, "cause", None) or seen.__cause__
        if cause is None or cause is seen:
            break
        seen = cause
    if isinstance(seen, (RewardFlowError, ValueError, TypeError, OSError)) and str(seen):
        text = str(seen)
    else:
        text = str(error)
    return text.strip().splitlines()[-1] if "Traceback" in text else text.strip()


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the command; returns the exit status (0 ok, 2 bad input or options, 1 other errors)."""
    args = _parser().parse_args(argv)
    progress = _Progress(args.quiet)

    def terminate(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, terminate)
    try:
        from . import InvalidInputError, InvalidParameterError
        from ._tables import check_options, input_files
        check_options(_options(args))
        files = input_files(args.input)
        mapping, explicit = _columns(args.columns)
        if args.ray is not None:
            if args.output is None:
                raise ValueError("--ray needs -o OUT (a file or a directory)")
            kind, directory = _output_kind(args.output, files, args.format)
            _score_ray(args, files, mapping, explicit, kind, directory, progress)
        else:
            table = _score_local(args, files, mapping, explicit, progress)
            if args.output is None:
                _score_stdout(table)
            else:
                kind, directory = _output_kind(args.output, files, args.format)
                _write_local(table, args, kind, directory, progress)
        return 0
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - the command reports every failure as one line
        print(f"error: {_message(error)}", file=sys.stderr)
        from . import InvalidInputError, InvalidParameterError
        bad = (InvalidInputError, InvalidParameterError, ValueError, TypeError, FileNotFoundError)
        inner = error
        while getattr(inner, "cause", None) or inner.__cause__:
            inner = getattr(inner, "cause", None) or inner.__cause__
        return 2 if isinstance(error, bad) or isinstance(inner, bad) else 1


if __name__ == "__main__":
    sys.exit(main())
