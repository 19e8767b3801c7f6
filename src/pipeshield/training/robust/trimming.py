"""Per-sample loss trimming: iterative trimmed loss minimisation (Shen & Sanghavi, ICML 2019).

Each epoch after ``warmup`` plain epochs, every training row's loss is computed with the current
model, and the epoch trains only on the ``1 - trim`` fraction with the smallest loss. A flipped
label disagrees with what the rest of its class teaches, so it keeps a large loss and is left out,
and the model never gets to memorise it. ``trim`` should be at least the expected share of bad rows
(the paper's guarantee needs it); too large a ``trim`` throws away the hardest clean rows.

What it does not stop: a backdoor. Triggered rows carry a feature that predicts their (wrong)
label perfectly, so they are fitted in the first epochs and their loss is *small*: trimming keeps
them. ``bench/robust_training.py`` measures both; use sanitize-then-train for backdoors.

    >>> model, result = trimmed_train(build(), x, y, trim=0.2, warmup=5, epochs=40,
    ...                               input_shape=(1, 8, 8))               # doctest: +SKIP
    >>> result.trimmed.sum()          # rows left out in the last epoch
    240
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeshield._threads import one_torch_thread
from pipeshield.data.poisoning.results import DetectionMetrics, detection_metrics
from pipeshield.errors import ConfigError
from pipeshield.training.robust.losses import per_sample_loss

if TYPE_CHECKING:
    import torch

__all__ = ["TrimResult", "check_trim", "fit_module", "trimmed_train"]

#: ``progress(done_epochs, total_epochs)``
Progress = Callable[[int, int], None]


def check_trim(trim: float, *, option: str = "trim") -> float:
    """``trim`` must be in (0, 0.5): trimming half the rows or more lets the bad rows be the majority."""
    if not 0 < trim < 0.5:
        raise ConfigError(f"{option}: the share of rows trimmed each epoch must be between 0 and 0.5, exclusive "
                          f"(got {trim}); set it a little above the share of rows you expect to be bad")
    return float(trim)


@dataclass(frozen=True)
class TrimResult:
    """What loss trimming left out: ``trimmed`` marks the rows excluded in the last epoch."""

    trim: float
    warmup: int
    epochs: int
    loss: str
    trimmed: np.ndarray
    trimmed_ever: np.ndarray
    metrics: DetectionMetrics | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "trim": self.trim,
            "warmup_epochs": self.warmup,
            "epochs": self.epochs,
            "loss": self.loss,
            "n_rows": int(len(self.trimmed)),
            "trimmed_last_epoch": int(self.trimmed.sum()),
            "trimmed_in_any_epoch": int(self.trimmed_ever.sum()),
        }
        if self.metrics is not None:
            out["metrics"] = self.metrics.to_dict()
        return out


def _tensors(x: np.ndarray, y: np.ndarray, input_shape: tuple[int, ...] | None) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    rows = np.asarray(x, dtype=np.float32)
    if input_shape:
        rows = rows.reshape((-1, *input_shape))
    labels = np.asarray(y)
    if labels.dtype.kind not in "iu" or len(labels) != len(rows):
        raise ConfigError(f"labels: expected {len(rows)} class indices (whole numbers), got {labels.dtype} x {len(labels)}")
    return torch.from_numpy(np.ascontiguousarray(rows)), torch.as_tensor(labels, dtype=torch.long)


def _row_losses(module: torch.nn.Module, xt: torch.Tensor, yt: torch.Tensor, loss: Any) -> np.ndarray:
    import torch

    module.eval()  # safe: nn.Module.eval() switches to inference mode
    with torch.inference_mode():
        out = torch.cat([loss(module(xt[i : i + 1024]), yt[i : i + 1024]) for i in range(0, len(xt), 1024)])
    module.train()
    return np.asarray(out.numpy(), dtype=np.float64)


def _train(
    module: torch.nn.Module, x: np.ndarray, y: np.ndarray, *, trim: float, warmup: int, epochs: int, loss: str,
    lr: float, batch_size: int, seed: int, input_shape: tuple[int, ...] | None, progress: Progress | None,
) -> tuple[np.ndarray, np.ndarray]:
    import torch

    if epochs < 1 or batch_size < 1:
        raise ConfigError(f"epochs and batch size must be at least 1 (got {epochs}, {batch_size})")
    loss_fn = per_sample_loss(loss)
    xt, yt = _tensors(x, y, input_shape)
    n = len(xt)
    keep_n = n - int(round(trim * n))
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(module.parameters(), lr=lr)
    trimmed = np.zeros(n, dtype=bool)
    ever = np.zeros(n, dtype=bool)
    module.train()
    for epoch in range(epochs):
        rows = torch.arange(n)
        if trim > 0 and epoch >= warmup:
            losses = _row_losses(module, xt, yt, loss_fn)
            kept = np.sort(np.argsort(losses, kind="stable")[:keep_n])
            trimmed = np.ones(n, dtype=bool)
            trimmed[kept] = False
            ever |= trimmed
            rows = torch.from_numpy(kept)
        order = rows[torch.randperm(len(rows), generator=gen)]
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            opt.zero_grad()
            loss_fn(module(xt[idx]), yt[idx]).mean().backward()  # type: ignore[no-untyped-call]
            opt.step()
        if progress is not None:
            progress(epoch + 1, epochs)
    module.eval()  # safe: nn.Module.eval() switches to inference mode
    return trimmed, ever


def fit_module(
    module: torch.nn.Module, x: np.ndarray, y: np.ndarray, *, epochs: int = 40, loss: str = "cross-entropy",
    lr: float = 2e-3, batch_size: int = 64, seed: int = 0, input_shape: tuple[int, ...] | None = None,
    progress: Progress | None = None,
) -> torch.nn.Module:
    """Plain training (Adam, mini-batches, the named loss): the baseline trimming is compared with.

    ``y`` holds class indices; rows are reshaped to ``input_shape`` when given. Returns ``module``,
    trained in place and left in eval mode.
    """
    with one_torch_thread():
        _train(module, x, y, trim=0.0, warmup=0, epochs=epochs, loss=loss, lr=lr, batch_size=batch_size,
               seed=seed, input_shape=input_shape, progress=progress)
    return module


def trimmed_train(
    module: torch.nn.Module, x: np.ndarray, y: np.ndarray, *, trim: float = 0.1, warmup: int = 5, epochs: int = 40,
    loss: str = "cross-entropy", lr: float = 2e-3, batch_size: int = 64, seed: int = 0,
    input_shape: tuple[int, ...] | None = None, mask: np.ndarray | None = None, progress: Progress | None = None,
) -> tuple[torch.nn.Module, TrimResult]:
    """Train ``module`` in place with iterative trimmed loss minimisation (see the module docstring).

    With ``mask`` (``True`` = poisoned, when you know), the result scores the rows trimmed in the last
    epoch as a detector: precision, recall and FPR against it.
    """
    check_trim(trim)
    if not 0 <= warmup < epochs:
        raise ConfigError(f"warmup: must be at least 0 and below the {epochs} epochs (got {warmup})")
    if mask is not None and len(mask) != len(x):
        raise ConfigError(f"mask: has {len(mask)} entries but the data has {len(x)} rows")
    with one_torch_thread():
        trimmed, ever = _train(module, x, y, trim=trim, warmup=warmup, epochs=epochs, loss=loss, lr=lr,
                               batch_size=batch_size, seed=seed, input_shape=input_shape, progress=progress)
    metrics = detection_metrics(trimmed, np.asarray(mask, dtype=bool)) if mask is not None else None
    return module, TrimResult(trim, warmup, epochs, loss, trimmed, ever, metrics)
