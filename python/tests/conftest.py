"""Shared helpers: the conformance fixtures beside the repository, and JSONL rows as columns."""
import json
import os
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
CONFORMANCE = Path(os.environ.get("REWARDFLOW_CONFORMANCE") or REPO.parent / "shared" / "conformance")


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def columns(rows):
    """SPEC section 1 rows (dicts) as the keyword arguments of rewardflow.score."""
    return dict(
        group=[r["group"] for r in rows],
        trajectory=[r["trajectory"] for r in rows],
        step=np.array([r["step"] for r in rows], dtype=np.int64),
        state=[r["state"] for r in rows],
        reward=np.array([r["reward"] for r in rows], dtype=np.float64),
        active=np.array([r.get("active", True) for r in rows]),
        noop=np.array([r.get("noop", False) for r in rows]),
        action=[r.get("action", "") for r in rows],
    )
