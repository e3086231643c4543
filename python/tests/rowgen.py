"""Random step-row batches for the offline command and the Ray tests: rows in shuffled order,
so that any split into shards puts parts of one group (and one trajectory) in several shards."""
import numpy as np
import pyarrow as pa

OUTPUTS = ("value", "step_reward", "step_reward_abs", "episode_advantage", "step_advantage", "advantage")


def batch(seed, groups=12, rollouts=4, max_steps=9, states=6, names="spec"):
    """A pyarrow table of SPEC rows (or verl-agent names with ``names="verl-agent"``): shared
    states within a group (so the graph merges them), sparse rewards, inactive tails, noops."""
    rng = np.random.default_rng(seed)
    rows = {k: [] for k in ("group", "trajectory", "step", "state", "action", "reward", "active", "noop")}
    for g in range(groups):
        for r in range(rollouts):
            length = int(rng.integers(1, max_steps + 1))
            cut = int(rng.integers(1, length + 1)) if rng.random() < 0.5 else length
            for s in range(length):
                rows["group"].append(f"g{seed}-{g:03d}")
                rows["trajectory"].append(f"g{seed}-{g:03d}-r{r}")
                rows["step"].append(s)
                rows["state"].append(f"room {int(rng.integers(states))} of house {g}")
                rows["action"].append(f"go {int(rng.integers(3))}")
                rows["reward"].append(float(rng.choice([0.0, 0.0, 0.0, 1.0, -0.5, 0.25])))
                rows["active"].append(s < cut)
                rows["noop"].append(bool(rng.random() < 0.1))
    order = rng.permutation(len(rows["step"]))
    table = pa.table({
        "group": pa.array(np.array(rows["group"], dtype=object)[order].tolist(), pa.string()),
        "trajectory": pa.array(np.array(rows["trajectory"], dtype=object)[order].tolist(), pa.string()),
        "step": pa.array(np.array(rows["step"], dtype=np.int64)[order]),
        "state": pa.array(np.array(rows["state"], dtype=object)[order].tolist(), pa.string()),
        "action": pa.array(np.array(rows["action"], dtype=object)[order].tolist(), pa.string()),
        "reward": pa.array(np.array(rows["reward"])[order]),
        "active": pa.array(np.array(rows["active"])[order]),
        "noop": pa.array(np.array(rows["noop"])[order]),
    })
    if names == "verl-agent":
        table = table.rename_columns(["uid", "traj_uid", "step", "anchor_obs", "action", "rewards",
                                      "active_masks", "noop"])
    return table


def reference(table, **options):
    """rewardflow_engine.score on the whole table (SPEC names)."""
    import rewardflow_engine as rf
    return rf.score(table["group"], table["trajectory"], table["step"].to_numpy(), table["state"],
                    table["reward"].to_numpy(), table["active"].to_numpy(), table["noop"].to_numpy(),
                    action=table["action"], **options)


def shards(table, count):
    """``count`` consecutive slices of uneven sizes."""
    cuts = np.linspace(0, table.num_rows, count + 1).astype(int)
    cuts[1:-1] += np.arange(1, count) * 3 % 7
    return [table.slice(a, b - a) for a, b in zip(cuts[:-1], cuts[1:])]


def write_shards(table, directory, kind, count):
    """Writes ``count`` shards part-NN.<kind> into ``directory``; returns their paths."""
    import json

    import pyarrow.parquet as pq
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, part in enumerate(shards(table, count)):
        path = directory / f"part-{number:02d}.{kind}"
        if kind == "parquet":
            pq.write_table(part, path)
        else:
            with open(path, "w") as f:
                for row in part.to_pylist():
                    f.write(json.dumps(row) + "\n")
        paths.append(path)
    return paths


def assert_equal_outputs(table, expected, message=""):
    """Every output field of ``table`` (sorted by row_id) bitwise equal to ``expected``."""
    table = table.sort_by("row_id")
    assert table["row_id"].to_pylist() == list(range(table.num_rows)), message
    for name, values in expected.items():
        got = table[name].to_numpy()
        assert got.dtype == np.float64, (message, name)
        assert np.array_equal(got, values), (message, name, np.flatnonzero(got != values)[:5])
