"""Transfer attacks: craft on a white-box surrogate, replay against a black-box target.

A served model that answers only labels still leaks: adversarial examples found on a similar
model often fool it too (Papernot et al. 2017). :func:`train_surrogate` distils the target into
a small torch network from one batch of queries (its probabilities, or only its labels);
:func:`transfer` runs the package's white-box attacks (``fgsm``, ``pgd``, ``apgd``) on the
surrogate and replays the result against the target, which decides success.

    >>> sur = train_surrogate(target, x_pool, input_shape=(1, 8, 8))  # doctest: +SKIP
    >>> res = transfer(sur, target, x, y, eps=0.3, clip=(0.0, 1.0))  # doctest: +SKIP
    >>> res.success_rate, sur.queries  # doctest: +SKIP

A low transfer rate says little: the surrogate may simply be a poor copy. It is a lower bound on
what a label-only attacker achieves, not evidence of robustness.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from pipeshield._threads import one_torch_thread
from pipeshield.attacks.evasion._blackbox import Clip, class_columns, flat_bounds, label_oracle
from pipeshield.attacks.evasion._engine import as_module
from pipeshield.attacks.evasion.api import get_attack

__all__ = ["Surrogate", "TransferResult", "train_surrogate", "transfer"]

_BATCH = 512  # inputs crafted per white-box call


@dataclass(frozen=True)
class TransferResult:
    """Adversarials crafted on the surrogate and whether each fooled the target.

    ``queries`` counts target queries per input: 1 clean query, plus 1 replay query for inputs
    the target classified correctly (the others come back unchanged with ``success`` True).
    """

    x_adv: np.ndarray
    success: np.ndarray  # bool: the target misclassifies x_adv
    surrogate_success: np.ndarray  # bool: the surrogate misclassifies x_adv
    queries: np.ndarray  # int, target queries per input

    @property
    def success_rate(self) -> float:
        return float(self.success.mean()) if len(self.success) else 0.0


class Surrogate(nn.Module):
    """A distilled copy of a target: logits over ``target.classes`` in the same order.

    Accepts flat rows or inputs of ``input_shape``; standardises with the pool's statistics inside
    the network, so attack gradients are with respect to the raw features. ``queries`` is the
    number of target queries its training cost.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self,
        net: nn.Module,
        mean: torch.Tensor,
        std: torch.Tensor,
        input_shape: tuple[int, ...],
        queries: int,
    ) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.input_shape = input_shape
        self.queries = queries

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(len(x), -1)
        z = (flat - self.mean) / self.std
        out: torch.Tensor = self.net(z.reshape(len(x), *self.input_shape))
        return out


def _is_image(shape: tuple[int, ...]) -> bool:
    return len(shape) == 3 and shape[1] >= 8 and shape[2] >= 8


def _network(shape: tuple[int, ...], hidden: Sequence[int], k: int) -> nn.Module:
    """A small CNN for images of at least 8 x 8, else an MLP."""
    layers: list[nn.Module] = []
    if _is_image(shape):
        c, h, w = shape
        layers += [
            nn.Conv2d(c, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        ]
        width = 32 * (h // 2) * (w // 2)
    else:
        layers.append(nn.Flatten())
        width = int(np.prod(shape))
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    layers.append(nn.Linear(width, k))
    return nn.Sequential(*layers)


def train_surrogate(
    target: Any,
    x_pool: Any,
    *,
    input_shape: Sequence[int] | None = None,
    labels_only: bool = False,
    hidden: Sequence[int] = (256,),
    epochs: int = 30,
    lr: float = 1e-3,
    batch_size: int = 64,
    seed: int = 0,
) -> Surrogate:
    """Distil ``target`` into a :class:`Surrogate` from one query per row of ``x_pool``.

    Trains on the target's probabilities (soft cross-entropy), or on its labels only with
    ``labels_only`` (forced for a target without ``predict_proba``). ``input_shape`` ``(c, h, w)``
    with ``h, w >= 8`` gives a small CNN, anything else an MLP with ``hidden`` layers. The number
    of target queries spent is ``surrogate.queries``. Deterministic for a given ``seed``; the
    caller's global torch random state is left untouched.
    """
    xp = np.asarray(x_pool, dtype=np.float64)
    if xp.ndim < 2 or len(xp) < 2:
        raise ValueError("x_pool must hold at least 2 inputs (rows or images)")
    if epochs < 1 or batch_size < 1:
        raise ValueError("need epochs >= 1 and batch_size >= 1")
    rows = xp.reshape(len(xp), -1)
    d = rows.shape[1]
    shape = tuple(int(v) for v in input_shape) if input_shape is not None else (d,)
    if int(np.prod(shape)) != d:
        raise ValueError(f"input_shape {shape} does not hold {d} features per input")
    classes = getattr(target, "classes", None)
    proba = getattr(target, "predict_proba", None)
    if labels_only or not callable(proba):
        # without target.classes, labels are the output columns themselves
        cols = class_columns(target, label_oracle(target)(rows))
        k = len(classes) if classes is not None and len(classes) else int(cols.max()) + 1
        soft = np.eye(k)[cols]
    else:
        soft = np.asarray(proba(rows), dtype=np.float64)
        if soft.ndim != 2 or len(soft) != len(rows):
            raise ValueError(f"predict_proba returned shape {soft.shape} for {len(rows)} inputs")
        k = soft.shape[1]
    if _is_image(shape):  # one scale for all pixels: per-pixel scaling would amplify dead pixels
        mean = torch.full((d,), float(rows.mean()))
        std = torch.full((d,), max(float(rows.std()), 1e-8))
    else:
        mean = torch.as_tensor(rows.mean(axis=0), dtype=torch.float32)
        sd = rows.std(axis=0)
        std = torch.as_tensor(np.where(sd > 1e-8, sd, 1.0), dtype=torch.float32)
    with one_torch_thread():
        return _fit(rows, soft, shape, hidden, k, mean, std, epochs, lr, batch_size, seed)


def _fit(
    rows: np.ndarray,
    soft: np.ndarray,
    shape: tuple[int, ...],
    hidden: Sequence[int],
    k: int,
    mean: torch.Tensor,
    std: torch.Tensor,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
) -> Surrogate:
    """Soft cross-entropy training with Adam, seeded, without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = _network(shape, hidden, k)
        model = Surrogate(net, mean.float(), std.float(), shape, len(rows))
        xt = torch.as_tensor(rows, dtype=torch.float32)
        pt = torch.as_tensor(soft, dtype=torch.float32)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        gen = torch.Generator().manual_seed(seed)
        model.train()
        for _ in range(epochs):
            order = torch.randperm(len(xt), generator=gen)
            for i in range(0, len(xt), batch_size):
                b = order[i : i + batch_size]
                logp = torch.log_softmax(model(xt[b]), dim=1)
                loss = -(pt[b] * logp).sum(dim=1).mean()
                opt.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]
                opt.step()
    model.eval()  # safe: nn.Module.eval() switches to inference mode
    return model


def _bound(b: np.ndarray, shape: tuple[int, ...]) -> torch.Tensor | float:
    """One batch's rows of bounds, shaped like the surrogate's input; a constant stays a scalar."""
    if np.all(b == b.flat[0]):
        return float(b.flat[0])
    return torch.as_tensor(b.reshape(len(b), *shape), dtype=torch.float32)


def transfer(
    surrogate: nn.Module,
    target: Any,
    x: Any,
    y: Any,
    *,
    eps: float,
    norm: str = "linf",
    attack: str = "pgd",
    clip: Clip = None,
    input_shape: Sequence[int] | None = None,
    seed: int = 0,
    **attack_options: Any,
) -> TransferResult:
    """Craft with ``attack`` on ``surrogate`` (logits over ``target.classes``, same order) and
    replay on ``target``.

    ``y`` holds label values of ``target.classes``. ``x`` is reshaped to ``(n, *input_shape)``
    for the surrogate when ``input_shape`` is given; the target always receives flat rows.
    ``clip`` bounds may be scalars or arrays broadcastable to ``x`` (per feature or per input).
    ``attack_options`` go to the white-box attack (``steps``, ``loss``, ``restarts``...).
    """
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    fn = get_attack(attack)
    module = as_module(surrogate)
    x0 = np.asarray(x, dtype=np.float64)
    y_arr = np.asarray(y)
    if x0.ndim < 2 or y_arr.ndim != 1 or len(x0) != len(y_arr):
        raise ValueError(f"{len(x0)} inputs but {len(y_arr)} labels (y must be one label each)")
    n, d = len(x0), int(np.prod(x0.shape[1:]))
    shape = tuple(int(v) for v in input_shape) if input_shape is not None else x0.shape[1:]
    if int(np.prod(shape)) != d:
        raise ValueError(f"input_shape {shape} does not hold {d} features per input")
    rows = x0.reshape(n, d)
    cols = class_columns(target, y_arr)
    lo, hi = flat_bounds(clip, x0.shape)
    labels = label_oracle(target)
    queries = np.zeros(n, dtype=np.int64)
    if n == 0:
        empty = np.zeros(0, dtype=bool)
        return TransferResult(x0.copy(), empty, empty.copy(), queries)
    clean_wrong = np.asarray(labels(rows) != y_arr)
    queries += 1
    adv = rows.copy()
    options = dict(attack_options)
    if "seed" in inspect.signature(fn).parameters:
        options.setdefault("seed", seed)
    todo = np.flatnonzero(~clean_wrong)
    for s in range(0, len(todo), _BATCH):
        part = todo[s : s + _BATCH]
        xb = torch.as_tensor(rows[part].reshape(len(part), *shape), dtype=torch.float32)
        yb = torch.as_tensor(cols[part])
        bounds = None
        if clip is not None:
            bounds = (_bound(lo[part], shape), _bound(hi[part], shape))
        res = fn(module, xb, yb, eps=eps, norm=norm, clip=bounds, **options)
        adv[part] = res.x_adv.detach().cpu().double().numpy().reshape(len(part), d)
    success = clean_wrong.copy()
    if len(todo):
        success[todo] = np.asarray(labels(adv[todo]) != y_arr[todo])
        queries[todo] += 1
    with torch.no_grad():
        was_training = module.training
        module.eval()  # safe: nn.Module.eval() switches to inference mode
        dev = next((p.device for p in module.parameters()), torch.device("cpu"))
        xa = torch.as_tensor(adv.reshape(n, *shape), dtype=torch.float32, device=dev)
        sur_pred = np.concatenate(
            [module(xa[i : i + _BATCH]).argmax(dim=1).cpu().numpy() for i in range(0, n, _BATCH)]
        )
        module.train(was_training)
    return TransferResult(adv.reshape(x0.shape), success, sur_pred != cols, queries)
