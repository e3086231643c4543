"""rewardflow_engine.ray on a real local Ray (2 CPUs, one session for the module): the Ray output
equals rewardflow_engine.score on the whole batch, row by row, bit for bit; bad rows fail the
job naming file, row and field, and leave no output behind. Skipped only without ``ray``."""
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

from rewardflow_engine.__main__ import main  # noqa: E402
from rowgen import assert_equal_outputs, batch, reference, shards, write_shards  # noqa: E402
from test_cli import leftovers, read_output  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    yield
    ray.shutdown()


def rows(ds):
    """A (small) dataset as one table, in the order it comes out."""
    return pa.concat_tables([t for t in ray.get(ds.to_arrow_refs()) if t.num_rows])


@pytest.mark.parametrize("seed,per_group,options", [
    (11, True, dict(advantage="mean_std_norm")),
    (12, True, dict(operator="trajectory-return", gamma=0.95, advantage="mean_norm")),
    (13, True, dict(operator="goal-distance", gamma=0.5, advantage="mean_std_norm", episode_weighting="trajectories")),
    (17, False, dict(advantage="mean_std_norm", step_weight=0.5, node_reward="max")),
])
def test_dataset_equals_whole_batch(cluster, seed, per_group, options):
    from rewardflow_engine.ray import SPEC_COLUMNS, score_dataset
    table = batch(seed, groups=25)
    ds = ray.data.from_arrow(shards(table, 5))  # groups straddle the five blocks
    out = rows(score_dataset(ds, columns=SPEC_COLUMNS, partitions=3, per_group=per_group, **options))
    assert out.num_rows == table.num_rows
    assert_equal_outputs(out, reference(table, **options), str(options))
    # Output order: groups together, each in row-id (= input) order.
    groups = out["group"].to_pylist()
    assert len({g for i, g in enumerate(groups) if i == 0 or groups[i - 1] != g}) == len(set(groups))
    for g in set(groups):
        ids = [i for i, name in zip(out["row_id"].to_pylist(), groups) if name == g]
        assert ids == sorted(ids)


def test_verl_agent_defaults_and_given_row_ids(cluster):
    from rewardflow_engine.ray import score_dataset
    table = batch(14, names="verl-agent")
    table = table.append_column("row_id", pa.array(np.arange(table.num_rows, dtype=np.int64) * 10))
    out = rows(score_dataset(ray.data.from_arrow(shards(table, 3)), partitions=2, advantage="mean_norm"))
    import rewardflow_engine as rf
    expected = rf.score(table["uid"], table["traj_uid"], table["step"].to_numpy(), table["anchor_obs"],
                        table["rewards"].to_numpy(), table["active_masks"].to_numpy(), advantage="mean_norm")
    out = out.sort_by("row_id")
    assert out["row_id"].to_pylist() == (np.arange(table.num_rows) * 10).tolist()
    for name, values in expected.items():
        assert np.array_equal(out[name].to_numpy(), values), name


@pytest.mark.parametrize("kind,out,flags", [("parquet", "scored", []), ("jsonl", "scored.jsonl", ["--per-block"])])
def test_command_with_ray(cluster, tmp_path, kind, out, flags):
    table = batch(15, groups=20)
    write_shards(table, tmp_path / "in", kind, 4)
    assert main(["score", str(tmp_path / "in"), "-o", str(tmp_path / out), "--ray", "--partitions", "3",
                 "--advantage", "mean_std_norm", "--operator", "max-decay", "--gamma", "0.7", "-q", *flags]) == 0
    result = read_output(tmp_path / out)
    assert_equal_outputs(result, reference(table, advantage="mean_std_norm", gamma=0.7))
    if out.endswith(".jsonl"):  # a single file is written in input order
        assert result["row_id"].to_pylist() == list(range(table.num_rows))
    assert leftovers(tmp_path) == []


def test_bad_shard_fails_the_job(cluster, tmp_path, capsys):
    table = batch(16, groups=20)
    paths = write_shards(table, tmp_path / "in", "parquet", 4)
    part = pq.read_table(paths[2])
    rewards = part["reward"].to_numpy().copy()
    rewards[7] = np.inf
    pq.write_table(part.set_column(part.column_names.index("reward"), "reward", pa.array(rewards)), paths[2])
    status = main(["score", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--ray", "--partitions", "3", "-q"])
    error = capsys.readouterr().err
    assert status == 2, error
    assert f"{paths[2]}: row 7: reward: not a finite number" in error, error
    assert sorted(os.listdir(tmp_path)) == ["in"]  # no output directory, no temporary one

    lines = [json.dumps(row) for row in table.to_pylist()]
    lines[30] = lines[30].replace('"trajectory": ', '"trajectory_": ')  # a row without its trajectory
    (tmp_path / "j").mkdir()
    (tmp_path / "j" / "a.jsonl").write_text("\n".join(lines[:20]) + "\n")
    (tmp_path / "j" / "b.jsonl").write_text("\n".join(lines[20:]) + "\n")
    status = main(["score", str(tmp_path / "j"), "-o", str(tmp_path / "out.jsonl"), "--ray", "--partitions", "3",
                   "-q"])
    error = capsys.readouterr().err
    assert status == 2, error
    assert f"{tmp_path / 'j' / 'b.jsonl'}: line 11: trajectory: null value" in error, error
    assert sorted(os.listdir(tmp_path)) == ["in", "j"]
