"""DP logistic regression for tabular data, returned as a real scikit-learn ``LogisticRegression``.

scikit-learn has no DP estimator, so the model is trained as a linear torch module with DP-SGD
(:func:`~pipeshield.training.dp.private.make_private`) and its weights are written into a
``LogisticRegression`` (``coef_``, ``intercept_``, ``classes_``): it can be saved with skops and
served like any scikit-learn model.

    >>> result = dp_logistic_regression(x, y, target_epsilon=1.0, delta=1e-5)   # doctest: +SKIP
    >>> result.model.predict(x_test), result.report.epsilon                      # doctest: +SKIP

Features are scaled into [0, 1] by per-feature ``bounds`` before training and the scaling is
folded back into the coefficients, so the model takes raw features. The bounds should be
**public** (a schema, a data dictionary): ``bounds=None`` reads them from the training data's
minimum and maximum, which is not covered by epsilon (the extremes are individual records'
values); :attr:`DPLogisticResult.bounds_source` says which was used, and the provenance records it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from pipeshield.errors import ConfigError
from pipeshield.training.dp.private import FitResult, PrivacyReport, fit, make_private

if TYPE_CHECKING:
    from sklearn.linear_model import LogisticRegression

__all__ = ["DPLogisticResult", "dp_logistic_regression"]

BOUNDS_FROM_DATA = "training data min/max (not covered by epsilon)"


@dataclass(frozen=True)
class DPLogisticResult:
    model: LogisticRegression
    report: PrivacyReport
    fit: FitResult
    bounds_source: str


def _bounds(x: np.ndarray, bounds: ArrayLike | None) -> tuple[np.ndarray, np.ndarray, str]:
    if bounds is None:
        return x.min(axis=0), x.max(axis=0), BOUNDS_FROM_DATA
    b = np.asarray(bounds, dtype=np.float64)
    if b.shape != (x.shape[1], 2):
        raise ConfigError(f"bounds: expected one (low, high) pair per feature, shape ({x.shape[1]}, 2); got {b.shape}")
    if not np.all(b[:, 0] <= b[:, 1]):
        raise ConfigError("bounds: a feature's low bound is above its high bound")
    return b[:, 0], b[:, 1], "given (public)"


def dp_logistic_regression(
    x: ArrayLike,
    y: ArrayLike,
    *,
    delta: float,
    target_epsilon: float | None = None,
    noise_multiplier: float | None = None,
    epochs: int = 30,
    batch_size: int = 64,
    lr: float = 0.5,
    max_grad_norm: float = 1.0,
    accountant: str = "prv",
    bounds: ArrayLike | None = None,
    seed: int = 0,
    ema_decay: float | None = None,
) -> DPLogisticResult:
    """Multinomial (binary: logistic) regression trained with DP-SGD; see the module docstring.

    ``batch_size`` is the expected batch size (sample rate ``~ batch_size / len(x)``);
    ``ema_decay`` averages the weights as in :func:`.private.fit`. Raises ConfigError for bad
    input or an unreachable target epsilon.
    """
    import torch
    from sklearn.linear_model import LogisticRegression
    from torch.utils.data import DataLoader, TensorDataset

    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y)
    if xa.ndim != 2 or ya.ndim != 1 or len(xa) != len(ya) or len(xa) == 0:
        raise ConfigError(f"x must be (rows, features) and y one label per row; got {xa.shape} and {ya.shape}")
    if not np.isfinite(xa).all():
        raise ConfigError("x: holds missing or infinite values; impute them first")
    classes = np.unique(ya)
    if len(classes) < 2:
        raise ConfigError("y: a single class; logistic regression needs at least two")
    if batch_size < 1 or batch_size >= len(xa):
        raise ConfigError(f"batch_size: {batch_size} must be between 1 and the number of rows ({len(xa)}) - 1")
    lo, hi, source = _bounds(xa, bounds)
    span = np.where(hi > lo, hi - lo, 1.0)
    xs = (np.clip(xa, lo, hi) - lo) / span
    binary = len(classes) == 2
    target = np.searchsorted(classes, ya)
    torch.manual_seed(seed)
    linear = torch.nn.Linear(xa.shape[1], 1 if binary else len(classes))
    torch.nn.init.zeros_(linear.weight)
    torch.nn.init.zeros_(linear.bias)
    xt = torch.as_tensor(xs, dtype=torch.float32)
    yt = torch.as_tensor(target, dtype=torch.float32 if binary else torch.long)
    loader = DataLoader(TensorDataset(xt, yt), batch_size=batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    private = make_private(
        linear, torch.optim.SGD(linear.parameters(), lr=lr), loader, delta=delta, target_epsilon=target_epsilon,
        noise_multiplier=noise_multiplier, epochs=epochs, max_grad_norm=max_grad_norm, accountant=accountant,
        noise_seed=seed,
    )

    def loss(out: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if binary:
            return torch.nn.functional.binary_cross_entropy_with_logits(out.reshape(-1), t)
        return torch.nn.functional.cross_entropy(out, t)

    history = fit(private, epochs=epochs, loss_fn=loss, ema_decay=ema_decay)
    report = private.spent()
    w = linear.weight.detach().double().numpy()
    b = linear.bias.detach().double().numpy()
    # z = w . (x - lo) / span + b  ==  (w / span) . x + (b - w . (lo / span))
    coef = w / span
    intercept = b - w @ (lo / span)
    model = LogisticRegression()
    model.coef_ = coef
    model.intercept_ = intercept
    model.classes_ = classes
    model.n_features_in_ = xa.shape[1]
    model.n_iter_ = np.asarray([epochs], dtype=np.int32)
    _names(model, x)
    return DPLogisticResult(model, report, history, source)


def _names(model: Any, x: Any) -> None:
    columns = getattr(x, "columns", None)
    if columns is not None:
        model.feature_names_in_ = np.asarray([str(c) for c in columns], dtype=object)
