"""RewardFlow engine for Python: dense, state-level rewards for agentic RL rollouts.

``score`` takes a trainer's step rows as columns (NumPy arrays or sequences, one entry per
row) and returns NumPy arrays aligned with those rows. The work happens in librewardflow.so
(the engine's C API) through ctypes; the GIL is released while it runs, so threads score in
parallel.

This package is also importable as ``rewardflow``; the name ``rewardflow_engine`` exists for
trainers whose own source tree has a ``rewardflow/`` folder that would shadow it (the
reference implementation's does).
"""
import ctypes

import numpy as np

from . import _native

__all__ = [
    "score", "operators", "version", "library_path", "RewardFlowError", "InvalidInputError",
    "InvalidParameterError", "NumericalError",
]


class RewardFlowError(Exception):
    """An error reported by the engine; ``str(error)`` is its message, ``status`` its rf_status."""

    def __init__(self, message, status):
        super().__init__(message)
        self.status = status


class InvalidInputError(RewardFlowError, ValueError):
    """The rows break the input contract (the message names the row index and the field)."""


class InvalidParameterError(RewardFlowError, ValueError):
    """An option is outside its domain or names no known operator, mode or policy."""


class NumericalError(RewardFlowError, ArithmeticError):
    """A numerical method could not deliver an answer."""


_ERRORS = {
    _native.INVALID_INPUT: InvalidInputError,
    _native.INVALID_PARAMETER: InvalidParameterError,
    _native.INVALID_ARGUMENT: RewardFlowError,
    _native.NUMERICAL: NumericalError,
}

_lib = _native.lib
library_path = _native.path  # the librewardflow.so in use


def _check(status):
    if status != _native.OK:
        message = _lib.rf_last_error().decode("utf-8", "replace")
        raise _ERRORS.get(status, RewardFlowError)(message, status)


def version():
    """The engine's version, "MAJOR.MINOR.PATCH"."""
    return _lib.rf_version().decode()


def operators():
    """The propagation operators this engine implements, e.g. ("max-decay", "trajectory-return")."""
    return tuple(_lib.rf_operators().decode().split(","))


def _strings(values, name, count):
    """An rf_strings column (bytes, int64 offsets) from str/bytes values."""
    values = values.tolist() if isinstance(values, np.ndarray) else list(values)
    try:
        # All str (the common case). Lone surrogates become bytes that are not UTF-8, so the
        # engine refuses them naming the row.
        encoded = [value.encode("utf-8", "surrogatepass") for value in values]
    except AttributeError:
        encoded = [_bytes(value, name, i) for i, value in enumerate(values)]
    if len(encoded) != count:
        raise ValueError(f"{name}: {len(encoded)} values for {count} rows")
    offsets = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=count), out=offsets[1:])
    data = b"".join(encoded)
    return _native.Strings(data, offsets.ctypes.data), (data, offsets)


def _bytes(value, name, i):
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{name}[{i}]: expected str or bytes, got {type(value).__name__}")


def _column(values, name, count, dtype):
    array = np.ascontiguousarray(values, dtype=dtype)
    if array.shape != (count,):
        raise ValueError(f"{name}: shape {array.shape} for {count} rows")
    return array


def _flags(values, name, count):
    if values is None:
        return None
    return _column(values, name, count, np.bool_).view(np.uint8)


def _steps(values, count):
    array = np.asarray(values)
    if array.size and array.dtype.kind not in "iu":
        raise TypeError(f"step: expected integers, got dtype {array.dtype}")
    return _column(array, "step", count, np.int64)


def _state_keys(state, count):
    """The state column as uint64 keys when it is an integer array, else None."""
    if not isinstance(state, np.ndarray) or state.dtype.kind not in "iu":
        return None
    if state.dtype.kind == "i" and state.size and state.min() < 0:
        raise ValueError("state: integer state keys must be non-negative (uint64)")
    return _column(state, "state", count, np.uint64)


def score(group, trajectory, step, state, reward, active=None, noop=None, *, action=None,
          operator="max-decay", gamma=0.9, alpha=0.85, advantage=None, step_weight=1.0,
          node_reward="firstSeen", solver="auto", tolerance=1e-12, max_iterations=10_000):
    """Scores a batch of step rows; returns a dict of float64 arrays aligned with the rows.

    Rows are columns of equal length (any order of rows; see SPEC section 1):

    - ``group``, ``trajectory``: str or bytes per row (the trainer's ``uid`` and ``traj_uid``);
    - ``step``: integers 0, 1, 2, ... within each trajectory;
    - ``state``: str or bytes per row (equal bytes = same state), or an integer NumPy array of
      uint64 state keys;
    - ``reward``: finite floats; ``active`` and ``noop``: bools (default all active, no noop);
    - ``action``: optional str or bytes per row (edge labels; default "").

    Options: ``operator`` (one of ``operators()``), ``gamma``, ``alpha`` (pagerank, diffusion),
    ``advantage`` (None, "mean_norm", "mean_std_norm"), ``step_weight``, ``node_reward``
    ("firstSeen", "max", "mean"), and for the linear operators ``solver``, ``tolerance``,
    ``max_iterations``.

    Returns ``value``, ``step_reward``, ``step_reward_abs`` and, with ``advantage``,
    ``episode_advantage``, ``step_advantage``, ``advantage``. Raises ``InvalidInputError`` /
    ``InvalidParameterError`` (both ``ValueError``) with the engine's message on bad input.
    """
    reward = np.asarray(reward, dtype=np.float64)
    if reward.ndim != 1:
        raise ValueError(f"reward: expected a 1-D array, got shape {reward.shape}")
    n = reward.shape[0]
    keep = []  # buffers the C structs point into, alive until the calls return
    rows = _native.Rows(count=n)
    for name, values in (("group", group), ("trajectory", trajectory)):
        column, buffers = _strings(values, name, n)
        setattr(rows, name, column)
        keep.append(buffers)
    steps = _steps(step, n)
    rewards = _column(reward, "reward", n, np.float64)
    rows.step, rows.reward = steps.ctypes.data, rewards.ctypes.data
    keys = _state_keys(state, n)
    if keys is not None:
        rows.state_key = keys.ctypes.data
    else:
        rows.state, buffers = _strings(state, "state", n)
        keep.append(buffers)
    if action is not None:
        rows.action, buffers = _strings(action, "action", n)
        keep.append(buffers)
    flags = {name: _flags(values, name, n) for name, values in (("active", active), ("noop", noop))}
    rows.active = None if flags["active"] is None else flags["active"].ctypes.data
    rows.noop = None if flags["noop"] is None else flags["noop"].ctypes.data

    options = _native.Options()
    _lib.rf_options_init(ctypes.byref(options))
    options.operator_name = operator.encode()
    options.gamma, options.alpha = gamma, alpha
    options.solver, options.node_reward = solver.encode(), node_reward.encode()
    options.tolerance, options.max_iterations = tolerance, max_iterations
    options.advantage = None if advantage is None else advantage.encode()
    options.step_weight = step_weight

    names = ["value", "step_reward", "step_reward_abs"]
    if advantage not in (None, "", "none"):
        names += ["episode_advantage", "step_advantage", "advantage"]
    result = {name: np.empty(n, dtype=np.float64) for name in names}
    outputs = _native.Outputs(capacity=n, **{name: a.ctypes.data for name, a in result.items()})

    batch = ctypes.c_void_p()
    _check(_lib.rf_batch_create(ctypes.byref(batch)))
    try:
        _check(_lib.rf_batch_append(batch, ctypes.byref(rows)))
        _check(_lib.rf_score(batch, ctypes.byref(options), ctypes.byref(outputs)))
    finally:
        _lib.rf_batch_destroy(batch)
    return result
