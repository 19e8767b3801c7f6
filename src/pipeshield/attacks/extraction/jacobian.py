"""Jacobian-based dataset augmentation (Papernot et al. 2017, "Practical Black-Box Attacks against
Machine Learning").

The attacker starts from a small seed set (``n_seed`` inputs from the pool, or uniform draws from
the domain), has the victim label it, and trains a substitute. Each round then grows the set
along the substitute's decision boundary: every point ``x`` spawns

    x' = clip(x + lambda_rho * sign(J_F(x)[O(x)]))

where ``O(x)`` is the victim's label and ``J_F[O(x)]`` the gradient of the substitute's
probability for that label. ``lambda_rho = lam * (-1) ** (rho // tau)`` flips sign every ``tau``
rounds (the paper's periodic step size), so the set does not just drift away from the data. With
``reservoir = kappa``, rounds after the first ``sigma`` augment only ``kappa`` points sampled
uniformly from the current set (the paper's reservoir sampling), so queries grow linearly, not
doubling every round.

Queries are spent until the budget is reached (the last round is cut short) or ``max_rounds``
rounds are done; a substitute is trained (from scratch) at the end of every round and at every
checkpoint. Options: ``n_seed`` (100), ``lam`` (0.1), ``tau`` (3), ``reservoir`` (None),
``sigma`` (3), ``max_rounds`` (20), plus the training options of :mod:`.knockoff`.
"""

from __future__ import annotations

import numpy as np

from pipeshield.attacks.extraction._train import TorchSubstitute, label_gradient_sign
from pipeshield.attacks.extraction.knockoff import TRAINING_OPTIONS, fit
from pipeshield.attacks.extraction.methods import Run, register

__all__ = ["jacobian"]

OPTIONS = {
    **TRAINING_OPTIONS,
    "n_seed": 100,
    "lam": 0.1,
    "tau": 3,
    "reservoir": None,
    "sigma": 3,
    "max_rounds": 20,
}


@register("jacobian", options=OPTIONS)
def jacobian(run: Run) -> TorchSubstitute:
    o = run.options
    oracle = run.oracle
    n_seed = min(int(o["n_seed"]), oracle.budget)
    if n_seed < 1:
        raise ValueError("jacobian: n_seed must be >= 1")
    if run.pool is not None:
        pending = run.pool[
            run.rng.choice(len(run.pool), size=min(n_seed, len(run.pool)), replace=False)
        ]
    else:
        pending = run.uniform(n_seed)
    xs: list[np.ndarray] = []
    answers: list[np.ndarray] = []
    sub: TorchSubstitute | None = None
    trained_at = -1
    rho = 0
    while True:
        while len(pending) and oracle.remaining > 0:
            stop = run.next_checkpoint() or oracle.budget
            take = min(len(pending), stop - oracle.queries)
            answers.append(oracle(pending[:take]))
            xs.append(pending[:take])
            pending = pending[take:]
            if oracle.queries == stop:
                sub = fit(run, np.concatenate(xs), np.concatenate(answers), rho)
                trained_at = oracle.queries
                run.checkpoint(sub)
        if oracle.remaining == 0 or rho >= int(o["max_rounds"]):
            break
        x, p = np.concatenate(xs), np.concatenate(answers)
        if sub is None or trained_at != oracle.queries:
            sub = fit(run, x, p, rho)
            trained_at = oracle.queries
        grow = np.arange(len(x))
        kappa = o["reservoir"]
        if kappa is not None and rho >= int(o["sigma"]) and len(x) > int(kappa):
            grow = np.sort(run.rng.choice(len(x), size=int(kappa), replace=False))
        step = float(o["lam"]) * (-1.0) ** (rho // int(o["tau"]))
        direction = label_gradient_sign(sub, x[grow], p[grow].argmax(axis=1))
        pending = np.clip(x[grow] + step * direction, run.lo, run.hi)
        rho += 1
    if sub is None or trained_at != oracle.queries:
        sub = fit(run, np.concatenate(xs), np.concatenate(answers), rho)
        run.checkpoint(sub)
    run.notes.append(f"jacobian: {rho} augmentation rounds from {n_seed} seed inputs")
    return sub
