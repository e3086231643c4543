"""The storage `score` keeps between calls (one cleared batch, with the arrays it keeps, and the
string views' buffers): every result equals the one from freshly allocated storage, whatever came
before — a larger or smaller batch, a refused batch, text or key states, `release_memory()`."""
import random

import numpy as np
import pytest

import rewardflow_engine as rf
from test_random_graphs import random_batch


def fresh(batch, **options):
    rf.release_memory()
    return rf.score(**batch, **options)


def assert_same(got, want):
    assert got.keys() == want.keys()
    for field in want:
        np.testing.assert_array_equal(got[field], want[field])


@pytest.mark.parametrize("seed", range(3))
def test_kept_storage_gives_fresh_results(seed):
    rng = random.Random(seed)
    sizes = [(40, 30), (2, 5), (12, 20), (40, 30), (1, 3), (30, 25)]
    batches = [random_batch(rng, groups=g, rollouts=8, states=12, max_steps=m) for g, m in sizes]
    want = [fresh(b, advantage="mean_std_norm") for b in batches]
    for _ in range(2):
        for batch, expected in zip(batches, want):
            assert_same(rf.score(**batch, advantage="mean_std_norm"), expected)


def test_a_refused_batch_leaves_the_kept_storage_usable():
    batch = random_batch(random.Random(7), groups=10, rollouts=8, states=12, max_steps=30)
    want = fresh(batch, advantage="mean_norm")
    bad = dict(batch, reward=np.array(batch["reward"], dtype=float))
    bad["reward"][len(bad["reward"]) // 2] = float("nan")
    for _ in range(3):
        with pytest.raises(rf.InvalidInputError, match=r"reward"):
            rf.score(**bad, advantage="mean_norm")
        assert_same(rf.score(**batch, advantage="mean_norm"), want)


def test_switching_between_text_and_key_states_on_kept_storage():
    batch = random_batch(random.Random(3), groups=6, rollouts=8, states=12, max_steps=20)
    keyed = dict(batch, state=np.array([hash(s) & (2**63 - 1) for s in batch["state"]], dtype=np.uint64))
    want_text, want_keys = fresh(batch), fresh(keyed)
    for _ in range(3):
        assert_same(rf.score(**batch), want_text)
        assert_same(rf.score(**keyed), want_keys)


def test_release_memory_is_idempotent():
    rf.release_memory()
    rf.release_memory()
    batch = random_batch(random.Random(1), groups=2, rollouts=4, states=6, max_steps=8)
    assert_same(rf.score(**batch), fresh(batch))


def in_order(batch):
    """`batch`'s rows in SPEC §2 order (group by group, each trajectory's steps in turn)."""
    order = sorted(range(len(batch["step"])), key=lambda i: (
        int(batch["group"][i][1:]), int(batch["trajectory"][i][1:]), batch["step"][i]))
    return {k: [v[i] for i in order] for k, v in batch.items()}


def test_kept_score_arrays_give_fresh_results_on_large_batches():
    """Batches past the engine's 65,536-row threshold, whose scores' per-row arrays the batch
    keeps for the next score (index, row nodes, outputs): larger, smaller, in SPEC order and
    shuffled, under three operators, each call equal to one on fresh storage."""
    rng = random.Random(11)
    batches = [random_batch(rng, groups=g, rollouts=8, states=12, max_steps=40) for g in (500, 640, 420)]
    batches.insert(2, in_order(batches[1]))
    assert all(len(b["step"]) > 65_536 for b in batches)
    options = [dict(advantage="mean_norm"), dict(operator="discounted", advantage="mean_std_norm"),
               dict(operator="trajectory-return", advantage="mean_norm")]
    want = [[fresh(b, **o) for o in options] for b in batches]
    for _ in range(2):
        for batch, expected in zip(batches, want):
            for o, w in zip(options, expected):
                assert_same(rf.score(**batch, **o), w)
