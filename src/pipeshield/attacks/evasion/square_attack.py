"""The Square attack (Andriushchenko et al. 2020), L-inf and L2: black-box, scores only.

Works against any :class:`~pipeshield.core.targets.base.Target`: it only calls
``predict_proba`` on numpy rows, so scikit-learn, ONNX and HTTP endpoints are attackable and torch
is not needed. It minimises the margin of log-probabilities
``log p_y - max_{j != y} log p_j`` by random search: each iteration changes one random square
window (L-inf: to a vertex of the ball; L2: moves mass between two windows) and keeps the change
when the margin falls. Only inputs not yet fooled are queried; every input stops at
``max_queries`` (the clean query and the initialisation query included).

Inputs are rows ``(n, d)`` (reshaped with ``input_shape``, ``(c, h, w)`` or ``(h, w)``; without
it a flat row is treated as a 1 x d image, so windows become segments) or images ``(n, ...)``.

    >>> res = square(target, x, y, eps=0.3, max_queries=1000, clip=(0.0, 1.0))  # doctest: +SKIP
    >>> res.success.mean(), res.queries.max()  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeshield.attacks.evasion._blackbox import class_columns
from pipeshield.errors import TargetError

__all__ = ["SquareResult", "p_schedule", "square"]

_RESAMPLE_TRIES = 10


@dataclass(frozen=True)
class SquareResult:
    """Adversarial inputs (shape of ``x``), which fool the target, and queries used per input."""

    x_adv: np.ndarray
    success: np.ndarray  # bool, one per input
    queries: np.ndarray  # int, one per input

    @property
    def success_rate(self) -> float:
        return float(self.success.mean()) if len(self.success) else 0.0


def p_schedule(p_init: float, it: int, max_iters: int) -> float:
    """The paper's piecewise-constant fraction of features changed at iteration ``it``.

    Breakpoints are those of the reference code for 10,000 iterations, rescaled to ``max_iters``.
    """
    it = int(it / max(max_iters, 1) * 10000)
    for bound, div in (
        (10, 1),
        (50, 2),
        (200, 4),
        (500, 8),
        (1000, 16),
        (2000, 32),
        (4000, 64),
        (6000, 128),
        (8000, 256),
    ):
        if it <= bound:
            return p_init / div
    return p_init / 512


def _margin(target: Any, x: np.ndarray, col: np.ndarray, flat: int) -> np.ndarray:
    """Log-probability margin of the true class: negative means fooled."""
    probs = np.asarray(target.predict_proba(x.reshape(len(x), flat)), dtype=np.float64)
    if probs.ndim != 2 or len(probs) != len(x):
        raise TargetError(f"predict_proba returned shape {probs.shape}, expected ({len(x)}, k)")
    logp = np.log(np.clip(probs, 1e-30, None))
    rows = np.arange(len(x))
    true = logp[rows, col]
    logp[rows, col] = -np.inf
    return np.asarray(true - logp.max(axis=1))


def _side(p: float, h: int, w: int, c: int, n_features: int, *, odd_min3: bool = False) -> int:
    """Window side for fraction ``p``: a square on images, a segment on 1 x d rows."""
    if h == 1:
        s = round(p * n_features / c)
    else:
        s = round(np.sqrt(p * n_features / c))
    if odd_min3:
        s = max(s, 3)
        if s % 2 == 0:
            s += 1
    s = max(s, 1)
    return min(s, h if h > 1 else w, w) if h > 1 else min(s, w)


def _window_mask(rng: np.random.Generator, m: int, h: int, w: int, sh: int, sw: int) -> np.ndarray:
    """(m, h, w) boolean masks of one random ``sh`` x ``sw`` window per input."""
    vh = rng.integers(0, h - sh + 1, size=m)
    vw = rng.integers(0, w - sw + 1, size=m)
    rh = np.arange(h)[None, :]
    rw = np.arange(w)[None, :]
    mh = (rh >= vh[:, None]) & (rh < vh[:, None] + sh)
    mw = (rw >= vw[:, None]) & (rw < vw[:, None] + sw)
    return np.asarray(mh[:, :, None] & mw[:, None, :])


def _pseudo_gaussian(h: int, w: int) -> np.ndarray:
    """Concentric rectangles weighted 1/(r+1)^2, unit L2 norm (reference code)."""
    delta = np.zeros((h, w))
    ch, cw = h // 2 + 1, w // 2 + 1
    c0, c1 = ch - 1, cw - 1
    for r in range(max(ch, cw)):
        delta[max(c0, 0) : min(c0 + 2 * r + 1, h), max(c1, 0) : min(c1 + 2 * r + 1, w)] += (
            1.0 / (r + 1) ** 2
        )
        c0 -= 1
        c1 -= 1
    out: np.ndarray = delta / max(float(np.sqrt((delta**2).sum())), 1e-12)
    return out


def _meta_pert(sh: int, sw: int, rng: np.random.Generator) -> np.ndarray:
    """Two pseudo-Gaussian halves of opposite sign (the paper's L2 update shape)."""
    delta = np.zeros((sh, sw))
    if sh >= 2:
        transpose = sh == sw and rng.random() > 0.5
        delta[: sh // 2] = _pseudo_gaussian(sh // 2, sw)
        delta[sh // 2 :] = -_pseudo_gaussian(sh - sh // 2, sw)
        if transpose:
            delta = delta.T
    elif sw >= 2:
        delta[:, : sw // 2] = _pseudo_gaussian(1, sw // 2)
        delta[:, sw // 2 :] = -_pseudo_gaussian(1, sw - sw // 2)
    else:
        delta[:] = 1.0
    out: np.ndarray = delta / max(float(np.sqrt((delta**2).sum())), 1e-12)
    return out


def _l2(d: np.ndarray) -> np.ndarray:
    return np.asarray(np.sqrt((d.reshape(len(d), -1) ** 2).sum(axis=1)))


def _shape4(x: np.ndarray, input_shape: Sequence[int] | None) -> tuple[int, int, int]:
    if input_shape is not None:
        shp = tuple(int(v) for v in input_shape)
        if len(shp) == 2:
            shp = (1, *shp)
        if len(shp) != 3:
            raise ValueError("input_shape must be (h, w) or (c, h, w)")
    elif x.ndim == 2:
        shp = (1, 1, x.shape[1])
    elif x.ndim == 3:
        shp = (1, x.shape[1], x.shape[2])
    elif x.ndim == 4:
        shp = (x.shape[1], x.shape[2], x.shape[3])
    else:
        raise ValueError(f"inputs of shape {x.shape} are not rows or images")
    if int(np.prod(shp)) != int(np.prod(x.shape[1:])):
        raise ValueError(f"input_shape {shp} does not match inputs of shape {x.shape}")
    return shp


def square(
    target: Any,
    x: Any,
    y: Any,
    *,
    eps: float,
    norm: str = "linf",
    max_queries: int = 1000,
    p_init: float | None = None,
    clip: tuple[Any, Any] | None = None,
    input_shape: Sequence[int] | None = None,
    seed: int = 0,
) -> SquareResult:
    """Untargeted Square attack on a score-returning black-box ``target``.

    ``y`` holds label values (of ``target.classes`` when it has them). ``p_init`` is the initial
    fraction of features a window covers (paper: 0.05 L-inf, 0.1 L2). Inputs the target already
    misclassifies cost one query and are returned unchanged with ``success`` True. ``clip`` bounds
    are scalars, per-feature arrays, or arrays shaped like ``x`` (per input: the data domain pins
    frozen features that way). Deterministic for a given ``seed``.
    """
    if norm not in ("linf", "l2"):
        raise ValueError(f"norm must be 'linf' or 'l2', got {norm!r}")
    if eps < 0 or max_queries < 1:
        raise ValueError("need eps >= 0 and max_queries >= 1")
    x0 = np.asarray(x, dtype=np.float64)
    y_arr = np.asarray(y)
    if len(x0) != len(y_arr):
        raise ValueError("x and y differ in length")
    orig_shape = x0.shape
    c, h, w = _shape4(x0, input_shape)
    n, flat = len(x0), c * h * w
    xi = x0.reshape(n, c, h, w)
    lo = _bounds(clip[0] if clip is not None else -np.inf, n, (c, h, w))
    hi = _bounds(clip[1] if clip is not None else np.inf, n, (c, h, w))
    p0 = p_init if p_init is not None else (0.05 if norm == "linf" else 0.1)
    rng = np.random.default_rng(seed)
    queries = np.zeros(n, dtype=np.int64)
    if n == 0:
        return SquareResult(x0.copy(), np.zeros(0, dtype=bool), queries)
    col = class_columns(target, y_arr)

    margin = _margin(target, xi, col, flat)
    queries += 1
    x_best = xi.copy()
    if eps > 0 and max_queries > 1 and (margin >= 0).any():
        # initialisation, queried for the not-yet-fooled inputs only
        act = np.flatnonzero(margin >= 0)
        xa = xi[act]
        if norm == "linf":
            stripes = eps * rng.choice([-1.0, 1.0], size=(len(act), c, 1, w))
            init = np.clip(xa + stripes, lo[act], hi[act])
        else:
            init = _l2_init(xa, eps, lo[act], hi[act], rng)
        m_init = _margin(target, init, col[act], flat)
        queries[act] += 1
        better = m_init < margin[act]
        x_best[act[better]] = init[better]
        margin[act[better]] = m_init[better]
        it = 0
        while True:
            act = np.flatnonzero((margin >= 0) & (queries < max_queries))
            if len(act) == 0:
                break
            p = p_schedule(p0, it, max_queries)
            it += 1
            xa, xb = xi[act], x_best[act]
            if norm == "linf":
                cand = _linf_step(xa, xb, eps, p, lo[act], hi[act], rng, (c, h, w))
            else:
                cand = _l2_step(xa, xb, eps, p, lo[act], hi[act], rng, (c, h, w))
            m_new = _margin(target, cand, col[act], flat)
            queries[act] += 1
            better = m_new < margin[act]
            x_best[act[better]] = cand[better]
            margin[act[better]] = m_new[better]

    success = margin < 0
    out = x_best.reshape(orig_shape)
    _check(xi, x_best, norm, eps, lo, hi)
    return SquareResult(out, success, queries)


def _linf_step(
    xa: np.ndarray,
    xb: np.ndarray,
    eps: float,
    p: float,
    lo: np.ndarray,
    hi: np.ndarray,
    rng: np.random.Generator,
    chw: tuple[int, int, int],
) -> np.ndarray:
    c, h, w = chw
    m = len(xa)
    s = _side(p, h, w, c, c * h * w)
    sh = 1 if h == 1 else min(s, h)
    mask = _window_mask(rng, m, h, w, sh, s)[:, None]  # (m, 1, h, w)
    delta = xb - xa
    signs = eps * rng.choice([-1.0, 1.0], size=(m, c, 1, 1))
    cand = np.clip(xa + np.where(mask, signs, delta), lo, hi)
    for _ in range(_RESAMPLE_TRIES):  # a window that changes nothing wastes a query: redraw
        same = (np.abs(cand - xb) < 1e-7).reshape(m, -1).all(axis=1)
        if not same.any():
            break
        idx = np.flatnonzero(same)
        signs = eps * rng.choice([-1.0, 1.0], size=(len(idx), c, 1, 1))
        cand[idx] = np.clip(xa[idx] + np.where(mask[idx], signs, delta[idx]), lo[idx], hi[idx])
    return np.asarray(cand)


def _l2_init(
    xa: np.ndarray, eps: float, lo: np.ndarray, hi: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    m, c, h, w = xa.shape
    delta = np.zeros_like(xa)
    if h == 1:
        s = max(w // 5, 1)
        for start in range(0, w - s + 1, s):
            delta[:, :, :, start : start + s] += _meta_pert(1, s, rng)[None, None] * rng.choice(
                [-1.0, 1.0], size=(m, c, 1, 1)
            )
    else:
        s = max(h // 5, 1)
        for sh in range(0, h - s + 1, s):
            for sw in range(0, w - s + 1, s):
                delta[:, :, sh : sh + s, sw : sw + s] += _meta_pert(s, s, rng)[
                    None, None
                ] * rng.choice([-1.0, 1.0], size=(m, c, 1, 1))
    norms = _l2(delta).reshape(-1, 1, 1, 1)
    return np.asarray(np.clip(xa + delta / np.maximum(norms, 1e-12) * eps, lo, hi))


def _l2_step(
    xa: np.ndarray,
    xb: np.ndarray,
    eps: float,
    p: float,
    lo: np.ndarray,
    hi: np.ndarray,
    rng: np.random.Generator,
    chw: tuple[int, int, int],
) -> np.ndarray:
    c, h, w = chw
    m = len(xa)
    s = _side(p, h, w, c, c * h * w, odd_min3=True)
    sh = 1 if h == 1 else min(s, h)
    sw = min(s, w)
    delta = xb - xa
    m1 = _window_mask(rng, m, h, w, sh, sw)[:, None]
    m2 = _window_mask(rng, m, h, w, sh, sw)[:, None]
    union = m1 | m2
    norm_w1 = np.sqrt(((delta * m1) ** 2).reshape(m, c, -1).sum(axis=2))  # (m, c)
    total = _l2(delta)
    norm_union = np.sqrt(((delta * union) ** 2).reshape(m, c, -1).sum(axis=2))
    budget = np.sqrt(np.maximum(eps**2 - total**2, 0.0)[:, None] / c + norm_union**2)  # (m, c)
    new = delta.copy()
    for i in range(m):
        pert = _meta_pert(sh, sw, rng)[None] * rng.choice([-1.0, 1.0], size=(c, 1, 1))
        win = m1[i, 0]
        cur = delta[i][:, win].reshape(c, sh, sw)
        pert = pert + cur / np.maximum(norm_w1[i], 1e-12)[:, None, None]
        pert /= np.maximum(np.sqrt((pert**2).reshape(c, -1).sum(axis=1)), 1e-12)[:, None, None]
        pert *= budget[i][:, None, None]
        new[i][:, m2[i, 0]] = 0.0
        new[i][:, win] = pert.reshape(c, -1)
    norms = _l2(new).reshape(-1, 1, 1, 1)
    scale = np.where(norms > eps, eps / np.maximum(norms, 1e-12), 1.0)
    return np.asarray(np.clip(xa + new * scale, lo, hi))


def _bounds(bound: Any, n: int, chw: tuple[int, int, int]) -> np.ndarray:
    """A bound (scalar, per feature, or per input) as an ``(n, c, h, w)`` array."""
    a = np.asarray(bound, dtype=np.float64)
    if a.ndim == 0 or a.size == int(np.prod(chw)):
        return np.broadcast_to(a.reshape((1, *chw)) if a.ndim else a, (n, *chw))
    if a.size == n * int(np.prod(chw)):
        return a.reshape((n, *chw))
    raise ValueError(f"clip bound of shape {a.shape} fits neither one input nor the {n} inputs")


def _check(
    x: np.ndarray, x_adv: np.ndarray, norm: str, eps: float, lo: np.ndarray, hi: np.ndarray
) -> None:
    """Refuse to report an illegal result: NaNs, or a perturbation outside the ball or domain."""
    if np.isnan(x_adv).any():
        raise TargetError("the Square attack produced NaN inputs")
    d = (x_adv - x).reshape(len(x), -1)
    size = np.abs(d).max(axis=1) if norm == "linf" else np.sqrt((d**2).sum(axis=1))
    if len(x) and float(size.max()) > eps + 1e-7 * max(1.0, eps):
        raise RuntimeError(f"internal error: perturbation exceeds eps={eps} ({norm})")
    if (x_adv < lo - 1e-7).any() or (x_adv > hi + 1e-7).any():
        raise RuntimeError("internal error: adversarial input outside the clip range")

