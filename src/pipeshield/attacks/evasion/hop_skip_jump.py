"""HopSkipJumpAttack (Chen, Jordan & Wainwright 2020), untargeted, L2 and L-inf: decision only.

The weakest black box: the attack sees only the predicted *label* (``predict_proba``'s argmax
mapped through ``target.classes``, or ``predict`` for an object that has no scores). It starts
from misclassified points (uniform noise in the domain), walks each to the decision boundary by
binary search and keeps the closest (up to 10 starts, about 5% of the budget: one start, as in
the paper, often lands on a far class's boundary, and the descent is local), then repeats, per
iteration ``t``:

1. estimate the boundary's normal from ``B0 * sqrt(t)`` label queries at random points
   ``delta_t`` away (Monte-Carlo, with the paper's baseline subtraction);
2. step along it (L-inf: along its sign) by ``dist / sqrt(t)``, halving until the step lands on
   the adversarial side (geometric step-size search);
3. binary-search back to the boundary along the segment towards the input (L2: blending;
   L-inf: shrinking the box around the input), to the paper's threshold ``theta``.

``theta = d^-3/2`` (L2) or ``d^-2`` (L-inf) and ``delta_t = sqrt(d) theta dist_{t-1}`` (L2) or
``d theta dist_{t-1}`` (L-inf), ``delta_1`` = a tenth of the domain's width, as in the paper;
``d`` counts only the features the domain lets move. Every point reported was answered
adversarial by the target; each input stops at ``max_queries`` label queries (clean query
included). All inputs advance in lock-step, so one oracle call serves the whole batch.

The result carries the smallest distance found, so one run answers every epsilon of a curve:

    >>> res = hop_skip_jump(target, x, y, norm="l2", max_queries=1000)  # doctest: +SKIP
    >>> [res.success_at(e).mean() for e in (0.5, 1.0, 2.0)]  # doctest: +SKIP

An attack that finds no adversarial within a distance does not prove that none exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeshield.attacks.evasion._blackbox import Clip, LabelFn, flat_bounds, label_oracle

__all__ = ["DecisionResult", "hop_skip_jump"]

B0 = 100  # gradient-estimation samples at the first iteration (paper)
MAX_EVALS = 10_000  # cap of the B0 * sqrt(t) schedule (reference code)
_MAX_ROWS = 8192  # rows per oracle call
_MAX_HALVINGS = 30  # geometric step search gives up after this many halvings
_INIT_STARTS = 10  # boundary points tried as the start (the closest wins)
_INIT_SHARE = 20  # ... using at most about 1/_INIT_SHARE of the query budget
_INIT_WIDEN_EVERY = 10  # unbounded features: the noise box doubles every this many failed draws


@dataclass(frozen=True)
class DecisionResult:
    """Closest adversarial found per input (``x`` itself where none), and what it cost.

    ``distance`` is the norm of ``x_adv - x``: 0 for inputs the target already misclassifies,
    ``inf`` where no adversarial was found. ``success`` is ``distance < inf``.
    """

    x_adv: np.ndarray
    success: np.ndarray  # bool, one per input
    queries: np.ndarray  # int, label queries per input
    distance: np.ndarray  # float, one per input

    def success_at(self, eps: float) -> np.ndarray:
        """Which inputs have an adversarial within ``eps`` (in the attack's norm)."""
        return np.asarray(self.distance <= eps + 1e-9 * max(1.0, eps))

    @property
    def success_rate(self) -> float:
        return float(self.success.mean()) if len(self.success) else 0.0


class _Oracle:
    """The target's decisions, with every row counted against its input's budget."""

    def __init__(self, labels: LabelFn, y: np.ndarray, max_queries: int) -> None:
        self.labels, self.y, self.max_queries = labels, y, max_queries
        self.queries = np.zeros(len(y), dtype=np.int64)

    def remaining(self, idx: np.ndarray) -> np.ndarray:
        return np.asarray(self.max_queries - self.queries[idx])

    def affordable(self, idx: np.ndarray, want: np.ndarray) -> np.ndarray:
        """Positions of the rows in ``want`` whose owner can pay for all its wanted rows."""
        need = np.bincount(idx[want], minlength=len(self.queries))
        return np.flatnonzero(want & (self.remaining(idx) >= need[idx]))

    def adversarial(self, rows: np.ndarray, owner: np.ndarray) -> np.ndarray:
        """Whether each row is classified differently from its owner's label."""
        out = np.zeros(len(rows), dtype=bool)
        for s in range(0, len(rows), _MAX_ROWS):
            pred = np.asarray(self.labels(rows[s : s + _MAX_ROWS]))
            out[s : s + _MAX_ROWS] = pred != self.y[owner[s : s + _MAX_ROWS]]
        np.add.at(self.queries, owner, 1)
        if len(owner) and int(self.queries[owner].max()) > self.max_queries:
            raise RuntimeError("internal error: query budget exceeded")
        return out


def _dist(d: np.ndarray, norm: str) -> np.ndarray:
    return np.asarray(np.abs(d).max(axis=1) if norm == "linf" else np.sqrt((d**2).sum(axis=1)))


def _project(x: np.ndarray, p: np.ndarray, alpha: np.ndarray, norm: str) -> np.ndarray:
    """The point ``alpha`` along the way from ``x`` to ``p`` (L2: blend; L-inf: box of radius
    ``alpha`` around ``x``). Both stay in any box that holds ``x`` and ``p``."""
    a = alpha[:, None]
    if norm == "l2":
        return np.asarray((1.0 - a) * x + a * p)
    return np.asarray(np.clip(p, x - a, x + a))


def _search_steps(dist: np.ndarray, theta: np.ndarray, norm: str) -> np.ndarray:
    """Queries the boundary binary search needs (to reserve budget for it)."""
    ratio = 1.0 / theta if norm == "l2" else np.maximum(dist, 1.0) / theta
    return np.ceil(np.log2(np.maximum(ratio, 1.0))).astype(np.int64)


def _boundary(
    oracle: _Oracle,
    x: np.ndarray,
    p: np.ndarray,
    idx: np.ndarray,
    theta: np.ndarray,
    norm: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Binary search between inputs ``x`` (clean side) and adversarial ``p``: the adversarial end
    of the final bracket, and its distance. The paper's thresholds: ``theta`` in blend units (L2),
    ``min(theta * dist, theta)`` in radius units (L-inf)."""
    if norm == "l2":
        low, high = np.zeros(len(p)), np.ones(len(p))
        thr = theta.copy()
    else:
        high = _dist(p - x, "linf")
        low = np.zeros(len(p))
        thr = np.minimum(high * theta, theta)
    while True:
        part = oracle.affordable(idx, high - low > thr)
        if len(part) == 0:
            break
        mid = (low[part] + high[part]) / 2.0
        adv = oracle.adversarial(_project(x[part], p[part], mid, norm), idx[part])
        high[part[adv]] = mid[adv]
        low[part[~adv]] = mid[~adv]
    out = _project(x, p, high, norm)
    return out, _dist(out - x, norm)


def _noise_box(xf: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where initial noise is drawn: the domain, or around the data where it is unbounded."""
    m, big = xf.min(axis=0), xf.max(axis=0)
    spread = float(big.max() - m.min()) if xf.size else 0.0
    w = np.where(big > m, big - m, spread if spread > 0 else 1.0)
    box_lo = np.where(np.isfinite(lo), lo, m - 0.5 * w)
    box_hi = np.where(np.isfinite(hi), hi, np.maximum(big + 0.5 * w, box_lo + w))
    box_lo = np.where(np.isfinite(lo), lo, np.minimum(box_lo, box_hi - w))
    return box_lo, box_hi


def _initialise(
    oracle: _Oracle,
    idx: np.ndarray,
    box: tuple[np.ndarray, np.ndarray],
    bounded: tuple[np.ndarray, np.ndarray],
    tries: int,
    keep: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform noise in the domain until the target misclassifies ``keep[i]`` draws or ``tries``
    draws are spent: (points ``(len(idx), max(keep), d)``, number found per input)."""
    box_lo, box_hi = box[0][idx], box[1][idx]
    fin_lo, fin_hi = bounded[0][idx], bounded[1][idx]
    width = box_hi - box_lo
    points = np.zeros((len(idx), int(keep.max(initial=1)), box_lo.shape[1]))
    found = np.zeros(len(idx), dtype=np.int64)
    for k in range(tries):
        part = np.flatnonzero((found < keep) & (oracle.remaining(idx) > 0))
        if len(part) == 0:
            break
        grow = 2.0 ** (k // _INIT_WIDEN_EVERY) - 1.0
        lo_k = np.where(fin_lo[part], box_lo[part], box_lo[part] - grow * width[part])
        hi_k = np.where(fin_hi[part], box_hi[part], box_hi[part] + grow * width[part])
        noise = rng.uniform(lo_k, hi_k)
        adv = oracle.adversarial(noise, idx[part])
        points[part[adv], found[part[adv]]] = noise[adv]
        found[part[adv]] += 1
    return points, found


def _estimate_gradient(
    oracle: _Oracle,
    cur: np.ndarray,
    idx: np.ndarray,
    counts: np.ndarray,
    delta: np.ndarray,
    bounds: tuple[np.ndarray, np.ndarray],
    free: np.ndarray,
    norm: str,
    rng: np.random.Generator,
) -> np.ndarray:
    """Unit estimate of the boundary's normal at each ``cur`` (pointing to the adversarial side)
    from ``counts[i]`` queries at random points ``delta[i]`` away, all in one oracle batch."""
    rep = np.repeat(np.arange(len(idx)), counts)
    d = cur.shape[1]
    if norm == "l2":
        rv = rng.standard_normal((len(rep), d))
    else:
        rv = rng.uniform(-1.0, 1.0, size=(len(rep), d))
    rv *= free[rep]  # spend the probe on features the domain lets move
    rv /= np.maximum(np.sqrt((rv**2).sum(axis=1, keepdims=True)), 1e-12)
    base = cur[rep]
    step = delta[rep][:, None]
    probe = np.clip(base + step * rv, bounds[0][rep], bounds[1][rep])
    rv = (probe - base) / step
    fval = np.where(oracle.adversarial(probe, idx[rep]), 1.0, -1.0)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    mean_f = np.add.reduceat(fval, starts) / counts
    fc = fval - mean_f[rep]
    # baseline subtraction; when every probe agrees, the mean probe direction (signed) instead
    agree = np.abs(mean_f[rep]) == 1.0
    fc = np.where(agree, fval, fc)
    grad = np.add.reduceat(fc[:, None] * rv, starts, axis=0) / counts[:, None]
    norms = np.sqrt((grad**2).sum(axis=1, keepdims=True))
    return np.asarray(grad / np.maximum(norms, 1e-12))


def _step_search(
    oracle: _Oracle,
    cur: np.ndarray,
    update: np.ndarray,
    eps: np.ndarray,
    idx: np.ndarray,
    bounds: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Geometric step-size search: halve ``eps`` until ``cur + eps * update`` is adversarial."""
    eps = eps.copy()
    out = cur.copy()
    done = np.zeros(len(cur), dtype=bool)
    for _ in range(_MAX_HALVINGS):
        part = np.flatnonzero(~done & (oracle.remaining(idx) > 0))
        if len(part) == 0:
            break
        cand = np.clip(cur[part] + eps[part, None] * update[part], bounds[0][part], bounds[1][part])
        adv = oracle.adversarial(cand, idx[part])
        out[part[adv]] = cand[adv]
        done[part[adv]] = True
        eps[part[~adv]] /= 2.0
    return out, done


def hop_skip_jump(
    target: Any,
    x: Any,
    y: Any,
    *,
    norm: str = "l2",
    max_queries: int = 1000,
    clip: Clip = (0.0, 1.0),
    input_shape: Sequence[int] | None = None,
    init_tries: int = 100,
    seed: int = 0,
) -> DecisionResult:
    """Untargeted HopSkipJumpAttack on a label-only view of ``target``.

    ``y`` holds label values (of ``target.classes`` when it has them). ``clip`` is the domain:
    ``(lo, hi)`` with scalars or arrays broadcastable to ``x`` (per feature, or per input to pin
    features an attacker cannot change: ``lo == hi``), or None for unbounded. ``init_tries``
    bounds the random draws spent looking for a first misclassified point. Inputs the target
    already misclassifies cost one query and come back unchanged with distance 0. Deterministic
    for a given ``seed``.
    """
    if norm not in ("l2", "linf"):
        raise ValueError(f"unknown norm {norm!r}; choose 'l2' or 'linf'")
    if max_queries < 1:
        raise ValueError(f"max_queries must be >= 1, got {max_queries}")
    if init_tries < 1:
        raise ValueError(f"init_tries must be >= 1, got {init_tries}")
    x0 = np.asarray(x, dtype=np.float64)
    y_arr = np.asarray(y)
    if x0.ndim < 2:
        raise ValueError(f"x must be a batch of rows (n, d) or images (n, ...), got {x0.shape}")
    if y_arr.ndim != 1 or len(x0) != len(y_arr):
        raise ValueError(f"{len(x0)} inputs but {len(y_arr)} labels (y must be one label each)")
    n, d = len(x0), int(np.prod(x0.shape[1:]))
    if input_shape is not None and int(np.prod(input_shape)) != d:
        raise ValueError(f"input_shape {tuple(input_shape)} does not hold {d} features per input")
    if np.isnan(x0).any():
        raise ValueError("x contains NaN")
    xf = x0.reshape(n, d)
    lo, hi = flat_bounds(clip, x0.shape)
    if ((xf < lo - 1e-6) | (xf > hi + 1e-6)).any():
        raise ValueError("some inputs lie outside the clip bounds")
    oracle = _Oracle(label_oracle(target), y_arr, max_queries)
    distance = np.full(n, np.inf)
    best = xf.copy()
    if n == 0:
        return DecisionResult(x0.copy(), np.zeros(0, dtype=bool), oracle.queries, distance)
    rng = np.random.default_rng(seed)
    free = hi > lo
    dim = np.maximum(free.sum(axis=1), 1).astype(np.float64)
    theta = dim**-1.5 if norm == "l2" else dim**-2.0

    clean_adv = oracle.adversarial(xf, np.arange(n))
    distance[clean_adv] = 0.0
    todo = np.flatnonzero(~clean_adv)
    box = _noise_box(xf, lo, hi)
    # Several starting points, each taken to the boundary, and the closest kept: the boundary
    # search along the segment to x reaches the first decision boundary it crosses, and
    # different random directions cross different ones (HSJA only descends locally from there).
    per_start = _search_steps(np.ones(len(todo)), theta[todo], norm) + 1
    keep = np.clip((max_queries - 1) // (_INIT_SHARE * per_start), 1, _INIT_STARTS)
    init, found = _initialise(
        oracle, todo, box, (np.isfinite(lo), np.isfinite(hi)), init_tries, keep, rng
    )
    cand_i, cand_k = np.nonzero(np.arange(init.shape[1])[None, :] < found[:, None])
    owner = todo[cand_i]
    ends, end_dist = _boundary(oracle, xf[owner], init[cand_i, cand_k], owner, theta[owner], norm)
    cur = xf.copy()
    dist = np.full(n, np.inf)
    for j in np.argsort(-end_dist, kind="stable"):  # the closest start of each input wins
        cur[owner[j]], dist[owner[j]] = ends[j], end_dist[j]
    act = todo[found > 0]
    best[act], distance[act] = cur[act], dist[act]
    span = np.where(free, box[1] - box[0], 0.0).sum(axis=1) / dim

    t = 0
    while True:
        reserve = _search_steps(dist[act], theta[act], norm) + 1
        act = act[oracle.remaining(act) > reserve]
        if len(act) == 0:
            break
        t += 1
        if t == 1:
            delta = 0.1 * span[act]
        else:
            scale = np.sqrt(dim[act]) if norm == "l2" else dim[act]
            delta = scale * theta[act] * dist[act]
        delta = np.maximum(delta, 1e-12)
        reserve = _search_steps(dist[act], theta[act], norm) + 1
        counts = np.minimum(min(int(B0 * np.sqrt(t)), MAX_EVALS), oracle.remaining(act) - reserve)
        bounds = (lo[act], hi[act])
        grad = _estimate_gradient(
            oracle, cur[act], act, counts, delta, bounds, free[act], norm, rng
        )
        update = grad if norm == "l2" else np.sign(grad)
        stepped, ok = _step_search(oracle, cur[act], update, dist[act] / np.sqrt(t), act, bounds)
        moved = act[ok]
        if len(moved):
            new, new_dist = _boundary(oracle, xf[moved], stepped[ok], moved, theta[moved], norm)
            cur[moved], dist[moved] = new, new_dist
            better = new_dist < distance[moved]
            best[moved[better]], distance[moved[better]] = new[better], new_dist[better]

    success = np.isfinite(distance)
    return DecisionResult(best.reshape(x0.shape), success, oracle.queries.copy(), distance)
