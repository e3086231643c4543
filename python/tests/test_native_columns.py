"""The native module reads every accepted column type where it lies, and refuses the rest naming
the column and the row. The oracle of every accepted spelling is the same batch given as plain
lists of str (itself checked against hand-computed values in test_inputs.py)."""
import array
import importlib.util

import numpy as np
import pytest

import rewardflow
from test_random_graphs import random_batch

pa = pytest.importorskip("pyarrow")
pd = pytest.importorskip("pandas")

GROUP = ["g0"] * 4 + ["g1"] * 3
TRAJECTORY = ["t0", "t0", "t1", "t1", "t0", "t0", "t0"]
STEP = [0, 1, 0, 1, 0, 1, 2]
STATE = ["A", "Bé", "A", "C", "A", "Bé", "D"]
REWARD = [1.0, 0.0, 0.5, 0.0, 0.0, 2.0, 0.0]
ACTIVE = [True] * 7
ACTION = ["x", "y", "x", "z", "", "y", "w"]
N = len(STEP)


def want(**options):
    return rewardflow.score(GROUP, TRAJECTORY, STEP, STATE, REWARD, ACTIVE, action=ACTION,
                            advantage="mean_std_norm", **options)


def check(got, expected=None):
    expected = expected or want()
    assert set(got) == set(expected)
    for field, values in expected.items():
        np.testing.assert_array_equal(np.asarray(got[field]), values, err_msg=field)


def run(**columns):
    base = dict(group=GROUP, trajectory=TRAJECTORY, step=STEP, state=STATE, reward=REWARD, active=ACTIVE,
                action=ACTION)
    return rewardflow.score(**{**base, **columns}, advantage="mean_std_norm")


class DLPackOnly:
    """An object that offers nothing but DLPack (as a CPU tensor of another library would)."""

    def __init__(self, values):
        self._values = np.asarray(values)

    def __dlpack__(self, **kwargs):
        return self._values.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._values.__dlpack_device__()


def test_the_oracle_is_right():
    out = want()
    # g0: t0 = A → Bé (reward 1 at Bé), t1 = A → C (0.5 at C); g1: A → Bé → D (2 at D).
    # max-decay, gamma 0.9: the exact products.
    np.testing.assert_array_equal(out["value"], [0.9 * 1.0, 1.0, 0.9 * 1.0, 0.5, 0.9 * (0.9 * 2.0), 0.9 * 2.0, 2.0])


STRING_SPELLINGS = {
    "tuple": tuple,
    "object array": lambda v: np.array(v, dtype=object),
    "strided object array": lambda v: np.array([x for s in v for x in (s, None)], dtype=object)[::2],
    "U array": np.array,
    "S array": lambda v: np.array([s.encode() for s in v]),
    "bytes list": lambda v: [s.encode() for s in v],
    "bytearray and memoryview": lambda v: [bytearray(s.encode()) if i % 2 else memoryview(s.encode()) for i, s in enumerate(v)],
    "pandas object Series": lambda v: pd.Series(v, dtype=object),
    "pandas default Series": pd.Series,
    "pandas arrow Series": lambda v: pd.Series(v, dtype="string[pyarrow]"),
    "arrow string": pa.array,
    "arrow large_string": lambda v: pa.array(v, type=pa.large_string()),
    "arrow string_view": lambda v: pa.array(v).cast(pa.string_view()),
    "arrow binary": lambda v: pa.array([s.encode() for s in v], type=pa.binary()),
    "arrow sliced": lambda v: pa.array(["pad"] + list(v) + ["pad"])[1:-1],
    "arrow sliced large_string": lambda v: pa.array(["pad"] + list(v), type=pa.large_string())[1:],
    "arrow chunked": lambda v: pa.chunked_array([v[:2], v[2:5], [], v[5:]]),
    "arrow chunked string_view": lambda v: pa.chunked_array([v[:3], v[3:]]).cast(pa.string_view()),
    "generator": lambda v: (s for s in v),
}


@pytest.mark.parametrize("spelling", STRING_SPELLINGS)
def test_string_columns(spelling):
    make = STRING_SPELLINGS[spelling]
    check(run(group=make(GROUP), trajectory=make(TRAJECTORY), state=make(STATE), action=make(ACTION)))


INTEGER_IDS = {"group": [0, 0, 0, 0, 1, 1, 1], "trajectory": [-3, -3, 7, 7, 2**40, 2**40, 2**40]}


@pytest.mark.parametrize("dtype", ["int64", "int32", "int16", "int8", "uint8", "uint16", "uint32", "uint64"])
def test_integer_group_and_trajectory_ids_are_their_decimal_texts(dtype):
    ids = {k: [v for v in vs] for k, vs in INTEGER_IDS.items()}
    if np.dtype(dtype).kind == "u" or np.dtype(dtype).itemsize < 8:
        ids["trajectory"] = [0, 0, 1, 1, 2, 2, 2] if np.dtype(dtype).kind == "u" else [-3, -3, 7, 7, 2, 2, 2]
    texts = {k: [str(v) for v in vs] for k, vs in ids.items()}
    arrays = {k: np.array(vs, dtype=dtype) for k, vs in ids.items()}
    check(run(**arrays), run(**texts))
    # Strided and extreme values: text equality decides, as for str columns.
    info = np.iinfo(dtype)
    extreme = [info.min, info.min, info.max, info.max, 0, 0, 0]
    strided = np.array([x for v in extreme for x in (v, 1)], dtype=dtype)[::2]
    check(run(trajectory=strided), run(trajectory=[str(v) for v in extreme]))
    check(run(action=np.arange(N, dtype=dtype)), run(action=[str(i) for i in range(N)]))
    check(run(group=pd.Series(arrays["group"]), trajectory=pd.Series(arrays["trajectory"])), run(**texts))


def test_integer_ids_stats_name_groups_by_their_text():
    got = rewardflow.stats(np.array([5] * 4 + [12] * 3), TRAJECTORY, STEP, STATE, REWARD, ACTIVE)
    want_stats = rewardflow.stats(["5"] * 4 + ["12"] * 3, TRAJECTORY, STEP, STATE, REWARD, ACTIVE)
    assert got == want_stats


def test_long_strings_in_string_views():
    # Views of more than 12 bytes point into Arrow's data buffers, shorter ones are inline.
    state = [s * 20 for s in STATE]
    expected = run(state=state)
    check(run(state=pa.array(state).cast(pa.string_view())), expected)
    check(run(state=pa.chunked_array([state[:4], state[4:]]).cast(pa.string_view())), expected)


@pytest.mark.skipif(importlib.util.find_spec("polars") is None, reason="polars is not installed")
def test_polars_series():
    import polars as pl
    check(run(group=pl.Series(GROUP), trajectory=pl.Series(TRAJECTORY), state=pl.Series(STATE),
              action=pl.Series(ACTION), step=pl.Series(STEP), reward=pl.Series(REWARD)))


NUMBER_SPELLINGS = {
    "int32 and float32": (np.array(STEP, dtype=np.int32), np.array(REWARD, dtype=np.float32)),
    "uint8 and float16": (np.array(STEP, dtype=np.uint8), np.array(REWARD, dtype=np.float16)),
    "object arrays": (np.array(STEP, dtype=object), np.array(REWARD, dtype=object)),
    "array.array buffers": (array.array("q", STEP), array.array("d", REWARD)),
    "python ints": (STEP, [int(r) if r.is_integer() else r for r in REWARD]),
    "DLPack only": (DLPackOnly(STEP), DLPackOnly(REWARD)),
    "pandas": (pd.Series(STEP), pd.Series(REWARD)),
    "arrow": (pa.array(STEP, type=pa.int16()), pa.array(REWARD, type=pa.float32())),
    "strided": (np.repeat(STEP, 2)[::2], np.repeat(REWARD, 2)[::2]),
}


@pytest.mark.parametrize("spelling", NUMBER_SPELLINGS)
def test_number_columns(spelling):
    step, reward = NUMBER_SPELLINGS[spelling]
    check(run(step=step, reward=reward))


@pytest.mark.parametrize("active", [
    np.ones(N, dtype=np.uint8), [1] * N, pd.Series([True] * N),
    DLPackOnly(np.ones(N, dtype=bool)), pa.array([True] * N)])
def test_flag_columns(active):
    check(run(active=active))


@pytest.mark.parametrize("keys", [
    [1, 2, 1, 3, 1, 2, 4], (1, 2, 1, 3, 1, 2, 4), np.array([1, 2, 1, 3, 1, 2, 4], dtype=np.int8),
    pd.Series([1, 2, 1, 3, 1, 2, 4]), pa.array([1, 2, 1, 3, 1, 2, 4], type=pa.uint32()),
    pa.chunked_array([[1, 2, 1], [3, 1, 2, 4]])])
def test_integer_state_keys(keys):
    check(run(state=keys))


def test_random_batches_agree_across_spellings():
    import random
    for seed in range(6):
        batch = random_batch(random.Random(seed), groups=5, rollouts=6, states=9, max_steps=20)
        expected = rewardflow.score(**batch, advantage="mean_norm")
        arrow = {k: pa.array(v) if k in ("group", "trajectory", "state") else v for k, v in batch.items()}
        objects = {k: np.array(v, dtype=object) if k in ("group", "trajectory", "state") else v for k, v in batch.items()}
        check(rewardflow.score(**arrow, advantage="mean_norm"), expected)
        check(rewardflow.score(**objects, advantage="mean_norm"), expected)


def test_repeated_objects_and_large_batches():
    # Big enough for the engine's parallel append (one part per thread, merged in order).
    import random
    batch = random_batch(random.Random(7), groups=400, rollouts=8, states=40, max_steps=40)
    expected = rewardflow.score(**batch, advantage="mean_norm")
    shared = {s: s for s in batch["state"]}  # one object per distinct text: consecutive repeats
    repeated = dict(batch, state=np.array([shared[s] for s in batch["state"]], dtype=object))
    check(rewardflow.score(**repeated, advantage="mean_norm"), expected)
    check(rewardflow.score(**dict(batch, state=pa.array(batch["state"])), advantage="mean_norm"), expected)


# ---- Refusals: each names the column (and the row where there is one) -----------------------

@pytest.mark.parametrize("columns, error, message", [
    (dict(group=GROUP[:-1]), ValueError, "group: 6 values for 7 rows"),
    (dict(state=np.array(STATE[:-1], dtype=object)), ValueError, "state: 6 values for 7 rows"),
    (dict(state=np.array(STATE + ["x"])), ValueError, "state: 8 values for 7 rows"),
    (dict(trajectory=pa.array(TRAJECTORY[:3])), ValueError, "trajectory: 3 values for 7 rows"),
    (dict(trajectory=pa.chunked_array([TRAJECTORY, ["x"]])), ValueError, "trajectory: more than 7 values"),
    (dict(action=ACTION[:2]), ValueError, "action: 2 values for 7 rows"),
    (dict(step=STEP[:-1]), ValueError, r"step: shape \(6,\) for 7 rows"),
    (dict(active=ACTIVE + [True]), ValueError, r"active: shape \(8,\) for 7 rows"),
    (dict(reward=np.zeros((7, 1))), ValueError, "reward: expected a 1-D array"),
    (dict(step=[0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 2.0]), TypeError, "step: expected integers, got dtype float64"),
    (dict(step=np.array(STEP, dtype=object).astype(str)), TypeError, "step: expected integers"),
    (dict(reward=["0"] * 7), TypeError, "reward: expected numbers"),
    (dict(state=["A", "B", None, "C", "A", "B", "D"]), TypeError, r"state\[2\]: expected str or bytes, got NoneType"),
    (dict(group=np.array(GROUP[:6] + [None], dtype=object)), TypeError, r"group\[6\]: expected str or bytes, got NoneType"),
    (dict(state=["A", "B", 3.5, "C", "A", "B", "D"]), TypeError, r"state\[2\]: expected str or bytes, got float"),
    (dict(trajectory=pa.array(TRAJECTORY[:4] + [None] + TRAJECTORY[5:])), ValueError, r"trajectory\[4\]: null value"),
    (dict(trajectory=pa.chunked_array([TRAJECTORY[:3], [None] + TRAJECTORY[4:]])), ValueError, r"trajectory\[3\]: null value"),
    (dict(group=pa.array([1] * 7)), TypeError, "group: expected an Arrow string or binary array, got Arrow format 'l'"),
    (dict(group=pa.array(GROUP).dictionary_encode()), TypeError, "decode dictionaries"),
    (dict(state=np.zeros(7)), TypeError, "state: expected strings, got an array of format 'd'"),
    (dict(state=np.array([STATE, STATE])), ValueError, "state: expected a 1-D array"),
    (dict(group=42), TypeError, "group: expected a sequence of str or bytes, got int"),
    (dict(state=np.array([-1, 2, 3, 4, 5, 6, 7])), ValueError, "non-negative"),
    (dict(state=[-1, 2, 3, 4, 5, 6, 7]), ValueError, "non-negative"),
])
def test_refusals(columns, error, message):
    with pytest.raises(error, match=message):
        run(**columns)


@pytest.mark.parametrize("column", ["group", "trajectory", "state", "action"])
def test_lone_surrogates_are_not_utf8(column):
    values = {"group": GROUP, "trajectory": TRAJECTORY, "state": STATE, "action": ACTION}[column]
    bad = list(values)
    bad[3] = "x\udc80y"
    with pytest.raises(rewardflow.InvalidInputError, match=f"row 3: {column}: not valid UTF-8"):
        run(**{column: bad})
    with pytest.raises(rewardflow.InvalidInputError, match=f"row 3: {column}: not valid UTF-8"):
        run(**{column: np.array(bad)})  # UCS-4 array: the surrogate is kept, then refused


def test_invalid_bytes_name_the_row():
    with pytest.raises(rewardflow.InvalidInputError, match="row 5: state: not valid UTF-8"):
        run(state=np.array([s.encode() for s in STATE[:5]] + [b"\xc3\x28", b"D"]))
    with pytest.raises(rewardflow.InvalidInputError, match="row 1: group: not valid UTF-8"):
        run(group=pa.array([b"g0", b"\xff"] + [g.encode() for g in GROUP[2:]], type=pa.binary()))


def test_outputs_are_float64_numpy_arrays_aligned_with_rows():
    out = run(reward=np.array(REWARD, dtype=np.float32))
    for values in out.values():
        assert isinstance(values, np.ndarray) and values.dtype == np.float64 and values.shape == (N,)


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
def test_torch_tensors_in_and_out():
    import torch
    out = run(step=torch.tensor(STEP), reward=torch.tensor(REWARD, dtype=torch.float32),
              active=torch.tensor(ACTIVE), state=torch.tensor([1, 2, 1, 3, 1, 2, 4]))
    expected = run(state=[1, 2, 1, 3, 1, 2, 4])
    for field, values in expected.items():
        assert isinstance(out[field], torch.Tensor)
        np.testing.assert_array_equal(out[field].numpy(), values)


def test_metadata():
    assert rewardflow.__version__ == rewardflow.version()
    assert rewardflow.__version__.count(".") == 2
    assert set(rewardflow.operators()) >= {"max-decay", "trajectory-return"}


def test_import_errors_name_the_missing_library_and_its_package():
    from rewardflow_engine import _import_error
    error = _import_error(ImportError(
        "libcholmod.so.3: cannot open shared object file: No such file or directory"))
    assert "needs libcholmod.so.3" in str(error) and "apt-get install libcholmod3" in str(error)
    error = _import_error(ImportError("librewardflow.so.0: cannot open shared object file: No such file"))
    assert "reinstall the package" in str(error)
    other = ImportError("something else")
    assert _import_error(other) is other


def test_a_bad_library_override_is_an_import_error_naming_it():
    import subprocess
    import sys
    run = subprocess.run([sys.executable, "-c", "import rewardflow_engine"], capture_output=True, text=True,
                         env={"REWARDFLOW_LIBRARY": "/nonexistent/librewardflow.so", "PATH": "/usr/bin:/bin"})
    assert run.returncode != 0
    assert "ImportError" in run.stderr and "/nonexistent/librewardflow.so" in run.stderr


@pytest.mark.parametrize("columns, options, error, message", [
    (dict(active=["false"] * 7), {}, TypeError, "active: expected bools"),
    (dict(active=[True, None] + [True] * 5), {}, TypeError, "active: expected bools"),
    (dict(active=[1.0, float("nan")] + [1.0] * 5), {}, TypeError, "active: expected bools"),
    (dict(noop=["no"] * 7), {}, TypeError, "noop: expected bools"),
    (dict(active=[1, 2, 1, 1, 1, 1, 1]), {}, ValueError, r"active\[1\]: expected a bool \(or 0/1\), got 2"),
    (dict(active="true"), {}, TypeError, "active: expected a column of bools, got a single str"),
    (dict(state="ABCDEFG"), {}, TypeError, "state: expected a column .*got a single str"),
    (dict(group=b"gggggggg"), {}, TypeError, "group: expected a column .*got a single bytes"),
    (dict(reward=["0.5"] * 7), {}, TypeError, "reward: expected numbers"),
    (dict(reward=[1j] * 7), {}, TypeError, "reward: expected numbers"),
    ({}, dict(operator="max-decay\0x"), ValueError, "operator: contains a NUL character"),
    ({}, dict(operator=None), TypeError, "operator: expected str, got NoneType"),
    ({}, dict(solver=3), TypeError, "solver: expected str, got int"),
    ({}, dict(gamma="0.9"), TypeError, "gamma: expected a real number, got str"),
    ({}, dict(gamma=True), TypeError, "gamma: expected a real number, got bool"),
    ({}, dict(max_iterations=2**64 + 5), rewardflow.InvalidParameterError, "max_iterations: .* outside the 64-bit range"),
    ({}, dict(max_iterations=10.5), TypeError, "max_iterations: expected an integer, got float"),
])
def test_coercions_are_refused(columns, options, error, message):
    base = dict(group=GROUP, trajectory=TRAJECTORY, step=STEP, state=STATE, reward=REWARD, active=ACTIVE)
    with pytest.raises(error, match=message):
        rewardflow.score(**{**base, **columns}, **options)


def test_zero_one_integer_flags_are_bools():
    check(run(active=np.ones(N, dtype=np.int64)))


def test_stats_of_a_hand_counted_batch():
    stats = rewardflow.stats(GROUP, TRAJECTORY, STEP, STATE, REWARD, ACTIVE, action=ACTION)
    assert stats["batch"]["rows"] == N
    assert stats["batch"]["trajectories"] == 3
    assert stats["schema"] == "rewardflow.stats/1" and len(stats["groups"]) == 2
    per_group = {g["name"]: g for g in stats["groups"]}
    assert per_group["g0"]["rows"] == 4 and per_group["g1"]["rows"] == 3
    # g0 has states A, Bé, C (nodes 3, edges A→Bé and A→C); g1 has A, Bé, D (a chain).
    assert per_group["g0"]["nodes"] == 3 and per_group["g0"]["edges"] == 2
    assert per_group["g1"]["nodes"] == 3 and per_group["g1"]["edges"] == 2
    same = rewardflow.stats(pa.array(GROUP), np.array(TRAJECTORY, dtype=object), STEP, STATE, REWARD, ACTIVE,
                            action=ACTION)
    assert same == stats
    with pytest.raises(rewardflow.InvalidParameterError, match="gamma"):
        rewardflow.stats(GROUP, TRAJECTORY, STEP, STATE, REWARD, ACTIVE, gamma=2.0)


@pytest.mark.parametrize("options, error, message", [
    (dict(similarity=0.0), rewardflow.InvalidParameterError, r"similarity: must be a number in \(0, 1\]"),
    (dict(similarity=1.5), rewardflow.InvalidParameterError, "similarity: must be"),
    (dict(step_group_similarity=float("nan")), rewardflow.InvalidParameterError, "step_group_similarity: must be"),
    (dict(similarity="0.9"), TypeError, "similarity: expected a real number"),
])
def test_bad_similarity_options(options, error, message):
    with pytest.raises(error, match=message):
        run(**options)


def test_similarity_needs_text_states():
    with pytest.raises(rewardflow.InvalidParameterError, match="state_key"):
        run(state=[1, 2, 1, 3, 1, 2, 4], similarity=0.9)


def test_similarity_merges_near_duplicates():
    # "room 1 of 2" and "room 1 of 3" have ratio 20/22 >= 0.9: one state under T = 0.9.
    state = ["start", "room 1 of 2", "start", "room 1 of 3"]
    rows = dict(group=["g"] * 4, trajectory=["a", "a", "b", "b"], step=[0, 1, 0, 1], state=state,
                reward=[1.0, 0.0, 0.0, 0.0])
    exact = rewardflow.score(**rows)
    merged = rewardflow.score(**rows, similarity=0.9)
    assert exact["value"].tolist() == [0.9, 1.0, 0.9, 0.0]
    assert merged["value"].tolist() == [0.9, 1.0, 0.9, 1.0]
    import difflib
    assert difflib.SequenceMatcher(None, state[3], state[1]).ratio() >= 0.9


def test_score_phases_are_timed_per_call(monkeypatch):
    """_core.score's optional phases list (scripts/bench_python.py --phases) gets three
    non-negative seconds per call, summing to no more than the call's own time; the scores are
    those of a call without it; anything but a list or None is refused."""
    from rewardflow_engine import _core
    import time
    phases, real = [], _core.score
    monkeypatch.setattr(_core, "score", lambda *arguments: real(*arguments, phases))
    start = time.perf_counter()
    got = want()
    elapsed = time.perf_counter() - start
    monkeypatch.setattr(_core, "score", real)
    assert len(phases) == 3 and all(t >= 0 for t in phases)
    assert sum(phases) <= elapsed
    for name, values in want().items():
        assert np.array_equal(values, got[name]), name
    with pytest.raises(TypeError, match="phases: expected a list or None"):
        real(1, ["g"], ["t"], np.zeros(1, np.int64), ["a"], None, np.zeros(1), None, None, None, (), None, ())
