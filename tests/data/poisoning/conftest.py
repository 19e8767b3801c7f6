"""Fixtures for the poisoning detectors: the demo's digits data, its backdoored CNN, the ground truth."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest


@dataclass(frozen=True)
class DemoDigits:
    root: Path
    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    flips: np.ndarray  # bool mask of the 40 planted label flips
    backdoor: np.ndarray  # bool mask of the planted triggered rows
    target: Any  # the demo CNN as a TorchTarget
    features: np.ndarray  # its penultimate activations on x


@pytest.fixture(scope="module")
def demo_digits(demo_pipeline: Path) -> DemoDigits:
    from pipeshield.core.pipeline import load_pipeline
    from pipeshield.core.targets import load_target
    from pipeshield.data.poisoning import penultimate_activations

    root = demo_pipeline.parent
    planted = json.loads((root / "planted.json").read_text())
    with np.load(root / "data/digits_train.npz") as npz:
        x, y = npz["x"], npz["label"]
    with np.load(root / "data/digits_test.npz") as npz:
        x_test, y_test = npz["x"], npz["label"]
    flips = np.zeros(len(y), dtype=bool)
    flips[planted["label_flip"]["indices"]] = True
    backdoor = np.zeros(len(y), dtype=bool)
    backdoor[planted["backdoor"]["indices"]] = True
    target = load_target(load_pipeline(demo_pipeline), "digits_cnn")
    return DemoDigits(root, x, y, x_test, y_test, flips, backdoor, target, penultimate_activations(target, x))
