"""Equation-solving extraction of logistic models (Tramer et al. 2016, "Stealing Machine Learning
Models via Prediction APIs").

A multinomial logistic regression answers ``p_i(x) = exp(w_i.x + b_i) / sum_j exp(w_j.x + b_j)``,
so every pair of returned probabilities gives one *linear* equation in the parameters:

    log(p_i(x) / p_r(x)) = (w_i - w_r).x + (b_i - b_r)

One query gives ``k - 1`` such equations (``r`` = that query's most probable class); the
``k (d + 1)`` parameters are defined only up to a common shift (softmax invariance), which leaves
``(k - 1)(d + 1)`` unknowns, so ``d + 1`` queries whose rows ``[x, 1]`` are linearly independent
recover the model exactly. A binary logistic regression is the case ``k = 2``.

When the API rounds its probabilities the equations are noisy: they are solved by weighted least
squares over more queries (weight ``1 / (1/p_i + 1/p_r)``, the inverse of the log-ratio's error
under rounding), and a probability rounded to 0 gives no equation at all. Queries are drawn
uniformly from the attacker's domain, which needs no data at all.

The recovered parameters are returned in a fixed gauge: the reference class (the one most often
most probable) gets ``w = 0, b = 0``; compare differences ``w_i - w_j`` with the victim's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg
from numpy.typing import ArrayLike, NDArray
from threadpoolctl import threadpool_limits

from pipeshield.attacks.extraction.methods import Run, register
from pipeshield.core.targets.base import softmax

__all__ = ["LinearSubstitute", "solve_logistic"]


class LinearSubstitute:
    """``softmax(x @ coef_.T + intercept_)`` over ``classes`` (the equation-solved copy).

    ``rank`` is the rank of the solved system and ``unknowns`` its number of unknowns: a rank
    below ``unknowns`` means some parameters were not identified by the queries (minimum-norm
    solution).
    """

    def __init__(
        self,
        coef: NDArray[np.float64],
        intercept: NDArray[np.float64],
        classes: NDArray[Any],
        *,
        rank: int,
        unknowns: int,
    ) -> None:
        self.coef_ = coef
        self.intercept_ = intercept
        self.classes = np.asarray(classes)
        self.rank = rank
        self.unknowns = unknowns

    def decision_function(self, x: ArrayLike) -> NDArray[np.float64]:
        rows = np.asarray(x, dtype=np.float64)
        z: NDArray[np.float64] = rows.reshape(len(rows), -1) @ self.coef_.T + self.intercept_
        return z

    def predict_proba(self, x: ArrayLike) -> NDArray[np.float64]:
        p: NDArray[np.float64] = softmax(self.decision_function(x))
        return p

    def predict(self, x: ArrayLike) -> NDArray[Any]:
        out: NDArray[Any] = self.classes[self.decision_function(x).argmax(axis=1)]
        return out

    def to_module(self) -> Any:
        """The same model as a ``torch.nn.Linear`` returning logits (for white-box attacks)."""
        import torch

        k, d = self.coef_.shape
        layer = torch.nn.Linear(d, k)
        with torch.no_grad():
            layer.weight.copy_(torch.as_tensor(self.coef_, dtype=torch.float32))
            layer.bias.copy_(torch.as_tensor(self.intercept_, dtype=torch.float32))
        return layer


def solve_logistic(
    x: ArrayLike, probs: ArrayLike, classes: NDArray[Any] | None = None
) -> LinearSubstitute:
    """Recover a (multinomial or binary) logistic regression from queries ``x`` and the
    probabilities ``probs`` it returned for them.

    Exact for ``d + 1`` queries in general position with exact probabilities; weighted least
    squares otherwise (rounded outputs, more queries).
    """
    xa = np.asarray(x, dtype=np.float64)
    pa = np.asarray(probs, dtype=np.float64)
    n, d = xa.shape
    k = pa.shape[1]
    if k < 2:
        raise ValueError("equation solving needs at least 2 classes")
    ref = pa.argmax(axis=1)  # per query, the best-measured probability
    gauge = int(np.bincount(ref, minlength=k).argmax())
    free = [c for c in range(k) if c != gauge]
    block = {c: j for j, c in enumerate(free)}
    width = d + 1
    xt = np.hstack([xa, np.ones((n, 1))])
    a_parts, z_parts, w_parts = [], [], []
    for i in range(k):
        rows = np.flatnonzero((ref != i) & (pa[:, i] > 0))
        if len(rows) == 0:
            continue
        a = np.zeros((len(rows), len(free) * width))
        if i != gauge:
            a[:, block[i] * width : (block[i] + 1) * width] = xt[rows]
        for r in np.unique(ref[rows]):
            if r == gauge:
                continue
            sel = ref[rows] == r
            a[sel, block[int(r)] * width : (block[int(r)] + 1) * width] -= xt[rows[sel]]
        p_i, p_r = pa[rows, i], pa[rows, ref[rows]]
        a_parts.append(a)
        z_parts.append(np.log(p_i) - np.log(p_r))
        w_parts.append(1.0 / (1.0 / p_i + 1.0 / p_r))
    unknowns = len(free) * width
    theta = np.zeros(unknowns)
    rank = 0
    if a_parts:
        a_all, z_all, w_all = np.vstack(a_parts), np.concatenate(z_parts), np.concatenate(w_parts)
        w_all = w_all / w_all.max()
        # One BLAS thread: the system is small, and on a busy CPU OpenBLAS's thread
        # synchronisation costs 50x (measured: 12.5 s vs 0.24 s for 500 queries on 2 shared cores).
        with threadpool_limits(limits=1, user_api="blas"):
            theta, _, rank, _ = scipy.linalg.lstsq(a_all * w_all[:, None], z_all * w_all)
    params = np.zeros((k, width))
    for c, j in block.items():
        params[c] = theta[j * width : (j + 1) * width]
    labels = classes if classes is not None else np.arange(k)
    return LinearSubstitute(params[:, :d], params[:, d], labels, rank=int(rank), unknowns=unknowns)


@register(
    "equation_solving",
    options={},
    min_queries=lambda d: d + 1,
    needs_probabilities=True,
    first_checkpoint=lambda d, budget: d + 1,
)
def equation_solving(run: Run) -> LinearSubstitute:
    """Spend the budget on uniform queries; solve at every checkpoint from the queries so far."""
    x = run.uniform(run.oracle.budget)
    answers: list[NDArray[np.float64]] = []
    sub: LinearSubstitute | None = None
    for c in run.checkpoints:
        answers.append(run.oracle(x[run.oracle.queries : c]))
        probs = np.concatenate(answers)
        sub = solve_logistic(x[:c], probs, run.labels(probs.shape[1]))
        run.checkpoint(sub)
    assert sub is not None  # checkpoints always end at the budget
    if sub.rank < sub.unknowns:
        run.notes.append(
            f"equation_solving: the queries identified rank {sub.rank} of {sub.unknowns} unknowns "
            "(rounded outputs or a degenerate domain); the rest is a minimum-norm guess"
        )
    return sub
