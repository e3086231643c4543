"""The storage `score` keeps between calls (one cleared batch, the string views' buffers): every
result equals the one from freshly allocated storage, whatever came before — a larger or smaller
batch, a refused batch, text or key states, `release_memory()`."""
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
