"""Bad input and bad options raise Python exceptions that carry the engine's message."""
import numpy as np
import pytest

import rewardflow

ROWS = dict(
    group=["g"] * 4, trajectory=["t"] * 4, step=[0, 1, 2, 3], state=["A", "B", "C", "D"],
    reward=[0.0, 0.0, 1.0, 0.0])


def rows(**changes):
    return {**ROWS, **changes}


@pytest.mark.parametrize("changes, error, message", [
    (dict(reward=[0.0, 0.0, float("nan"), 0.0]), rewardflow.InvalidInputError, "row 2: reward: not a finite number"),
    (dict(reward=[0.0, float("inf"), 0.0, 0.0]), rewardflow.InvalidInputError, "row 1: reward"),
    (dict(step=[0, 1, 3, 4]), rewardflow.InvalidInputError, "step"),
    (dict(step=[0, 1, 1, 2]), rewardflow.InvalidInputError, "step"),
    (dict(step=[0, -1, 2, 3]), rewardflow.InvalidInputError, "row 1: step"),
    (dict(active=[True, False, True, True]), rewardflow.InvalidInputError, "active"),
    (dict(state=["A", b"\xff", "C", "D"]), rewardflow.InvalidInputError, "row 1: state: not valid UTF-8"),
    (dict(group=["g", "g", "\ud800", "g"]), rewardflow.InvalidInputError, "row 2: group: not valid UTF-8"),
])
def test_bad_rows(changes, error, message):
    with pytest.raises(error) as caught:
        rewardflow.score(**rows(**changes))
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("options, message", [
    (dict(gamma=1.5), "gamma"),
    (dict(gamma=0.0), "gamma"),
    (dict(operator="trajectory-return", gamma=1.0), "gamma"),
    (dict(operator="no-such-operator"), "unknown value 'no-such-operator'"),
    (dict(advantage="zscore"), "advantage"),
    (dict(node_reward="median"), "node_reward"),
    (dict(advantage="mean_norm", step_weight=float("nan")), "step_weight"),
])
def test_bad_options(options, message):
    with pytest.raises(rewardflow.InvalidParameterError) as caught:
        rewardflow.score(**ROWS, **options)
    assert message in str(caught.value)


def test_empty_batch():
    with pytest.raises(rewardflow.InvalidInputError, match="empty input"):
        rewardflow.score([], [], np.array([], dtype=np.int64), [], [])


def test_python_side_checks():
    with pytest.raises(ValueError, match="group: 3 values for 4 rows"):
        rewardflow.score(**rows(group=["g"] * 3))
    with pytest.raises(ValueError, match="step"):
        rewardflow.score(**rows(step=[0, 1, 2]))
    with pytest.raises(TypeError, match="step"):
        rewardflow.score(**rows(step=[0.0, 1.0, 2.0, 3.0]))
    with pytest.raises(TypeError, match=r"state\[1\]"):
        rewardflow.score(**rows(state=["A", 1, "C", "D"]))
    with pytest.raises(ValueError, match="non-negative"):
        rewardflow.score(**rows(state=np.array([1, -2, 3, 4])))


def test_error_leaves_engine_usable():
    with pytest.raises(rewardflow.RewardFlowError):
        rewardflow.score(**rows(reward=[0.0, float("nan"), 0.0, 0.0]))
    # max-decay, gamma 0.9: V = gamma·(gamma·(… r)), exactly the same products.
    assert rewardflow.score(**ROWS)["value"].tolist() == [0.9 * (0.9 * 0.9), 0.9 * 0.9, 0.9, 1.0]
