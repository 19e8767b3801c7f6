"""Digits split and a seeded CNN trainer shared by the robust-training tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@pytest.fixture(scope="session")
def digits() -> Split:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.33, random_state=0, stratify=y)
    return xtr, xte, ytr, yte


Trainer = Callable[[np.ndarray, np.ndarray], Any]


def _cnn_trainer(epochs: int, seed: int = 0) -> Trainer:

    def train(x: np.ndarray, y: np.ndarray) -> Any:
        import torch

        from pipeshield.demo.models import build_digits_cnn
        from pipeshield.training.robust import fit_module

        torch.manual_seed(seed)
        return fit_module(build_digits_cnn(), x, y, epochs=epochs, seed=seed, input_shape=(1, 8, 8))

    return train


def _accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    import torch

    with torch.inference_mode():
        pred = model(torch.as_tensor(x.reshape(-1, 1, 8, 8))).argmax(1).numpy()
    return float((pred == y).mean())


@pytest.fixture
def cnn_trainer() -> Callable[..., Trainer]:
    """``cnn_trainer(epochs) -> fn(x, y) -> module``: the demo CNN, seeded before it is built."""
    return _cnn_trainer


@pytest.fixture
def accuracy() -> Callable[[Any, np.ndarray, np.ndarray], float]:
    return _accuracy
