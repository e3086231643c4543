"""Step rows as Arrow tables: reading JSONL and Parquet shards, scoring a table, writing results.

Shared by the offline command (``python -m rewardflow_engine score``) and the Ray integration
(``rewardflow_engine.ray``). Needs pyarrow (``pip install "./python[arrow]"``).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Optional, Sequence

import numpy as np
import pyarrow as pa

from . import InvalidInputError, RewardFlowError, _OUTPUTS, score

#: SPEC section 1 fields, in the order ``score`` takes them.
FIELDS = ("group", "trajectory", "step", "state", "reward", "active", "noop", "action")
#: The fields a batch must have; the others default (active: true, noop: false, action: "").
REQUIRED = ("group", "trajectory", "step", "state", "reward")
#: SPEC's own field names (a JSONL file of ``rewardflow synth``, the engine's CLI input).
SPEC_COLUMNS: dict[str, str] = {field: field for field in FIELDS}
#: The names of a verl-agent rollout dump (``total_batch_list`` flattened to one row per step).
VERL_AGENT_COLUMNS: dict[str, str] = {
    "group": "uid", "trajectory": "traj_uid", "step": "step", "state": "anchor_obs",
    "reward": "rewards", "active": "active_masks",
}
#: Columns the reader adds for error messages (file index, record index inside the file).
FILE_COLUMN, ROW_COLUMN = "_rf_file", "_rf_row"
OUTPUTS = _OUTPUTS

_JSONL = (".jsonl", ".ndjson", ".json")
_PARQUET = (".parquet", ".pq")
_TYPES = {"group": pa.string(), "trajectory": pa.string(), "state": pa.string(), "action": pa.string(),
          "step": pa.int64(), "reward": pa.float64(), "active": pa.bool_(), "noop": pa.bool_()}


def file_format(path: str | os.PathLike) -> str:
    """"jsonl" or "parquet", from the file name's suffix; ValueError for anything else."""
    suffix = Path(path).suffix.lower()
    if suffix in _JSONL:
        return "jsonl"
    if suffix in _PARQUET:
        return "parquet"
    raise ValueError(f"{path}: unknown format (expected a name ending in .jsonl, .ndjson, .json, .parquet or .pq)")


def input_files(path: str | os.PathLike) -> list[str]:
    """The shards of an input: the file itself, or a directory's JSONL/Parquet files by name."""
    path = Path(path)
    if path.is_dir():
        files = sorted(str(p) for p in path.iterdir()
                       if p.is_file() and not p.name.startswith((".", "_")) and p.suffix.lower() in _JSONL + _PARQUET)
        if not files:
            raise ValueError(f"{path}: directory has no .jsonl, .ndjson, .json, .parquet or .pq file")
        return files
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or directory")
    file_format(path)
    return [str(path)]


def resolve_columns(columns: Optional[Mapping[str, Optional[str]]], default: Mapping[str, str]) -> dict[str, Optional[str]]:
    """SPEC field -> column name: ``default`` overridden by ``columns`` (a value None drops a field)."""
    resolved: dict[str, Optional[str]] = dict(default)
    for field, name in (columns or {}).items():
        if field not in FIELDS:
            raise ValueError(f"columns: unknown field {field!r} (expected one of {', '.join(FIELDS)})")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"columns[{field!r}]: expected a column name (str) or None, got {type(name).__name__}")
        resolved[field] = name
    for field in REQUIRED:
        if not resolved.get(field):
            raise ValueError(f"columns: field {field!r} needs a column")
    return resolved


def bind_columns(names: Iterable[str], columns: Mapping[str, Optional[str]], explicit: Iterable[str] = (),
                 where: str = "input") -> dict[str, str]:
    """The fields present in a table with these column ``names``: required and ``explicit`` fields
    must be there (ValueError naming the column), optional ones are dropped when absent."""
    names = set(names)
    explicit = set(explicit)
    bound = {}
    for field, name in columns.items():
        if not name:
            continue
        if name in names:
            bound[field] = name
        elif field in REQUIRED or field in explicit:
            raise ValueError(f"{where}: no column {name!r} (field {field!r}); columns: {', '.join(sorted(names))}")
    return bound


def line_of_record(path: str, record: int) -> int:
    """The 1-based line number of the 0-based JSON record ``record`` of a JSONL file (blank
    lines skipped, as the reader does); only computed for error messages."""
    seen = -1
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                seen += 1
                if seen == record:
                    return number
    return record + 1


def read_table(path: str, columns: Mapping[str, Optional[str]], file_index: Optional[int] = None) -> pa.Table:
    """One shard as an Arrow table, SPEC fields typed (JSONL: strings, int64 step, float64
    reward, bool flags; other fields inferred). With ``file_index``, two columns are appended
    that name each row's origin in error messages: the file's index and the record's index."""
    kind = file_format(path)
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq
            table = pq.read_table(path)
        else:
            import pyarrow.json as pj
            schema = pa.schema([(name, _TYPES[field]) for field, name in columns.items() if name])
            table = pj.read_json(path, parse_options=pj.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="infer"))
            # The explicit schema adds its columns to every file: drop those the file lacks.
            absent = [name for name in schema.names if table.column(name).null_count == table.num_rows]
            if absent and table.num_rows:
                table = table.drop_columns(absent)
            table = table.select(_first_record_order(path, table.column_names))
    except (pa.ArrowException, OSError) as error:
        message = str(error)
        found = re.search(r" in row (\d+)$", message)
        if kind == "jsonl" and found:
            message = f"line {line_of_record(path, int(found.group(1)))}: {message[:found.start()]}"
        raise InvalidInputError(f"{path}: {message}", 1) from None
    if file_index is not None:
        table = table.append_column(FILE_COLUMN, pa.array(np.full(table.num_rows, file_index, dtype=np.int32)))
        table = table.append_column(ROW_COLUMN, pa.array(np.arange(table.num_rows, dtype=np.int64)))
    return table


def _first_record_order(path: str, names: Sequence[str]) -> list[str]:
    """``names`` in the order of the first record's keys (the reader puts its schema's first)."""
    with open(path, "rb") as f:
        for line in f:
            if line.strip():
                try:
                    keys = [key for key in json.loads(line) if key in names]
                except (ValueError, TypeError):
                    return list(names)
                return keys + [name for name in names if name not in keys]
    return list(names)


def check_options(options: Mapping[str, Any]) -> None:
    """Raises what ``score`` raises for these options (a one-row batch), before any data is read."""
    score(["g"], ["t"], np.zeros(1, dtype=np.int64), ["s"], np.zeros(1), **options)


class Locator:
    """Names the origin of a table's row in error messages: "FILE: line N" (JSONL), "FILE: row N"
    (Parquet, 0-based) when the table carries the reader's origin columns and ``files`` is
    given, else "row_id N" when it has the row-id column, else "row N"."""

    def __init__(self, files: Optional[Sequence[str]] = None, row_id: Optional[str] = None):
        self.files = list(files) if files else None
        self.row_id = row_id

    def __call__(self, table: pa.Table, index: int) -> str:
        names = table.column_names
        if self.files and FILE_COLUMN in names and ROW_COLUMN in names:
            path = self.files[table.column(FILE_COLUMN)[index].as_py()]
            record = table.column(ROW_COLUMN)[index].as_py()
            if file_format(path) == "jsonl":
                return f"{path}: line {line_of_record(path, record)}"
            return f"{path}: row {record}"
        if self.row_id and self.row_id in names:
            return f"row_id {table.column(self.row_id)[index].as_py()}"
        return f"row {index}"


_ROW_MESSAGE = re.compile(r"^row (\d+): ")
_COLUMN_MESSAGE = re.compile(r"^(\w+)\[(\d+)\]: ")


def _relocated(error: Exception, table: pa.Table, locate: Locator) -> Exception:
    """The same error with the engine's row index (``row N: field: ...`` or ``field[N]: ...``)
    replaced by the row's origin."""
    message = str(error)
    found = _ROW_MESSAGE.match(message)
    if found:
        message = f"{locate(table, int(found.group(1)))}: {message[found.end():]}"
    else:
        found = _COLUMN_MESSAGE.match(message)
        if not found:
            return error
        message = f"{locate(table, int(found.group(2)))}: {found.group(1)}: {message[found.end():]}"
    if isinstance(error, RewardFlowError):
        return type(error)(message, error.status)
    return type(error)(message)


_DEFAULTS = {"active": True, "noop": False, "action": ""}


def _column(table: pa.Table, field: str, name: str) -> Any:
    """Column ``name``; nulls in an optional field take its default (a JSONL row without it)."""
    column = table.column(name)
    if column.null_count and field in _DEFAULTS:
        import pyarrow.compute as pc
        column = pc.fill_null(column, _DEFAULTS[field])
    return column


def _numbers(table: pa.Table, field: str, name: str) -> np.ndarray:
    column = _column(table, field, name)
    if column.null_count:
        index = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise InvalidInputError(f"row {index}: {field}: missing (null)", 1)
    return column.to_numpy()


def score_table(table: pa.Table, columns: Mapping[str, str], options: Mapping[str, Any],
                locate: Optional[Locator] = None) -> dict[str, np.ndarray]:
    """``rewardflow_engine.score`` on a table whose SPEC fields sit in ``columns`` (field ->
    column name, from ``bind_columns``): string columns go to the engine as Arrow arrays
    (zero-copy), numbers as NumPy. Errors name the row's origin (see ``Locator``)."""
    arguments: dict[str, Any] = {}
    try:
        for field, name in columns.items():
            if field in ("group", "trajectory", "state", "action"):
                column = _column(table, field, name)
                if field == "state" and pa.types.is_integer(column.type):
                    arguments[field] = _numbers(table, field, name)
                else:
                    arguments[field] = column
            else:
                arguments[field] = _numbers(table, field, name)
        return score(**arguments, **options)
    except (RewardFlowError, ValueError, TypeError) as error:
        relocated = _relocated(error, table, locate or Locator())
        if relocated is error:
            raise
        raise relocated from None


def with_outputs(table: pa.Table, outputs: Mapping[str, np.ndarray], drop: Iterable[str] = ()) -> pa.Table:
    """``table`` with the score's arrays appended as float64 columns (replacing columns of the
    same name) and the columns ``drop`` removed."""
    remove = [name for name in table.column_names if name in outputs or name in set(drop)]
    if remove:
        table = table.drop_columns(remove)
    for name in OUTPUTS:
        if name in outputs:
            table = table.append_column(name, pa.array(outputs[name], type=pa.float64()))
    return table


def _jsonl_lines(table: pa.Table) -> Iterator[bytes]:
    try:
        import orjson

        def dumps(row: dict) -> bytes:
            return orjson.dumps(row)
    except ImportError:
        def dumps(row: dict) -> bytes:
            return json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode()
    for batch in table.to_batches(max_chunksize=65536):
        yield b"".join(dumps(row) + b"\n" for row in batch.to_pylist())


def write_table(table: pa.Table, path: str, kind: str) -> None:
    """Writes a table to ``path`` (not atomically: callers write to a temporary name)."""
    if kind == "parquet":
        import pyarrow.parquet as pq
        pq.write_table(table, path)
    else:
        with open(path, "wb") as f:
            for chunk in _jsonl_lines(table):
                f.write(chunk)


class TableWriter:
    """Streams tables into one JSONL or Parquet file (not atomic by itself)."""

    def __init__(self, path: str, kind: str):
        self.path, self.kind = path, kind
        self._file = None if kind == "parquet" else open(path, "wb")
        self._parquet = None

    def write(self, table: pa.Table) -> None:
        """Appends the rows of ``table``."""
        if self.kind == "parquet":
            import pyarrow.parquet as pq
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self.path, table.schema)
            self._parquet.write_table(table.cast(self._parquet.schema))
        else:
            for chunk in _jsonl_lines(table):
                self._file.write(chunk)

    def close(self) -> None:
        """Finishes the file."""
        if self._parquet is not None:
            self._parquet.close()
        if self._file is not None:
            self._file.close()
