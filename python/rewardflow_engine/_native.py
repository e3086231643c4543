"""ctypes view of include/rewardflow.h and the loading of librewardflow.so.

The library is looked up, in this order, at:

1. ``$REWARDFLOW_LIBRARY`` (an explicit path, e.g. a fresh CMake build);
2. ``librewardflow.so`` inside this package (put there by ``pip install``);
3. the system's library path (``cmake --install`` to a prefix the loader searches).
"""
import ctypes
import ctypes.util
import os
from pathlib import Path

ABI_VERSION = 1  # RF_ABI_VERSION of the header these declarations mirror

OK = 0
INVALID_INPUT = 1
INVALID_PARAMETER = 2
INVALID_ARGUMENT = 3
NUMERICAL = 4
INTERNAL = 5


class Strings(ctypes.Structure):
    """rf_strings: back-to-back bytes plus count + 1 int64 offsets."""

    _fields_ = [("data", ctypes.c_char_p), ("offsets", ctypes.c_void_p)]


class Rows(ctypes.Structure):
    """rf_rows: one append's columns."""

    _fields_ = [
        ("count", ctypes.c_size_t),
        ("group", Strings),
        ("trajectory", Strings),
        ("step", ctypes.c_void_p),
        ("state", Strings),
        ("state_key", ctypes.c_void_p),
        ("action", Strings),
        ("reward", ctypes.c_void_p),
        ("active", ctypes.c_void_p),
        ("noop", ctypes.c_void_p),
    ]


class Options(ctypes.Structure):
    """rf_options (initialise with rf_options_init)."""

    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("operator_name", ctypes.c_char_p),
        ("gamma", ctypes.c_double),
        ("alpha", ctypes.c_double),
        ("solver", ctypes.c_char_p),
        ("tolerance", ctypes.c_double),
        ("max_iterations", ctypes.c_int64),
        ("node_reward", ctypes.c_char_p),
        ("advantage", ctypes.c_char_p),
        ("step_weight", ctypes.c_double),
    ]


class Outputs(ctypes.Structure):
    """rf_outputs: caller-owned float64 arrays."""

    _fields_ = [
        ("capacity", ctypes.c_size_t),
        ("value", ctypes.c_void_p),
        ("step_reward", ctypes.c_void_p),
        ("step_reward_abs", ctypes.c_void_p),
        ("episode_advantage", ctypes.c_void_p),
        ("step_advantage", ctypes.c_void_p),
        ("advantage", ctypes.c_void_p),
    ]


def _candidates():
    given = os.environ.get("REWARDFLOW_LIBRARY")
    if given:
        return [given]
    found = ctypes.util.find_library("rewardflow")
    return [str(Path(__file__).with_name("librewardflow.so"))] + ([found] if found else [])


def _load():
    tried = []
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)  # CDLL releases the GIL during calls
        except OSError as error:
            tried.append(f"{path}: {error}")
            continue
        _declare(lib)
        if lib.rf_abi_version() != ABI_VERSION:
            raise ImportError(
                f"{path} has C ABI version {lib.rf_abi_version()}, this package needs {ABI_VERSION}")
        return lib, path
    raise ImportError(
        "librewardflow.so not found (reinstall with `pip install ./python`, or set "
        "REWARDFLOW_LIBRARY to a built librewardflow.so); tried: " + "; ".join(tried))


def _declare(lib):
    status = ctypes.c_int
    batch = ctypes.c_void_p
    signatures = {
        "rf_version": (ctypes.c_char_p, []),
        "rf_abi_version": (ctypes.c_int32, []),
        "rf_operators": (ctypes.c_char_p, []),
        "rf_last_error": (ctypes.c_char_p, []),
        "rf_options_init": (None, [ctypes.POINTER(Options)]),
        "rf_batch_create": (status, [ctypes.POINTER(batch)]),
        "rf_batch_destroy": (None, [batch]),
        "rf_batch_append": (status, [batch, ctypes.POINTER(Rows)]),
        "rf_batch_count": (ctypes.c_size_t, [batch]),
        "rf_batch_clear": (status, [batch]),
        "rf_score": (status, [batch, ctypes.POINTER(Options), ctypes.POINTER(Outputs)]),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes


lib, path = _load()
