"""Default models to train on (poisoned) data when the pipeline gives no training callable.

Images get a small CNN (two 3x3 convolutions, one pooling, a two-layer head; any H x W of at least
4 x 4, any number of channels); tables get a random forest, which learns a value-pattern trigger
readily. Both follow the pipeline's training-callable contract ``fn(x, y, *, seed) -> model`` and
are wrapped as :class:`Classifier` so attack code only ever calls ``predict``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeshield._threads import one_torch_thread
from pipeshield.errors import TargetError

__all__ = ["Classifier", "small_cnn", "train_default", "wrap_model"]


@dataclass(frozen=True)
class Classifier:
    """A trained model reduced to ``predict(rows) -> class indices``."""

    predict: Callable[[np.ndarray], np.ndarray]
    model: Any


def small_cnn(image_shape: tuple[int, ...], n_classes: int) -> Any:
    from torch import nn

    c = image_shape[0] if len(image_shape) == 3 else 1
    return nn.Sequential(
        nn.Conv2d(c, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(4),
        nn.Flatten(),
        nn.Linear(32 * 16, 64),
        nn.ReLU(),
        nn.Linear(64, n_classes),
    )


def _train_cnn(x: np.ndarray, y: np.ndarray, image_shape: tuple[int, ...], *, seed: int, epochs: int) -> Classifier:

    with one_torch_thread():
        return _fit_cnn(x, y, image_shape, seed=seed, epochs=epochs)


def _fit_cnn(x: np.ndarray, y: np.ndarray, image_shape: tuple[int, ...], *, seed: int, epochs: int) -> Classifier:
    import torch

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    shape = image_shape if len(image_shape) == 3 else (1, *image_shape)
    n_classes = int(y.max()) + 1
    net = small_cnn(shape, n_classes)
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32).reshape(-1, *shape))
    yt = torch.as_tensor(y, dtype=torch.long)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), 64):
            idx = order[i : i + 64]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx]).backward()  # type: ignore[no-untyped-call]
            opt.step()
    net.eval()  # safe: nn.Module.eval() switches to inference mode

    def predict(rows: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = net(torch.as_tensor(np.asarray(rows, dtype=np.float32).reshape(-1, *shape)))
        return np.asarray(out.argmax(1).numpy())

    return Classifier(predict, net)


def train_default(
    x: np.ndarray, y: np.ndarray, *, image_shape: tuple[int, ...] | None, seed: int, epochs: int = 30
) -> Classifier:
    """Train the default model for the data type; ``y`` holds class indices ``0..K-1``."""
    if image_shape is not None:
        return _train_cnn(x, y, image_shape, seed=seed, epochs=epochs)
    from sklearn.ensemble import RandomForestClassifier

    forest = RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1).fit(x, y)
    return Classifier(lambda rows: np.asarray(forest.predict(rows)), forest)


def wrap_model(model: Any, classes: np.ndarray, where: str, *, input_shape: tuple[int, ...] | None = None) -> Classifier:
    """A user's trained model (torch module or anything with ``predict``) as a Classifier that
    answers class indices into ``classes``; a torch module gets rows reshaped to ``input_shape``."""
    index = {str(c): i for i, c in enumerate(classes)}
    if hasattr(model, "predict") and not hasattr(model, "forward"):
        def predict(rows: np.ndarray) -> np.ndarray:
            return np.asarray([index.get(str(v), -1) for v in model.predict(rows)])

        return Classifier(predict, model)
    if hasattr(model, "forward"):
        import torch

        def predict_torch(rows: np.ndarray) -> np.ndarray:
            model.eval()  # safe: nn.Module.eval() switches to inference mode
            with torch.inference_mode():
                try:
                    xt = torch.as_tensor(np.asarray(rows, dtype=np.float32))
                    out = model(xt.reshape(-1, *input_shape) if input_shape else xt)
                except RuntimeError as err:
                    raise TargetError(f"{where}: the trained model rejected the rows: {str(err).splitlines()[0]}") from None
            return np.asarray(out.argmax(1).numpy())

        return Classifier(predict_torch, model)
    raise TargetError(f"{where}: returned {type(model).__name__}, which has neither predict() nor forward()")
