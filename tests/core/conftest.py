"""Fixtures for the core tests: small real models on scikit-learn's bundled data (no downloads).

The torch CNN is trained once per session (a few seconds on two cores) and saved in every format
the torch loaders accept; its builder is a real module file in the same folder, so
``builder = "ps_test_digits_builder:build"`` resolves from the pipeline folder as a user's would.
"""

from __future__ import annotations

import importlib.util
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipeshield.core.pipeline import Pipeline, parse_pipeline

SEED = 0
BUILDER_MODULE = "ps_test_digits_builder"
# Modules this suite writes to disk are named so; they are dropped from sys.modules after each test.
_MODULE_PREFIX = "ps_test_"

BUILDER_SOURCE = """\
import torch.nn as nn


def build(channels=8):
    return nn.Sequential(
        nn.Conv2d(1, channels, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(channels * 16, 10),
    )


def not_a_module():
    return {"weight": [1.0, 2.0]}


def explode():
    raise RuntimeError("builder exploded on purpose")
"""


def _make_pipeline(folder: Path, **sections: Any) -> Pipeline:
    return parse_pipeline(sections, folder / "pipeshield.toml")


@pytest.fixture
def make_pipeline() -> Callable[..., Pipeline]:
    """``make_pipeline(folder, **sections)``: a validated pipeline whose file sits in ``folder``."""
    return _make_pipeline


@pytest.fixture(autouse=True)
def _isolate_imports(monkeypatch: pytest.MonkeyPatch):
    """``resolve_callable`` prepends the pipeline folder to sys.path; undo that after each test."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield
    for name in [n for n in sys.modules if n.startswith(_MODULE_PREFIX)]:
        del sys.modules[name]


@dataclass(frozen=True)
class Split:
    x_train: np.ndarray
    x_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray


def _split(x: np.ndarray, y: np.ndarray) -> Split:
    from sklearn.model_selection import train_test_split

    x_tr, x_te, y_tr, y_te = train_test_split(
        x.astype(np.float32), y, test_size=0.25, random_state=SEED, stratify=y
    )
    return Split(x_tr, x_te, y_tr, y_te)


@pytest.fixture(scope="session")
def digits() -> Split:
    """load_digits, pixels scaled to [0, 1], as flat float32 rows of 64 features."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return _split(x / 16.0, y)


@pytest.fixture(scope="session")
def iris() -> Split:
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    return _split(x, y)


@pytest.fixture(scope="session")
def breast_cancer() -> Split:
    """Standardised with training statistics, so linear models converge quickly."""
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    split = _split(x, y)
    mu, sd = split.x_train.mean(axis=0), split.x_train.std(axis=0)
    return Split(
        ((split.x_train - mu) / sd).astype(np.float32),
        ((split.x_test - mu) / sd).astype(np.float32),
        split.y_train,
        split.y_test,
    )


@dataclass(frozen=True)
class TorchArtifacts:
    """The trained CNN and where each saved form of it lives."""

    folder: Path
    builder_module: str
    model: Any  # torch.nn.Module, trained, eval mode
    files: dict[str, Path]
    torchscript_skip: dict[str, str]  # kind -> reason, when a TorchScript form could not be made


@pytest.fixture(scope="session")
def torch_digits(tmp_path_factory: pytest.TempPathFactory, digits: Split) -> TorchArtifacts:
    import torch
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("torch_digits")
    (folder / f"{BUILDER_MODULE}.py").write_text(BUILDER_SOURCE)
    # Import the file under a private name: the loader must import it by itself.
    spec = importlib.util.spec_from_file_location(
        "_ps_train_builder", folder / f"{BUILDER_MODULE}.py"
    )
    assert spec is not None and spec.loader is not None
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)

    torch.manual_seed(SEED)
    model = builder.build()
    x = torch.from_numpy(digits.x_train.reshape(-1, 1, 8, 8))
    y = torch.from_numpy(digits.y_train).long()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(SEED)
    model.train()
    for _ in range(8):
        for idx in torch.randperm(len(x), generator=gen).split(64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    model.eval()

    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    files = {"safetensors": folder / "cnn.safetensors", "torch": folder / "cnn.pt"}
    save_file(state, str(files["safetensors"]))
    torch.save(state, files["torch"])

    skip: dict[str, str] = {}
    example = x[:2]
    makers = {
        "torchscript-script": lambda: torch.jit.script(model),
        "torchscript-trace": lambda: torch.jit.trace(model, example),
    }
    for kind, make in makers.items():
        path = folder / f"cnn-{kind.split('-')[1]}.ts"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch 2.13 deprecates TorchScript; it still works
                torch.jit.save(make(), str(path))
        except Exception as err:  # noqa: BLE001 - whatever the torch build raises becomes a skip
            skip[kind] = (
                f"TorchScript unavailable in torch {torch.__version__}: {type(err).__name__}: {err}"
            )
        else:
            files[kind] = path
    return TorchArtifacts(folder, BUILDER_MODULE, model, files, skip)
