"""Digits split in two halves: one trains the attacked models, the other the independent judge."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch


@pytest.fixture(scope="package", autouse=True)
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="package")
def digits() -> dict[str, Any]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    xa, xb, ya, yb = train_test_split(x, y, test_size=0.5, random_state=0, stratify=y)
    return {"x_train": xa, "y_train": ya, "x_judge": xb, "y_judge": yb}


@pytest.fixture(scope="package")
def softmax_model(digits: dict[str, Any]) -> torch.nn.Module:
    """Multinomial logistic regression as a torch module on 1x8x8 inputs."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    xt = torch.as_tensor(digits["x_train"]).reshape(-1, 1, 8, 8)
    yt = torch.as_tensor(digits["y_train"])
    for _ in range(300):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), yt).backward()  # type: ignore[no-untyped-call]
        opt.step()
    return model.eval()


@pytest.fixture(scope="package")
def cnn(digits: dict[str, Any]) -> torch.nn.Module:
    from pipeshield.demo.models import train_digits_cnn

    model: torch.nn.Module = train_digits_cnn(digits["x_train"], digits["y_train"], seed=0, epochs=20)
    return model


@pytest.fixture(scope="package")
def judge_model(digits: dict[str, Any]) -> Any:
    from pipeshield.attacks.inversion import train_evaluator

    return train_evaluator(digits["x_judge"], digits["y_judge"])


SENSITIVE = 2  # the planted table's sensitive column


def _planted_rows(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    s = rng.integers(0, 3, n)
    other = rng.normal(size=(n, 4))
    y = ((s == 2) | ((s == 1) & (other[:, 0] > 0))).astype(int)
    y = np.where(rng.random(n) < 0.2, 1 - y, y)
    return np.column_stack([other[:, :2], s, other[:, 2:]]), y


@pytest.fixture(scope="package")
def planted() -> dict[str, Any]:
    """A table whose column ``SENSITIVE`` (2) drives the label by a known rule (20% label noise);
    the other columns are independent of it. Members ``xm, ym``, non-members ``xn, yn``."""
    rng = np.random.default_rng(0)
    xm, ym = _planted_rows(400, rng)
    xn, yn = _planted_rows(400, rng)
    return {"xm": xm, "ym": ym, "xn": xn, "yn": yn, "sensitive": SENSITIVE}


class ProbaTarget:
    """A black-box Target over a torch module: flat rows in, probabilities out."""

    white_box = False

    def __init__(self, module: torch.nn.Module) -> None:
        self.module, self.name, self.classes = module, "cnn", np.arange(10)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            t = torch.as_tensor(np.asarray(x, np.float32).reshape(-1, 1, 8, 8))
            return torch.softmax(self.module(t), dim=1).numpy().astype(np.float64)


@pytest.fixture(scope="package")
def black_box(cnn: torch.nn.Module) -> ProbaTarget:
    return ProbaTarget(cnn)
