"""Digits split for federated tests, a model small enough to train in milliseconds, and one
in-process comparison per attack shared by the module that reads it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest


def build_logreg() -> Any:
    """Multinomial logistic regression on 8x8 digits (650 parameters): fast, and it learns digits
    to ~90% in a few federated rounds."""
    import torch.nn as nn

    return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))


@pytest.fixture(scope="session")
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    order = np.random.default_rng(0).permutation(len(x))
    train, test = order[:1200], order[1200:]
    return x[train], d.target[train], x[test], d.target[test]
