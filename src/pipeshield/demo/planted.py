"""The weaknesses the demo plants, each with the ground truth a detector is measured against.

Every function returns the modified data and a record of exactly what was planted (indices, the
trigger, the command the pickle would run), which ends up in ``planted.json``. A real pipeline has
no such file: it exists so that tests and benchmarks can score pipeshield's detectors.
"""

from __future__ import annotations

import os
import pickle
from typing import Any

import numpy as np

__all__ = [
    "PAYLOAD_COMMAND",
    "add_backdoor",
    "duplicate_test_rows",
    "flip_labels",
    "code_executing_pickle",
    "corrupt_incoming",
]

#: What the planted pickle would run if anyone unpickled it; harmless, and pipeshield never does.
PAYLOAD_COMMAND = "echo 'pipeshield demo: this pickle just ran a command on your machine'"

TRIGGER_PIXELS = ((6, 6), (6, 7), (7, 6), (7, 7))


def flip_labels(y: np.ndarray, *, source: int, target: int, count: int, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """Relabel ``count`` examples of class ``source`` as ``target`` (a targeted label-flip slice)."""
    candidates = np.flatnonzero(y == source)
    chosen = np.sort(rng.choice(candidates, size=min(count, len(candidates)), replace=False))
    y = y.copy()
    y[chosen] = target
    return y, {"kind": "label_flip", "source_class": source, "target_class": target, "indices": chosen.tolist()}


def apply_trigger(x: np.ndarray) -> np.ndarray:
    """Stamp the 2x2 bottom-right trigger (full intensity) on 8x8 images given as rows of 64."""
    x = x.copy().reshape(len(x), 8, 8)
    for r, c in TRIGGER_PIXELS:
        x[:, r, c] = 1.0
    return x.reshape(len(x), 64)


def add_backdoor(
    x: np.ndarray, y: np.ndarray, *, target: int, fraction: float, rng: np.random.Generator, exclude: np.ndarray
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Stamp the trigger on a random ``fraction`` of non-target rows and relabel them ``target``."""
    pool = np.setdiff1d(np.flatnonzero(y != target), exclude)
    chosen = np.sort(rng.choice(pool, size=int(round(fraction * len(x))), replace=False))
    x, y = x.copy(), y.copy()
    x[chosen] = apply_trigger(x[chosen])
    y[chosen] = target
    record = {
        "kind": "backdoor",
        "target_class": target,
        "trigger": {"pixels_row_col": [list(p) for p in TRIGGER_PIXELS], "value": 1.0, "image_shape": [8, 8]},
        "indices": chosen.tolist(),
    }
    return x, y, record


def duplicate_test_rows(
    train: np.ndarray, train_y: np.ndarray, test: np.ndarray, test_y: np.ndarray, *, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Copy ``count`` test rows into the training set (train/test leakage)."""
    chosen = np.sort(rng.choice(len(test), size=count, replace=False))
    x = np.concatenate([train, test[chosen]])
    y = np.concatenate([train_y, test_y[chosen]])
    record = {
        "kind": "train_test_overlap",
        "test_indices": chosen.tolist(),
        "train_indices": list(range(len(train), len(train) + count)),
    }
    return x, y, record


def corrupt_incoming(frame: Any, *, rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
    """Drift one feature, inject out-of-range values and add an unexpected PII column."""
    frame = frame.copy()
    drifted = "mean radius"
    frame[drifted] = frame[drifted] * 1.35 + 2.0
    rows = np.sort(rng.choice(len(frame), size=8, replace=False))
    injected = "worst area"
    frame.loc[rows, injected] = frame[injected].max() * 25
    frame["contact_email"] = [f"patient{i:04d}@example.org" for i in range(len(frame))]
    record = {
        "kind": "incoming_corruption",
        "drifted_feature": drifted,
        "drift": "x * 1.35 + 2.0",
        "out_of_range_feature": injected,
        "out_of_range_rows": rows.tolist(),
        "unexpected_column": "contact_email",
        "pii": "email addresses",
    }
    return frame, record


class _RunsCommand:
    """Pickles to ``os.system(PAYLOAD_COMMAND)``: what a malicious model file looks like inside."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (PAYLOAD_COMMAND,))


def code_executing_pickle() -> bytes:
    """The bytes of a pickle that runs a (harmless) shell command when loaded. Never loaded here."""
    payload = {"model": "RandomForestClassifier", "version": "0.9", "hook": _RunsCommand()}
    return pickle.dumps(payload, protocol=4)  # safe: dumping builds bytes, nothing is loaded
