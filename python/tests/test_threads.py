"""Several Python threads in the engine at once (ctypes releases the GIL): every result equals
the single-threaded one, and each thread's error message is its own (rf_last_error is
thread-local)."""
import random
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import rewardflow
from test_random_graphs import random_batch

THREADS = 8


def test_concurrent_scores_match_serial():
    batches = [random_batch(random.Random(seed), groups=8, rollouts=8, states=12, max_steps=30) for seed in range(16)]
    serial = [rewardflow.score(**b, advantage="mean_std_norm") for b in batches]

    def run(i):
        results = []
        for _ in range(5):
            results.append(rewardflow.score(**batches[i], advantage="mean_std_norm"))
        return results

    with ThreadPoolExecutor(THREADS) as pool:
        for i, results in enumerate(pool.map(run, range(len(batches)))):
            for result in results:
                for field, want in serial[i].items():
                    np.testing.assert_array_equal(result[field], want)


def test_concurrent_errors_are_per_thread():
    def run(i):
        reward = [0.0] * 6
        reward[i % 6] = float("nan")
        messages = []
        for _ in range(50):
            try:
                rewardflow.score(["g"] * 6, ["t"] * 6, range(6), list("ABCDEF"), reward)
            except rewardflow.InvalidInputError as error:
                messages.append(str(error))
        return i % 6, messages

    with ThreadPoolExecutor(THREADS) as pool:
        for row, messages in pool.map(run, range(4 * THREADS)):
            assert messages == [f"row {row}: reward: not a finite number (NaN and infinities are refused)"] * 50
