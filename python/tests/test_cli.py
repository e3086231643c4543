"""The offline command, in process (no Ray): python -m rewardflow_engine score IN [-o OUT]."""
import json
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rewardflow_engine.__main__ import main
from rowgen import assert_equal_outputs, batch, reference, write_shards


def read_output(path):
    """A command's output (file or shard directory) as one table."""
    if os.path.isdir(path):
        parts = [read_output(os.path.join(path, name)) for name in sorted(os.listdir(path))]
        return pa.concat_tables(parts, promote_options="default")
    if str(path).endswith(".parquet"):
        return pq.read_table(path)
    with open(path) as f:
        return pa.Table.from_pylist([json.loads(line) for line in f])


def leftovers(directory):
    return sorted(name for name in os.listdir(directory) if ".tmp-" in name)


@pytest.mark.parametrize("kind", ["jsonl", "parquet"])
@pytest.mark.parametrize("out", ["scored.jsonl", "scored.parquet", "scored"])
def test_shards_in_any_format_out(tmp_path, kind, out):
    table = batch(1)
    write_shards(table, tmp_path / "in", kind, 4)
    target = tmp_path / out
    assert main(["score", str(tmp_path / "in"), "-o", str(target), "--advantage", "mean_std_norm",
                 "--gamma", "0.8", "-q"]) == 0
    result = read_output(target)
    assert_equal_outputs(result, reference(table, advantage="mean_std_norm", gamma=0.8))
    assert result.column_names[:8] == table.column_names  # the input columns first, then row_id, outputs
    assert result["row_id"].to_pylist() == list(range(table.num_rows))  # in input order
    assert leftovers(tmp_path) == []


def test_single_file_operator_and_stdout(tmp_path):
    table = batch(2)
    (path,) = write_shards(table, tmp_path, "jsonl", 1)
    run = subprocess.run([sys.executable, "-m", "rewardflow_engine", "score", str(path), "--operator",
                          "trajectory-return", "--gamma", "0.95", "-q"], capture_output=True, text=True, check=True)
    result = pa.Table.from_pylist([json.loads(line) for line in run.stdout.splitlines()])
    assert_equal_outputs(result, reference(table, operator="trajectory-return", gamma=0.95))
    assert "advantage" not in result.column_names


def test_verl_agent_names(tmp_path):
    table = batch(3, names="verl-agent")
    write_shards(table, tmp_path / "in", "parquet", 3)
    assert main(["score", str(tmp_path / "in"), "-o", str(tmp_path / "out.parquet"), "--columns", "verl-agent",
                 "--advantage", "mean_norm", "-q"]) == 0
    result = read_output(tmp_path / "out.parquet")
    assert_equal_outputs(result, _verl_reference(table))
    assert "uid" in result.column_names and "anchor_obs" in result.column_names


def _verl_reference(table):
    import rewardflow_engine as rf
    return rf.score(table["uid"], table["traj_uid"], table["step"].to_numpy(), table["anchor_obs"],
                    table["rewards"].to_numpy(), table["active_masks"].to_numpy(), advantage="mean_norm")


def test_bad_row_names_file_line_field_and_leaves_nothing(tmp_path, capsys):
    table = batch(4)
    paths = write_shards(table, tmp_path / "in", "jsonl", 3)
    lines = paths[1].read_text().splitlines()
    row = json.loads(lines[6])
    row["step"] = row["step"] + 1000  # a gap
    lines[6] = json.dumps(row)
    paths[1].write_text("\n".join(lines) + "\n")
    (tmp_path / "old.jsonl").write_text("old\n")
    assert main(["score", str(tmp_path / "in"), "-o", str(tmp_path / "old.jsonl"), "-q"]) == 2
    error = capsys.readouterr().err
    assert f"{paths[1]}: line " in error and ": step: " in error, error
    assert (tmp_path / "old.jsonl").read_text() == "old\n"  # an existing output is kept as it was
    assert leftovers(tmp_path) == []


def test_bad_json_and_bad_options(tmp_path, capsys):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"group": "g", "trajectory": "t", "step": 0, "state": "s", "reward": 0}\n\n'
                    '{"group": "g", "trajectory": "t", "step": 1, "state": "s", "reward": "x"}\n')
    assert main(["score", str(path), "-o", str(tmp_path / "out"), "-q"]) == 2
    assert f"{path}: line 3: " in capsys.readouterr().err
    assert main(["score", str(path), "-o", str(tmp_path / "out"), "-q", "--gamma", "2"]) == 2
    assert "gamma" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


def test_nan_reward_in_parquet_shard(tmp_path, capsys):
    table = batch(5)
    paths = write_shards(table, tmp_path / "in", "parquet", 3)
    part = pq.read_table(paths[2])
    rewards = part["reward"].to_numpy().copy()
    rewards[4] = np.nan
    pq.write_table(part.set_column(part.column_names.index("reward"), "reward", pa.array(rewards)), paths[2])
    assert main(["score", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-q"]) == 2
    assert f"{paths[2]}: row 4: reward: " in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["in"]


def test_input_row_ids_are_kept(tmp_path):
    table = batch(6)
    table = table.append_column("row_id", pa.array(np.arange(table.num_rows, dtype=np.int64)))
    pq.write_table(table, tmp_path / "in.parquet")
    assert main(["score", str(tmp_path / "in.parquet"), "-o", str(tmp_path / "out.parquet"), "-q"]) == 0
    result = read_output(tmp_path / "out.parquet")
    assert result.column_names.count("row_id") == 1
    assert_equal_outputs(result, reference(table))
