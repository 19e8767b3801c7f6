"""Fixtures for the extraction tests: digits, and victims whose behaviour we know."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """The CPU is shared: one torch and one BLAS thread (the victims are scikit-learn models),
    restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="package")
def digits() -> dict[str, np.ndarray]:
    """Digits scaled to [0, 1], split into the victim's training set, the attacker's public pool
    (unlabelled to the attacker) and held-out test rows."""
    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    order = np.random.default_rng(0).permutation(len(x))
    tr, pool, te = order[:700], order[700:1200], order[1200:]
    return {"x_train": x[tr], "y_train": y[tr], "pool": x[pool], "x_test": x[te], "y_test": y[te]}


@pytest.fixture(scope="package")
def logistic(digits: dict[str, np.ndarray]) -> LogisticRegression:
    """A multinomial logistic regression: the victim whose parameters we know exactly."""
    with threadpool_limits(limits=1):
        return LogisticRegression(max_iter=2000).fit(digits["x_train"], digits["y_train"])


@pytest.fixture(scope="package")
def mlp(digits: dict[str, np.ndarray]) -> MLPClassifier:
    """A neural network victim. Fitted on one BLAS thread: on 2 busy cores OpenBLAS's threads
    took 21 s for this fit instead of under 1 s."""
    with threadpool_limits(limits=1):
        return MLPClassifier(hidden_layer_sizes=(64,), max_iter=500, random_state=0).fit(
            digits["x_train"], digits["y_train"]
        )


class Counting:
    """A victim wrapper that counts every row it is asked about."""

    def __init__(self, model: Any, decimals: int | None = None) -> None:
        self.model = model
        self.decimals = decimals
        self.rows = 0
        self.calls = 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.rows += len(x)
        self.calls += 1
        p = np.asarray(self.model.predict_proba(x))
        return np.round(p, self.decimals) if self.decimals is not None else p


@pytest.fixture()
def counting() -> type[Counting]:
    """The :class:`Counting` wrapper (tests are not a package: share it as a fixture)."""
    return Counting
