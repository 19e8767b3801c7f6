"""The demo's models and training callables; also usable as ``builder``/``training`` examples.

``build_digits_cnn`` is the builder named in the demo's pipeline file (safetensors state_dicts
need one); the ``train_*`` functions follow the training-callable contract:
``fn(x, y, *, seed) -> fitted model``, which checks use to train reference models.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["build_digits_cnn", "train_digits_cnn", "train_tabular_forest"]


def build_digits_cnn(n_classes: int = 10) -> Any:
    """A small CNN for 1x8x8 digit images (about 40k parameters)."""
    import torch.nn as nn

    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 64),
        nn.ReLU(),
        nn.Linear(64, n_classes),
    )


def train_digits_cnn(x: np.ndarray, y: np.ndarray, *, seed: int = 0, epochs: int = 40) -> Any:
    """Adam, batch 64, cross-entropy; the same model for a given seed on any CPU count (one torch
    thread, see :mod:`pipeshield._threads`)."""
    from pipeshield._threads import one_torch_thread

    with one_torch_thread():
        return _fit_digits_cnn(x, y, seed, epochs)


def _fit_digits_cnn(x: np.ndarray, y: np.ndarray, seed: int, epochs: int) -> Any:
    import torch

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = build_digits_cnn()
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32).reshape(-1, 1, 8, 8))
    yt = torch.as_tensor(np.asarray(y), dtype=torch.long)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), 64):
            idx = order[i : i + 64]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
    return model.eval()  # safe: nn.Module.eval() switches to inference mode


def train_tabular_forest(x: np.ndarray, y: np.ndarray, *, seed: int = 0) -> Any:
    """Fully grown trees without bootstrap: every training row is memorised (a planted weakness)."""
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(
        n_estimators=100, max_depth=None, min_samples_leaf=1, bootstrap=False, max_features=0.5, random_state=seed
    ).fit(x, y)
