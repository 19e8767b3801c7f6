"""Learning-based substitutes: a small torch network trained on the victim's answers.

The network is the evasion package's surrogate (``pipeshield.attacks.evasion.transfer``): an MLP
over flat rows that standardises with its training set's statistics inside the module, so input
gradients are with respect to raw features and the white-box attacks apply unchanged. Training
is soft cross-entropy (probabilities, or one-hot labels for a label-only victim) with Adam,
seeded, on one thread, without touching the caller's global torch random state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import nn

from pipeshield._threads import one_torch_thread
from pipeshield.attacks.evasion.transfer import Surrogate, _network
from pipeshield.core.targets.base import softmax

__all__ = ["TorchSubstitute", "label_gradient_sign", "train_substitute"]

_BATCH = 1024


class TorchSubstitute:
    """A trained network with ``predict``/``predict_proba`` over the victim's ``classes``.

    ``module`` returns logits, column ``j`` for ``classes[j]``; ``queries`` is what training it
    cost.
    """

    def __init__(self, module: nn.Module, classes: NDArray[Any], queries: int) -> None:
        self.module = module
        self.classes = np.asarray(classes)
        self.queries = queries

    def logits(self, x: ArrayLike) -> NDArray[np.float64]:
        rows = np.asarray(x, dtype=np.float32)
        rows = rows.reshape(len(rows), -1)
        self.module.eval()  # safe: nn.Module.eval() switches to inference mode
        with one_torch_thread(), torch.no_grad():
            out = [
                self.module(torch.as_tensor(rows[i : i + _BATCH])).double().numpy()
                for i in range(0, len(rows), _BATCH)
            ]
        return np.concatenate(out) if out else np.zeros((0, len(self.classes)))

    def predict_proba(self, x: ArrayLike) -> NDArray[np.float64]:
        p: NDArray[np.float64] = softmax(self.logits(x))
        return p

    def predict(self, x: ArrayLike) -> NDArray[Any]:
        out: NDArray[Any] = self.classes[self.logits(x).argmax(axis=1)]
        return out

    def to_module(self) -> nn.Module:
        return self.module


def train_substitute(
    x: NDArray[np.float64],
    soft: NDArray[np.float64],
    classes: NDArray[Any],
    *,
    hidden: Sequence[int],
    epochs: int,
    min_steps: int,
    lr: float,
    batch_size: int,
    seed: int,
) -> TorchSubstitute:
    """Fit a fresh network to ``soft`` targets (rows of probabilities) on rows ``x``.

    Runs ``epochs`` passes, or more when that would be fewer than ``min_steps`` optimiser steps
    (a few dozen queries would otherwise get a handful of updates).
    """
    d, k = x.shape[1], soft.shape[1]
    mean = torch.as_tensor(x.mean(axis=0), dtype=torch.float32)
    sd = x.std(axis=0)
    std = torch.as_tensor(np.where(sd > 1e-8, sd, 1.0), dtype=torch.float32)
    batches = -(-len(x) // batch_size)
    n_epochs = max(epochs, -(-min_steps // batches))
    with one_torch_thread(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Surrogate(_network((d,), hidden, k), mean, std, (d,), len(x))
        xt = torch.as_tensor(x, dtype=torch.float32)
        pt = torch.as_tensor(soft, dtype=torch.float32)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        gen = torch.Generator().manual_seed(seed)
        model.train()
        for _ in range(n_epochs):
            order = torch.randperm(len(xt), generator=gen)
            for i in range(0, len(xt), batch_size):
                b = order[i : i + batch_size]
                loss = -(pt[b] * torch.log_softmax(model(xt[b]), dim=1)).sum(dim=1).mean()
                opt.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]
                opt.step()
    model.eval()  # safe: nn.Module.eval() switches to inference mode
    return TorchSubstitute(model, classes, len(x))


def label_gradient_sign(
    sub: TorchSubstitute, x: NDArray[np.float64], cols: NDArray[np.int64]
) -> NDArray[np.float64]:
    """``sign(dF_c(x)/dx)`` for each row's class column ``c`` (Papernot et al.'s ``J_F[O(x)]``).

    The gradient of ``log softmax`` has the sign of the gradient of the probability itself
    (``dp = p * dlog p``, ``p > 0``) but does not vanish when the softmax saturates.
    """
    module = sub.module
    module.eval()  # safe: nn.Module.eval() switches to inference mode
    out = []
    with one_torch_thread():
        for i in range(0, len(x), _BATCH):
            xb = torch.as_tensor(x[i : i + _BATCH], dtype=torch.float32).requires_grad_(True)
            cb = torch.as_tensor(cols[i : i + _BATCH])
            with torch.enable_grad():
                logp = torch.log_softmax(module(xb), dim=1)
                (grad,) = torch.autograd.grad(logp.gather(1, cb[:, None]).sum(), xb)
            out.append(grad.sign().double().numpy())
    return np.concatenate(out) if out else np.zeros_like(x)
