"""Every conformance case of ../shared/conformance whose operator the engine implements, through
the Python binding, at the tolerances the fixtures' README states."""
import json

import numpy as np
import pytest

import rewardflow
from conftest import CONFORMANCE, columns, read_jsonl

# The operators the foundation ships.
REQUIRED = {"max-decay", "trajectory-return", "goal-distance"}
# A missing fixture folder gives one case that fails (an empty list would skip the test).
MISSING = "<no conformance fixtures>"
CASES = sorted(p.name[: -len(".params.json")] for p in CONFORMANCE.glob("*.params.json")) or [MISSING]
# The option fixtures (conformance/options) of the options this binding implements.
OPTIONS = ("similarity", "step_group_similarity", "goal_reward", "step_reward", "episode_weighting",
           "episode_weight", "step_group_history")
BASE = {"operator", "gamma", "alpha", "advantage", "step_weight", "node_reward", "tolerance", "advantage_tolerance"}
OPTION_CASES = sorted(
    "options/" + p.name[: -len(".params.json")] for p in (CONFORMANCE / "options").glob("*.params.json")
    if set(json.loads(p.read_text())) <= BASE | set(OPTIONS))


def test_option_fixtures_present():
    assert len(OPTION_CASES) >= 9, f"option fixtures not found in {CONFORMANCE / 'options'}"


def test_fixtures_present():
    assert len(CASES) >= 30, f"conformance fixtures not found at {CONFORMANCE}"


def test_required_operators_supported():
    assert REQUIRED <= set(rewardflow.operators())


@pytest.mark.parametrize("name", CASES + OPTION_CASES)
def test_case(name):
    assert name != MISSING, f"conformance fixtures not found at {CONFORMANCE}"
    params = json.loads((CONFORMANCE / f"{name}.params.json").read_text())
    operator = params["operator"]
    # Every fixture's operator is one the engine implements: an unknown one fails, never skips.
    assert operator in rewardflow.operators(), f"operator {operator} is not in this engine ({', '.join(rewardflow.operators())})"
    rows = read_jsonl(CONFORMANCE / f"{name}.input.jsonl")
    expected = read_jsonl(CONFORMANCE / f"{name}.expected.jsonl")
    assert len(expected) == len(rows)
    options = {k: params[k] for k in ("gamma", "alpha", "advantage", "step_weight", "node_reward") + OPTIONS
               if k in params}
    result = rewardflow.score(**columns(rows), operator=operator, **options)

    tolerance = params.get("tolerance", 1e-12)
    fields = {"value": tolerance, "step_reward": tolerance, "step_reward_abs": tolerance}
    if params.get("advantage"):
        at = params.get("advantage_tolerance", tolerance)
        fields.update(episode_advantage=at, step_advantage=at, advantage=at)
    for field, tol in fields.items():
        want = np.array([line[field] for line in expected])
        got = result[field]
        bad = np.flatnonzero(np.abs(got - want) > tol)
        assert bad.size == 0, f"{name} {field}: rows {bad[:5].tolist()} got {got[bad[:5]]} want {want[bad[:5]]}"
