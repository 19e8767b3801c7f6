"""MI-Face: reconstruct what a model thinks a class looks like (Fredrikson, Jha & Ristenpart 2015).

The attacker minimises the cost ``c(x) = 1 - p_target(x) + aux(x)`` by gradient descent from the
all-zero input, projecting every step back into the data domain (the ``clip`` range), and keeps the
lowest-cost input seen. Two ways to get the gradient, one algorithm:

- ``method="gradient"`` (white box): autograd through a ``torch.nn.Module`` (or a target with
  ``.module``) that returns logits;
- ``method="finite_differences"`` (black box): central differences of ``predict_proba`` along each
  coordinate (a random subset of ``max_coords`` per step for large inputs, as ZOO does); every
  query is counted and the run stops before it would exceed ``max_queries``.

The stopping rule is the paper's: stop when the cost is at most ``gamma``, when it has not improved
for ``beta`` iterations, or after ``max_iter`` iterations. Algorithm 1 of the paper phrases the
second test as "``c(x_i) >= max(c(x_{i-1}), ..., c(x_{i-beta}))``"; it is implemented here as "the
best cost has not improved (by more than ``tol``) in the last ``beta`` iterations", which agrees
with it on a monotone descent and does not stop early on a descent that oscillates while improving.

The optional auxiliary term is the paper's ``AuxTerm``, in two built-in forms that work in both
access modes: ``l2`` (weight of the mean squared pixel value, which keeps the reconstruction away
from saturated noise) and ``tv`` (total variation over the last two axes, a smoothness prior).

    >>> r = invert(model, 3, input_shape=(1, 8, 8), clip=(0.0, 1.0))  # doctest: +SKIP
    >>> r.stop_reason, r.cost, r.queries  # doctest: +SKIP
    ('gamma', 0.009, 0)

A reconstruction that the model is sure about is not yet a picture of the class: a model can be
fooled by noise. Judge it with an independent model (:mod:`pipeshield.attacks.inversion.quality`).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from pipeshield.attacks._scores import as_probabilities

__all__ = ["METHODS", "InversionResult", "invert", "invert_classes"]

METHODS = ("gradient", "finite_differences")
StopReason = Literal["gamma", "beta", "max_iter", "max_queries"]
Method = Literal["gradient", "finite_differences"]


@dataclass(frozen=True)
class InversionResult:
    """One class's reconstruction: the lowest-cost input found (shape ``input_shape``), its cost
    and target-class probability, the cost after every iteration (``costs[0]`` is the start),
    the queries spent (0 white-box) and why the descent stopped."""

    target_class: int
    reconstruction: NDArray[np.float64] = field(repr=False)
    cost: float
    confidence: float
    costs: tuple[float, ...] = field(repr=False)
    iterations: int
    queries: int
    stop_reason: StopReason
    method: Method

    def to_dict(self) -> dict[str, Any]:
        """JSON types only; the reconstruction as nested lists rounded to 4 decimals."""
        return {
            "target_class": self.target_class,
            "cost": round(self.cost, 6),
            "confidence": round(self.confidence, 6),
            "iterations": self.iterations,
            "queries": self.queries,
            "stop_reason": self.stop_reason,
            "method": self.method,
            "costs": [round(c, 6) for c in self.costs],
            "reconstruction": np.round(self.reconstruction, 4).tolist(),
        }


class _QueryBudgetSpent(Exception):
    """Internal: the next batch of queries would exceed ``max_queries``."""


class _Oracle(abc.ABC):
    """The attacker's view of the model: the target-class probability, and its gradient."""

    queries = 0

    @abc.abstractmethod
    def prob(self, x: NDArray[np.float64]) -> float: ...

    @abc.abstractmethod
    def grad(self, x: NDArray[np.float64]) -> NDArray[np.float64]: ...


class _TorchOracle(_Oracle):
    def __init__(self, module: Any, target_class: int, input_shape: tuple[int, ...]) -> None:
        import torch

        self.module, self.k, self.shape, self.torch = module, target_class, input_shape, torch
        p = next(iter(module.parameters()), None)
        self.device = p.device if p is not None else torch.device("cpu")

    def _t(self, x: NDArray[np.float64]) -> Any:
        return self.torch.as_tensor(x.reshape(1, *self.shape), dtype=self.torch.float32, device=self.device)

    def prob(self, x: NDArray[np.float64]) -> float:
        with self.torch.no_grad():
            return float(as_probabilities(self.module(self._t(x)).float())[0, self.k])

    def grad(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        t = self._t(x).requires_grad_(True)
        p = as_probabilities(self.module(t).float())[0, self.k]
        (g,) = self.torch.autograd.grad(p, t)
        return np.asarray(g.detach().cpu().numpy(), dtype=np.float64).reshape(x.shape)


class _FiniteDifferenceOracle(_Oracle):
    def __init__(
        self, predict_proba: Callable[[np.ndarray], Any], target_class: int, *, step: float,
        clip: tuple[float, float], max_coords: int, max_queries: int | None, rng: np.random.Generator,
    ) -> None:
        self.f, self.k, self.h, self.clip = predict_proba, target_class, step, clip
        self.max_coords, self.max_queries, self.rng = max_coords, max_queries, rng

    def _ask(self, rows: NDArray[np.float64]) -> NDArray[np.float64]:
        if self.max_queries is not None and self.queries + len(rows) > self.max_queries:
            raise _QueryBudgetSpent
        self.queries += len(rows)
        out = np.asarray(self.f(rows.astype(np.float32)), dtype=np.float64)
        if out.ndim != 2 or out.shape[0] != len(rows) or not 0 <= self.k < out.shape[1]:
            raise ValueError(f"predict_proba returned shape {out.shape}; expected ({len(rows)}, > {self.k})")
        return out[:, self.k]

    def prob(self, x: NDArray[np.float64]) -> float:
        return float(self._ask(x.reshape(1, -1))[0])

    def grad(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        flat = x.reshape(-1)
        d = flat.size
        coords = np.arange(d) if d <= self.max_coords else np.sort(self.rng.choice(d, self.max_coords, replace=False))
        lo, hi = self.clip
        # Stay inside the domain: a served model may reject out-of-range inputs, and the model's
        # behaviour there is not what the attacker wants to follow. One-sided at the boundary.
        up = np.minimum(flat[coords] + self.h, hi)
        down = np.maximum(flat[coords] - self.h, lo)
        rows = np.repeat(flat[None, :], 2 * len(coords), axis=0)
        rows[np.arange(len(coords)), coords] = up
        rows[len(coords) + np.arange(len(coords)), coords] = down
        p = self._ask(rows)
        g = np.zeros(d)
        span = up - down
        ok = span > 0
        g[coords[ok]] = (p[: len(coords)][ok] - p[len(coords):][ok]) / span[ok]
        if len(coords) < d:
            g *= d / len(coords)  # unbiased scale for a random coordinate subset
        return g.reshape(x.shape)


def _aux(x: NDArray[np.float64], l2: float, tv: float) -> tuple[float, NDArray[np.float64]]:
    """The auxiliary term and its gradient (analytic: it is the attacker's own function)."""
    cost, grad = 0.0, np.zeros_like(x)
    if l2:
        cost += l2 * float(np.mean(x**2))
        grad += l2 * 2.0 * x / x.size
    if tv and x.ndim >= 2:
        dh = np.diff(x, axis=-1)
        dv = np.diff(x, axis=-2)
        cost += tv * float(np.abs(dh).sum() + np.abs(dv).sum()) / x.size
        sh, sv = np.sign(dh) * tv / x.size, np.sign(dv) * tv / x.size
        grad[..., :-1] -= sh
        grad[..., 1:] += sh
        grad[..., :-1, :] -= sv
        grad[..., 1:, :] += sv
    return cost, grad


def _module_of(model: Any) -> Any | None:
    """A torch module behind ``model`` (the module itself or a white-box target's ``.module``)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency of the white-box path only
        return None
    if isinstance(model, torch.nn.Module):
        return model
    inner = getattr(model, "module", None)
    return inner if isinstance(inner, torch.nn.Module) else None


def _predict_proba(model: Any, shape: tuple[int, ...]) -> Callable[[np.ndarray], Any]:
    """The black-box view: ``predict_proba`` on flat rows (a bare module's logits go through softmax)."""
    if hasattr(model, "predict_proba"):
        fn: Callable[[np.ndarray], Any] = model.predict_proba
        return fn
    module = _module_of(model)
    if module is None:
        raise TypeError(f"{type(model).__name__} has no predict_proba and is not a torch module")
    import torch

    def proba(rows: np.ndarray) -> Any:
        with torch.no_grad():
            t = torch.as_tensor(np.asarray(rows, np.float32).reshape(len(rows), *shape))
            return as_probabilities(module(t).float()).numpy()

    return proba


def _validate(input_shape: Sequence[int], clip: tuple[float, float], max_iter: int, lr: float, beta: int) -> None:
    if not input_shape or any(int(s) <= 0 for s in input_shape):
        raise ValueError(f"input_shape must be positive dimensions, got {tuple(input_shape)}")
    if not clip[0] < clip[1]:
        raise ValueError(f"clip must be (low, high) with low < high, got {clip}")
    if max_iter < 1 or beta < 1:
        raise ValueError(f"max_iter and beta must be >= 1, got {max_iter} and {beta}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")


def invert(
    model: Any,
    target_class: int,
    *,
    input_shape: Sequence[int],
    clip: tuple[float, float] = (0.0, 1.0),
    method: Method = "gradient",
    max_iter: int = 500,
    lr: float = 0.1,
    beta: int = 50,
    gamma: float = 0.001,
    tol: float = 1e-6,
    l2: float = 0.0,
    tv: float = 0.0,
    start: float | NDArray[np.float64] | None = None,
    fd_step: float = 0.01,
    max_coords: int = 256,
    max_queries: int | None = None,
    seed: int = 0,
) -> InversionResult:
    """Reconstruct a representative input of ``target_class`` (a column index of the output).

    ``model``: a ``torch.nn.Module`` returning logits, a white-box target (``.module``), or, for
    ``method="finite_differences"``, anything with ``predict_proba(rows)`` on flat rows. ``lr`` is
    the step on the cost gradient; ``start`` the first input (default: ``clip[0]`` everywhere, the
    paper's zero image). ``fd_step`` is the finite-difference step in input units. Raises
    ``ValueError`` on an impossible setting, ``TypeError`` on a model the method cannot use.
    """
    _validate(input_shape, clip, max_iter, lr, beta)
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    shape = tuple(int(s) for s in input_shape)
    lo, hi = float(clip[0]), float(clip[1])
    oracle: _Oracle
    if method == "gradient":
        module = _module_of(model)
        if module is None:
            raise TypeError(
                f"method='gradient' needs a torch module (or a target with .module), got "
                f"{type(model).__name__}; use method='finite_differences' for a black box"
            )
        oracle = _TorchOracle(module, int(target_class), shape)
    else:
        if max_queries is not None and max_queries < 1:
            raise ValueError(f"max_queries must be >= 1, got {max_queries}")
        if not fd_step > 0:
            raise ValueError(f"fd_step must be positive, got {fd_step}")
        oracle = _FiniteDifferenceOracle(
            _predict_proba(model, shape), int(target_class), step=fd_step, clip=(lo, hi),
            max_coords=max(1, max_coords), max_queries=max_queries, rng=np.random.default_rng(seed),
        )
    if start is None:
        x = np.full(shape, lo, dtype=np.float64)
    else:
        x = np.clip(np.broadcast_to(np.asarray(start, dtype=np.float64), shape).copy(), lo, hi)

    def cost_of(z: NDArray[np.float64]) -> tuple[float, float]:
        p = oracle.prob(z)
        return 1.0 - p + _aux(z, l2, tv)[0], p

    stop: StopReason = "max_iter"
    try:
        cost, conf = cost_of(x)
    except _QueryBudgetSpent:
        raise ValueError(f"max_queries={max_queries} does not allow a single query") from None
    best_x, best_cost, best_conf = x.copy(), cost, conf
    costs, last_gain, it = [cost], 0, 0
    if cost <= gamma:
        stop = "gamma"
    else:
        for it in range(1, max_iter + 1):
            try:
                g = -oracle.grad(x) + _aux(x, l2, tv)[1]  # d(1 - p)/dx + d aux/dx
                x = np.clip(x - lr * g, lo, hi)
                cost, conf = cost_of(x)
            except _QueryBudgetSpent:
                stop, it = "max_queries", it - 1
                break
            costs.append(cost)
            if cost < best_cost - tol:
                best_x, best_cost, best_conf, last_gain = x.copy(), cost, conf, it
            elif cost < best_cost:
                best_x, best_cost, best_conf = x.copy(), cost, conf
            if best_cost <= gamma:
                stop = "gamma"
                break
            if it - last_gain >= beta:
                stop = "beta"
                break
    return InversionResult(
        target_class=int(target_class), reconstruction=best_x, cost=float(best_cost), confidence=float(best_conf),
        costs=tuple(float(c) for c in costs), iterations=it, queries=int(oracle.queries), stop_reason=stop,
        method=method,
    )


def invert_classes(
    model: Any, classes: Sequence[int] | int, *, input_shape: Sequence[int], **options: Any
) -> tuple[InversionResult, ...]:
    """:func:`invert` for each class (``classes``: column indices, or their number); the same
    options for every class, and ``max_queries`` is a budget *per class*."""
    wanted = range(classes) if isinstance(classes, int) else classes
    return tuple(invert(model, int(k), input_shape=input_shape, **options) for k in wanted)
