"""Every accepted spelling of the columns gives the same result."""
import os
import numpy as np

import rewardflow

GROUP = ["g0"] * 7
TRAJECTORY = ["t0"] * 3 + ["t1"] * 4
STEP = [0, 1, 2, 0, 1, 2, 3]
STATE = ["A", "B", "C", "A", "B", "D", "É"]
REWARD = [0.0, 10.0, 0.0, 0.0, 0.0, 0.0, 0.0]
ACTIVE = [True, True, False, True, True, True, True]


def test_column_spellings_agree():
    want = rewardflow.score(GROUP, TRAJECTORY, STEP, STATE, REWARD, ACTIVE)
    assert want["value"].tolist() == [8.1, 9.0, 10.0, 8.1, 9.0, 0.0, 0.0]
    variants = [
        (np.array(GROUP), np.array(TRAJECTORY), np.array(STEP, dtype=np.int32), np.array(STATE), np.array(REWARD), np.array(ACTIVE)),
        ([g.encode() for g in GROUP], tuple(TRAJECTORY), tuple(STEP), [s.encode() for s in STATE], tuple(REWARD), [1, 1, 0, 1, 1, 1, 1]),
        (np.array(GROUP, dtype=object), (t for t in TRAJECTORY), STEP, np.array([s.encode() for s in STATE]), REWARD, ACTIVE),
        (GROUP, TRAJECTORY, np.array(STEP, dtype=np.uint16), np.array([1, 2, 3, 1, 2, 4, 5], dtype=np.int64), REWARD, ACTIVE),
        (GROUP, TRAJECTORY, STEP, np.array([1, 2, 3, 1, 2, 4, 2**64 - 1], dtype=np.uint64), REWARD, ACTIVE),
    ]
    for columns in variants:
        got = rewardflow.score(*columns)
        for field, values in want.items():
            np.testing.assert_array_equal(got[field], values)


def test_mixed_str_and_bytes_states_are_equal_bytes():
    mixed = [s if i % 2 else s.encode() for i, s in enumerate(STATE)]
    np.testing.assert_array_equal(
        rewardflow.score(GROUP, TRAJECTORY, STEP, mixed, REWARD, ACTIVE)["value"],
        rewardflow.score(GROUP, TRAJECTORY, STEP, STATE, REWARD, ACTIVE)["value"])


def test_noop_and_actions_reach_the_engine():
    # t1 is A → B → D → É with a noop at step 1: B → D is bridged over and B → É emitted
    # instead, so D is in no emitted transition (value 0).
    noop = [False, False, False, False, True, False, False]
    out = rewardflow.score(GROUP, TRAJECTORY, STEP, STATE, REWARD, ACTIVE, noop, action=list("ab") + [""] + list("acd") + [""])
    assert out["value"][5] == 0.0
    assert out["value"].tolist()[:5] == [8.1, 9.0, 10.0, 8.1, 9.0]


def test_engine_metadata():
    assert rewardflow.version().count(".") == 2
    assert os.path.isfile(rewardflow.library_path)
    graph, values = rewardflow.compat.propagate_reward_decay([("A", "go", "B", 0, 1)], gamma=0.5)
    assert values == {"A": 0.5, "B": 1.0} and list(graph.edges) == [("A", "B")]
