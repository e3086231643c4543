"""RewardFlow engine for Python: dense, state-level rewards for agentic RL rollouts.

``score`` takes a trainer's step rows as columns (one entry per row) and returns NumPy arrays
aligned with those rows. The columns are read where they lie by the native module ``_core``
(CPython limited API), which hands them to the engine's C API (``librewardflow.so``, shipped
inside this package); the GIL is released while the engine scores.

This package is also importable as ``rewardflow``; the name ``rewardflow_engine`` exists for
trainers whose own source tree has a ``rewardflow/`` folder that would shadow it (the
reference implementation's does).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Optional

import numpy as np

__all__ = [
    "score", "stats", "operators", "version", "release_memory", "library_path", "RewardFlowError", "InvalidInputError",
    "InvalidParameterError", "NumericalError", "__version__",
]

# Debian/Ubuntu packages of the engine's shared-library dependencies, for import errors.
_APT_PACKAGES = {
    "libopenblas": "libopenblas0-pthread",
    "liblapacke": "liblapacke",
    "libcholmod": "libcholmod3",
    "libumfpack": "libumfpack5",
    "libsuitesparseconfig": "libsuitesparseconfig5",
    "libamd": "libamd2",
    "libcolamd": "libcolamd2",
    "libgfortran": "libgfortran5",
}


def _import_error(error: ImportError) -> ImportError:
    """An ImportError that names the shared library the loader could not find, and its package."""
    found = re.search(r"(lib[\w+-]+)\.so[.\d]*(?=: (cannot open shared object file|file too short))", str(error))
    if not found:
        return error
    library = found.group(0)
    if found.group(1) == "librewardflow":
        hint = "reinstall the package (`pip install ./python`) or set REWARDFLOW_LIBRARY"
    else:
        package = _APT_PACKAGES.get(found.group(1))
        hint = (f"on Debian/Ubuntu `apt-get install {package}`" if package else "install it") + \
            ", or install the self-contained wheel that bundles it (scripts/wheel)"
    return ImportError(
        f"rewardflow_engine: the native engine needs {library}, which the dynamic loader did not "
        f"find: {hint} ({error})")


# $REWARDFLOW_LIBRARY names another librewardflow.so (a fresh CMake build): loaded first, it
# satisfies _core's dependency on librewardflow.so.0 (the loader matches sonames).
_given = os.environ.get("REWARDFLOW_LIBRARY")
try:
    if _given:
        import ctypes
        try:
            ctypes.CDLL(_given, mode=ctypes.RTLD_GLOBAL)
        except OSError as _error:
            raise ImportError(f"REWARDFLOW_LIBRARY={_given}: {_error}") from _error
    from . import _core
except ImportError as _error:
    raise _import_error(_error) from _error

#: The librewardflow.so in use: ``$REWARDFLOW_LIBRARY``, else the copy inside this package.
library_path: str = _given or str(Path(__file__).with_name("librewardflow.so.0"))

#: This package's version: the engine's (``RF_VERSION_*`` of include/rewardflow.h, its one source).
__version__: str = _core.version()


class RewardFlowError(Exception):
    """An error reported by the engine; ``str(error)`` is its message, ``status`` its rf_status."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status

    def __reduce__(self):
        # Pickled with both arguments, so the error survives a trip between processes (Ray).
        return type(self), (str(self), self.status)


class InvalidInputError(RewardFlowError, ValueError):
    """The rows break the input contract (the message names the row index and the field)."""


class InvalidParameterError(RewardFlowError, ValueError):
    """An option is outside its domain or names no known operator, mode or policy."""


class NumericalError(RewardFlowError, ArithmeticError):
    """A numerical method could not deliver an answer."""


# rf_status codes of include/rewardflow.h.
_ERRORS = {1: InvalidInputError, 2: InvalidParameterError, 3: RewardFlowError, 4: NumericalError}

_OUTPUTS = ("value", "step_reward", "step_reward_abs", "episode_advantage", "step_advantage", "advantage")


def version() -> str:
    """The engine's version, "MAJOR.MINOR.PATCH"."""
    return _core.version()


def release_memory() -> None:
    """Frees the storage `score` keeps between calls.

    `score` keeps the last call's batch (its columns and string tables, cleared, the second
    thread's string tables, and the scoring's large per-row arrays: for 1M rows about 8 arrays
    of 4-8 MB) and the string columns' view buffers, so scoring a batch of about the same size
    every training step touches no new memory for them; a call with under a quarter of the
    previous call's rows frees them first. This frees them now (the next call allocates afresh);
    results never depend on it.
    """
    _core.release_memory()


def operators() -> tuple[str, ...]:
    """The propagation operators this engine implements, e.g. ("max-decay", "trajectory-return")."""
    return tuple(_core.operators().split(","))


def _module(values: Any) -> str:
    return type(values).__module__.split(".")[0]


def _is_arrow(values: Any) -> bool:
    return hasattr(values, "__arrow_c_array__") or hasattr(values, "__arrow_c_stream__")


def _strings(values: Any) -> Any:
    """A string column as _core reads it: list, tuple, NumPy array, Arrow array/stream, None."""
    if values is None or isinstance(values, (list, tuple, np.ndarray)):
        return values
    if _module(values) == "pandas":
        # Object-dtype Series hold str objects: their NumPy view is free, an Arrow export is not.
        if getattr(values, "dtype", None) == object or not _is_arrow(values):
            return values.to_numpy()
        if getattr(getattr(values, "dtype", None), "kind", None) in ("i", "u"):
            return values.to_numpy()  # integer ids: their decimal texts, formatted by _core
        return values
    if _is_arrow(values) or not hasattr(values, "__iter__"):
        return values  # _core refuses what is neither Arrow nor a sequence, naming the column
    return list(values)


def _array(values: Any) -> np.ndarray:
    """A NumPy view of a number column (DLPack objects such as CPU torch tensors without a copy)."""
    if isinstance(values, np.ndarray):
        return values
    if _module(values) == "pandas":
        return values.to_numpy()
    if hasattr(values, "__dlpack__") and not _is_arrow(values):
        try:
            return np.from_dlpack(values)
        except (TypeError, RuntimeError, BufferError):
            pass
    return np.asarray(values)


def _numbers(values: Any, name: str, count: int, dtype: type, kinds: str) -> np.ndarray:
    """Column `name` as a contiguous array of `dtype`, converted only when its dtype differs."""
    array = _array(values)
    if array.dtype == object:
        array = np.array(array.tolist())
    if array.ndim != 1 or array.shape[0] != count:
        raise ValueError(f"{name}: shape {array.shape} for {count} rows")
    if array.size and array.dtype.kind not in kinds:
        raise TypeError(f"{name}: expected {'integers' if kinds == 'iu' else 'numbers'}, got dtype {array.dtype}")
    return np.ascontiguousarray(array, dtype=dtype)


def _flags(values: Any, name: str, count: int) -> Optional[np.ndarray]:
    """A bool column as uint8: bools, or integers that are all 0 or 1 (no strings, floats, None)."""
    if values is None:
        return None
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name}: expected a column of bools, got a single {type(values).__name__}")
    array = _array(values)
    if array.dtype == object:
        array = np.array(array.tolist())
    if array.ndim != 1 or array.shape[0] != count:
        raise ValueError(f"{name}: shape {array.shape} for {count} rows")
    if array.size and array.dtype.kind not in "biu":
        raise TypeError(f"{name}: expected bools (or 0/1 integers), got dtype {array.dtype}")
    if array.dtype.kind in "iu" and array.size:
        bad = np.flatnonzero((array != 0) & (array != 1))
        if bad.size:
            raise ValueError(f"{name}[{bad[0]}]: expected a bool (or 0/1), got {array[bad[0]]}")
    return np.ascontiguousarray(array, dtype=np.bool_).view(np.uint8)


def _text_option(value: Any, name: str, optional: bool = False) -> Optional[str]:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected str, got {type(value).__name__}")
    if "\0" in value:
        raise ValueError(f"{name}: contains a NUL character")
    return value


def _real_option(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}")
    return float(value)


def _threshold_option(value: Any, name: str) -> float:
    """A similarity threshold: None (off, 0 for the engine) or a number in (0, 1]."""
    if value is None:
        return 0.0
    threshold = _real_option(value, name)
    if not 0.0 < threshold <= 1.0:
        raise InvalidParameterError(f"{name}: must be a number in (0, 1], got {value}", 2)
    return threshold


def _int_option(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__}")
    if not -2**63 <= int(value) < 2**63:
        raise InvalidParameterError(f"{name}: {value} is outside the 64-bit range", 2)
    return int(value)


def _state_keys(state: Any, count: int) -> Optional[np.ndarray]:
    """The state column as uint64 keys when it holds integers (NumPy, list, Series, Arrow), else None."""
    if isinstance(state, (list, tuple)):
        first = state[0] if state else None
        if not isinstance(first, (int, np.integer)) or isinstance(first, bool):
            return None
    elif isinstance(state, np.ndarray) or _module(state) in ("pandas", "torch"):
        if _array(state).dtype.kind not in "iu":
            return None
    elif _is_arrow(state):
        kind = str(getattr(state, "type", None) or getattr(state, "dtype", None) or "")
        if not re.fullmatch(r"[uU]?[iI]nt\d+", kind):
            return None
    else:
        return None
    keys = _array(state)
    if keys.dtype.kind not in "iu":
        return None
    if keys.dtype.kind == "i" and keys.size and keys.min() < 0:
        raise ValueError("state: integer state keys must be non-negative (uint64)")
    return _numbers(keys, "state", count, np.uint64, "iu")


def score(group: Any, trajectory: Any, step: Any, state: Any, reward: Any, active: Any = None,
          noop: Any = None, *, action: Any = None, operator: str = "max-decay", gamma: float = 0.9,
          alpha: float = 0.85, advantage: Optional[str] = None, step_weight: float = 1.0,
          node_reward: str = "firstSeen", solver: str = "auto", tolerance: float = 1e-12,
          max_iterations: int = 10_000, similarity: Optional[float] = None,
          step_group_similarity: Optional[float] = None, goal_reward: float = 10.0,
          step_reward: str = "difference", episode_weighting: str = "rows", episode_weight: float = 1.0,
          step_group_history: int = 0) -> dict[str, Any]:
    """Scores a batch of step rows; returns a dict of float64 arrays aligned with the rows.

    Rows are columns of equal length (rows in any order; SPEC section 1):

    - ``group``, ``trajectory`` (the trainer's ``uid`` and ``traj_uid``), ``state`` (equal
      bytes = same state) and ``action`` (optional edge labels, default ""): str or bytes per
      row, given as a list, tuple, NumPy object array, NumPy ``U`` or ``S`` array, pandas
      Series, or any Arrow array or chunked array of ``string``, ``large_string``,
      ``string_view`` or binary type (pyarrow, polars; read zero-copy through the Arrow
      PyCapsule interface). Nulls, ``None`` and other objects are refused naming the row.
    - ``group``, ``trajectory`` and ``action`` may instead be NumPy integer arrays (or pandas
      integer Series): each value stands for its decimal text ``str(value)``.
    - ``state`` may instead hold non-negative integers (uint64 state keys): a NumPy, torch or
      pandas integer column, an Arrow integer array, or a list of ints.
    - ``step``: integers 0, 1, 2, ... within each trajectory; ``reward``: finite numbers;
      ``active`` and ``noop``: bools (default all active, no noop). Any NumPy array, buffer or
      DLPack object (CPU torch tensors), pandas Series, Arrow array, list or tuple, of any
      integer, float or bool dtype; converted only when its dtype differs from int64 /
      float64 / bool.

    Options: ``operator`` (one of ``operators()``), ``gamma``, ``alpha`` (pagerank, diffusion),
    ``advantage`` (None, "mean_norm", "mean_std_norm"), ``step_weight``, ``node_reward``
    ("firstSeen", "max", "mean"), for the linear operators ``solver``, ``tolerance``,
    ``max_iterations``, and the near-duplicate merging of SPEC 2.1 and 5 (difflib's ratio, bit
    for bit): ``similarity`` (graph states whose texts have ratio >= T are one state) and
    ``step_group_similarity`` (the same for step groups), each None (exact, the default) or a T
    in (0, 1]; both need text states. The peers' credit rules (SPEC 3-5; README "The peers'
    credit rules"): ``operator="goal-distance"`` with ``goal_reward`` R (V = R * gamma^d),
    ``step_reward`` "difference" | "absolute" | "progress" (goal-distance only),
    ``episode_weighting`` "rows" | "trajectories", ``episode_weight`` w_e and
    ``step_group_history`` K (step groups keyed on the last K states; 0 = off).

    Returns ``value``, ``step_reward``, ``step_reward_abs`` and, with ``advantage``,
    ``episode_advantage``, ``step_advantage``, ``advantage``: NumPy float64 arrays, or CPU torch
    tensors sharing their memory when ``reward`` was a torch tensor. Raises
    ``InvalidInputError`` / ``InvalidParameterError`` (both ``ValueError``) with the engine's
    message on bad rows or options, ``TypeError`` / ``ValueError`` naming the column (and row)
    for columns of the wrong type or length.
    """
    result = _engine(group, trajectory, step, state, reward, active, noop, action, operator, gamma, alpha,
                     advantage, step_weight, node_reward, solver, tolerance, max_iterations, similarity,
                     step_group_similarity, goal_reward, step_reward, episode_weighting, episode_weight,
                     step_group_history, statistics=False)
    if _module(reward) == "torch":
        import torch
        return {name: torch.from_numpy(values) for name, values in result.items()}
    return result


def stats(group: Any, trajectory: Any, step: Any, state: Any, reward: Any, active: Any = None,
          noop: Any = None, *, action: Any = None, operator: str = "max-decay", gamma: float = 0.9,
          alpha: float = 0.85, advantage: Optional[str] = "mean_norm", step_weight: float = 1.0,
          node_reward: str = "firstSeen", solver: str = "auto", tolerance: float = 1e-12,
          max_iterations: int = 10_000, similarity: Optional[float] = None,
          step_group_similarity: Optional[float] = None, goal_reward: float = 10.0,
          step_reward: str = "difference", episode_weighting: str = "rows", episode_weight: float = 1.0,
          step_group_history: int = 0) -> dict[str, Any]:
    """The statistics of the batch scored with these options, as ``rewardflow stats --json`` gives
    them (README, "Seeing the credit"): a dict with the batch's and each group's rows,
    trajectories, success rate, distinct states, nodes, edges, strongly connected components,
    unique-state ratio, step-group size histogram, share of nodes reaching a positive reward and
    quantiles of value, step reward and advantage. Columns and options as in ``score`` (here
    ``advantage`` defaults to "mean_norm", as in the CLI)."""
    import json
    return json.loads(_engine(group, trajectory, step, state, reward, active, noop, action, operator, gamma,
                              alpha, advantage, step_weight, node_reward, solver, tolerance, max_iterations,
                              similarity, step_group_similarity, goal_reward, step_reward, episode_weighting,
                              episode_weight, step_group_history, statistics=True))


def _engine(group, trajectory, step, state, reward, active, noop, action, operator, gamma, alpha, advantage,
            step_weight, node_reward, solver, tolerance, max_iterations, similarity, step_group_similarity,
            goal_reward, step_reward, episode_weighting, episode_weight, step_group_history, statistics):
    """One engine call on normalised columns: the score arrays, or the statistics' JSON text."""
    for name, column in (("group", group), ("trajectory", trajectory), ("state", state), ("action", action)):
        if isinstance(column, (str, bytes)):
            raise TypeError(f"{name}: expected a column (one value per row), got a single {type(column).__name__}")
    options = (_text_option(operator, "operator"), _real_option(gamma, "gamma"), _real_option(alpha, "alpha"),
               _text_option(solver, "solver"), _real_option(tolerance, "tolerance"),
               _int_option(max_iterations, "max_iterations"), _text_option(node_reward, "node_reward"),
               _text_option(advantage, "advantage", optional=True), _real_option(step_weight, "step_weight"),
               _threshold_option(similarity, "similarity"),
               _threshold_option(step_group_similarity, "step_group_similarity"),
               _real_option(goal_reward, "goal_reward"), _text_option(step_reward, "step_reward"),
               _real_option(episode_weight, "episode_weight"), _text_option(episode_weighting, "episode_weighting"),
               _int_option(step_group_history, "step_group_history"))
    rewards = _array(reward)
    if rewards.ndim != 1:
        raise ValueError(f"reward: expected a 1-D array, got shape {rewards.shape}")
    n = rewards.shape[0]
    rewards = _numbers(rewards, "reward", n, np.float64, "biuf")
    steps = _numbers(step, "step", n, np.int64, "iu")
    keys = _state_keys(state, n)
    names = _OUTPUTS[:3] if advantage in (None, "", "none") else _OUTPUTS
    result = {} if statistics else {name: np.empty(n, dtype=np.float64) for name in names}
    failure = _core.score(
        n, _strings(group), _strings(trajectory), steps, None if keys is not None else _strings(state),
        keys, rewards, _flags(active, "active", n), _flags(noop, "noop", n), _strings(action), options,
        None if statistics else tuple(result.get(name) for name in _OUTPUTS))
    if isinstance(failure, tuple):
        status, message = failure
        raise _ERRORS.get(status, RewardFlowError)(message, status)
    return failure if statistics else result
