"""A held-out digits split, a small MLP and one thread for torch (the machine is shared)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@pytest.fixture(scope="session")
def digits_split() -> Split:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.33, random_state=0, stratify=y)
    return xtr, xte, ytr.astype(np.int64), yte.astype(np.int64)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def mlp() -> Callable[[], Any]:
    """A seeded 64-64-10 MLP for flattened 8x8 digits (fast enough for tests on a shared CPU)."""

    def make(seed: int = 0) -> Any:
        import torch

        torch.manual_seed(seed)
        return torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))

    return make
