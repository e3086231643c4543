"""Scoring rollout logs on a Ray cluster with Ray Data (``pip install "./python[ray]"``).

``score_dataset(ds)`` groups a ``ray.data.Dataset`` of step rows by the trainer's group column
and scores each group whole in a pool of actors (``map_groups`` with a class, so the engine
is loaded once per worker; propagation never crosses groups, so this equals scoring the whole
batch at once, bit for bit, for the operators whose answer is per group: see the README, "On a
Ray cluster"). Each group reaches the engine as a pyarrow table: its string columns through
the binding's zero-copy Arrow path, its numbers as NumPy.
"""
from __future__ import annotations

import os
import resource
import time
import warnings
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import pyarrow as pa

import ray
import ray.data

from ._tables import (FILE_COLUMN, check_options, ROW_COLUMN, SPEC_COLUMNS, VERL_AGENT_COLUMNS, Locator, bind_columns,
                      read_table, resolve_columns, score_table, with_outputs)

__all__ = ["score_dataset", "read_shards", "add_row_ids", "VERL_AGENT_COLUMNS", "SPEC_COLUMNS"]


class GroupScorer:
    """The ``map_groups`` callable: one instance per Ray actor, scoring one group per call (or,
    with ``score_dataset(per_group=False)``, one shuffled block of whole groups per call).

    Rows of the group are put in row-id order first (a shuffle does not keep the input's
    order, and the engine's trajectory order is the order rows first appear), scored, and
    returned with the output columns appended (the reader's origin columns dropped).
    """

    def __init__(self, columns: Mapping[str, str], options: Mapping[str, Any], row_id: str,
                 files: Optional[Sequence[str]] = None, rss_dir: Optional[str] = None):
        self.columns, self.options, self.row_id = dict(columns), dict(options), row_id
        self.locate = Locator(files, row_id)
        self.rss_dir = rss_dir or os.environ.get("REWARDFLOW_RAY_RSS_DIR")
        self._reported = 0.0
        self._rows = 0
        self._anon = 0

    def __call__(self, group: pa.Table) -> pa.Table:
        group = group.sort_by(self.row_id)
        outputs = score_table(group, self.columns, self.options, self.locate)
        self._rows += group.num_rows
        if self.rss_dir:
            self._anon = max(self._anon, _status_kib("RssAnon") or 0)  # private memory, sampled after each call
            self._report()
        return with_outputs(group, outputs, drop=(FILE_COLUMN, ROW_COLUMN))

    def _report(self, force: bool = False) -> None:
        """Writes this worker's peak RSS (VmHWM, which counts the object store's shared pages the
        actor has mapped, and ru_maxrss) and the largest private RSS (RssAnon) seen after a call
        to RSS_DIR/PID.json, at most once a second."""
        now = time.monotonic()
        if not force and now - self._reported < 1.0:
            return
        self._reported = now
        path = os.path.join(self.rss_dir, f"{os.getpid()}.json")
        with open(path + ".tmp", "w") as f:
            f.write(f'{{"pid": {os.getpid()}, "maxrss_kib": {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}, '
                    f'"hwm_kib": {peak_rss_kib()}, "anon_kib": {self._anon}, "rows": {self._rows}}}')
        os.replace(path + ".tmp", path)

    def __del__(self):
        if getattr(self, "rss_dir", None):
            try:
                self._report(force=True)
            except OSError:
                pass


def _status_kib(field: str) -> Optional[int]:
    """A size field of /proc/self/status ("VmHWM", "RssAnon", ...) in KiB, None off Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def peak_rss_kib() -> int:
    """This process's peak resident set in KiB: VmHWM of /proc/self/status on Linux (reset by
    exec, unlike ru_maxrss, which a process started by fork + exec inherits from its parent),
    else ru_maxrss."""
    peak = _status_kib("VmHWM")
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss if peak is None else peak


def _num_rows(table: pa.Table) -> int:
    return table.num_rows


def _with_ids(table: pa.Table, start: int, row_id: str) -> pa.Table:
    if row_id in table.column_names:  # the input's own ids are kept (read_shards of scored files)
        return table
    return table.append_column(row_id, pa.array(np.arange(start, start + table.num_rows, dtype=np.int64)))


def _read(path: str, columns: Mapping[str, Optional[str]], index: int) -> tuple[pa.Table, int]:
    table = read_table(path, columns, file_index=index)
    return table, table.num_rows


def _numbered(tables: Sequence[Any], counts: Sequence[int], row_id: str) -> "ray.data.Dataset":
    """A dataset of these Arrow table refs (in order) with ids 0, 1, ... across them."""
    add = ray.remote(_with_ids)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64) if counts else []
    refs = [add.remote(table, int(start), row_id) for table, start, count in zip(tables, starts, counts) if count]
    if not refs:
        raise ValueError("input: no rows")
    return ray.data.from_arrow_refs(refs)


def add_row_ids(ds: "ray.data.Dataset", row_id: str = "row_id") -> "ray.data.Dataset":
    """``ds`` with an int64 column ``row_id``: 0, 1, 2, ... in the dataset's order (its blocks
    are computed in order, then numbered; only the row counts travel to the driver)."""
    ds.context.execution_options.preserve_order = True
    tables = ds.to_arrow_refs()
    count = ray.remote(_num_rows)
    counts = ray.get([count.remote(table) for table in tables])
    return _numbered(tables, counts, row_id)


def read_shards(files: Sequence[str], columns: Optional[Mapping[str, Optional[str]]] = None,
                row_id: str = "row_id") -> "ray.data.Dataset":
    """JSONL / Parquet shards as one dataset, one Ray task per file (the files must be readable
    from every node: a shared file system), rows numbered ``row_id`` = 0, 1, ... in file order
    (files in the given order), plus the origin columns that error messages use."""
    mapping = resolve_columns(columns, SPEC_COLUMNS)
    read = ray.remote(num_returns=2)(_read)
    pairs = [read.remote(path, mapping, index) for index, path in enumerate(files)]
    counts = ray.get([count for _, count in pairs])
    return _numbered([table for table, _ in pairs], counts, row_id)


def score_dataset(ds: "ray.data.Dataset", *, columns: Optional[Mapping[str, Optional[str]]] = None,
                  row_id: str = "row_id", workers: Optional[int] = None, num_cpus: float = 0.0,
                  files: Optional[Sequence[str]] = None, partitions: Optional[int] = None,
                  shuffle: Optional[str] = "sort_shuffle_pull_based", per_group: bool = True,
                  **options: Any) -> "ray.data.Dataset":
    """Scores a Ray dataset of step rows, one group at a time, on a pool of Ray actors.

    - ``columns`` maps SPEC's fields (``group``, ``trajectory``, ``step``, ``state``,
      ``reward``, ``active``, ``noop``, ``action``) onto the dataset's column names, over the
      defaults of a verl-agent dump (``VERL_AGENT_COLUMNS``: ``uid``, ``traj_uid``, ``step``,
      ``anchor_obs``, ``rewards``, ``active_masks``); a field mapped to None is left out. For
      rows with SPEC's own names pass ``columns=SPEC_COLUMNS``. ``active``, ``noop`` and
      ``action`` are optional: absent columns take their defaults (all active, no noop, "").
    - ``row_id``: an integer column giving the rows' input order (unique). When the dataset has
      none it is added (0, 1, ... in the dataset's order; the dataset is computed once for it).
    - ``workers``: scoring actors (default: the cluster's CPUs). ``num_cpus`` each: by default 0,
      with the actors spread over the nodes, so that they never hold the CPUs the shuffle's tasks
      need (a pool of actors reserving every CPU waits forever for a shuffle that cannot run); the
      pool size bounds their number instead. With ``num_cpus`` > 0 the pool starts with one
      actor and grows up to ``workers`` while blocks wait.
    - ``shuffle``: Ray Data's shuffle strategy for the group-by, set on ``ds.context``:
      "sort_shuffle_pull_based" (default: plain tasks, no aggregator actors competing for CPUs),
      or "hash_shuffle", "sort_shuffle_push_based", or None to keep the dataset's.
    - ``partitions``: shuffle partitions of the group-by (default: Ray's,
      ``DataContext.default_hash_shuffle_parallelism``); each is one block scored by one actor.
    - ``per_group``: True (default): ``groupby(group).map_groups(GroupScorer)``, one engine call
      per group. False: the same shuffle, then ``map_batches(GroupScorer, batch_size=None)``: one
      engine call per shuffled block, which holds whole groups only (the shuffle never splits a
      key); the same bits for the operators whose answer is per group, with far fewer calls.
    - ``files``: the file list of ``read_shards``, so errors name a row's file and line.
    - ``**options``: ``rewardflow_engine.score``'s keyword options (operator, gamma, advantage, ...),
      checked here on the driver.

    Returns a lazy dataset: the input columns (with ``row_id``) plus ``value``, ``step_reward``,
    ``step_reward_abs`` and, with ``advantage``, ``episode_advantage``, ``step_advantage``,
    ``advantage`` (float64). Rows come out grouped: each group's rows together, in row-id
    order, groups in the shuffle's (key-sorted, per block) order; sort by ``row_id`` for input
    order (``ds.sort(row_id)``). Bad rows fail the job when it runs, with the engine's message
    naming the row (``FILE: line N: reward: not a finite number``, or ``row_id N: ...``).
    """
    check_options(options)
    mapping = resolve_columns(columns, VERL_AGENT_COLUMNS)
    names = ds.schema().names
    bound = bind_columns(names, mapping, where="dataset")
    if row_id not in names:
        ds = add_row_ids(ds, row_id)
    if shuffle is not None:
        ds.context.shuffle_strategy = shuffle
    if workers is None:
        workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
    if workers < 1:
        raise ValueError(f"workers: expected at least 1, got {workers}")
    # Actors holding no CPU cannot starve the shuffle: a fixed pool. Actors holding CPUs: a pool
    # that starts with one and grows while blocks wait (a full one could deadlock the shuffle).
    pool = (ray.data.ActorPoolStrategy(size=workers) if num_cpus == 0
            else ray.data.ActorPoolStrategy(min_size=1, max_size=workers))
    arguments = dict(batch_format="pyarrow", compute=pool, num_cpus=num_cpus, scheduling_strategy="SPREAD",
                     fn_constructor_kwargs=dict(columns=bound, options=options, row_id=row_id,
                                                files=list(files) if files else None))
    key = bound["group"]
    if per_group:
        return ds.groupby(key, num_partitions=partitions).map_groups(GroupScorer, **arguments)
    # The shuffle of map_groups (ray.data.grouped_data), then whole blocks.
    from ray.data.context import ShuffleStrategy
    if ds.context.shuffle_strategy in (ShuffleStrategy.SORT_SHUFFLE_PULL_BASED, ShuffleStrategy.SORT_SHUFFLE_PUSH_BASED):
        shuffled = (ds.repartition(partitions) if partitions else ds).sort(key)
    else:
        shuffled = ds.repartition(partitions or ds.context.default_hash_shuffle_parallelism, keys=key, sort=True)
    with warnings.catch_warnings():  # scheduling_strategy has no named parameter in map_batches
        warnings.simplefilter("ignore", DeprecationWarning)
        return shuffled.map_batches(GroupScorer, batch_size=None, **arguments)
