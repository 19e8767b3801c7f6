"""Knockoff-style extraction (Orekondy et al. 2019, "Knockoff Nets"): query random inputs from a
pool the attacker holds, train a substitute on the answers.

The pool stands for public data of a similar kind (natural images for an image model) or, when
none is given, synthetic inputs drawn uniformly from the domain. This is the paper's *random*
sampling strategy; the adaptive (bandit) strategy is not implemented. The substitute learns from
the victim's probabilities (soft cross-entropy) or, with ``labels_only``, from one-hot labels.
At every checkpoint a fresh substitute is trained on all answers so far, so the fidelity curve
shows what an attacker who stopped there would hold.

Options: ``hidden`` (layer widths, default ``(128,)``), ``epochs`` (50), ``min_steps`` (400),
``lr`` (1e-3), ``batch_size`` (64).
"""

from __future__ import annotations

import numpy as np

from pipeshield.attacks.extraction._train import TorchSubstitute, train_substitute
from pipeshield.attacks.extraction.methods import Run, register

__all__ = ["TRAINING_OPTIONS", "knockoff"]

TRAINING_OPTIONS = {"hidden": (128,), "epochs": 50, "min_steps": 400, "lr": 1e-3, "batch_size": 64}


def fit(run: Run, x: np.ndarray, answers: np.ndarray, round_seed: int) -> TorchSubstitute:
    """A substitute trained on ``answers`` with the run's training options."""
    o = run.options
    return train_substitute(
        x,
        answers,
        run.labels(answers.shape[1]),
        hidden=tuple(o["hidden"]),
        epochs=int(o["epochs"]),
        min_steps=int(o["min_steps"]),
        lr=float(o["lr"]),
        batch_size=int(o["batch_size"]),
        seed=run.seed + round_seed,
    )


@register("knockoff", options=TRAINING_OPTIONS)
def knockoff(run: Run) -> TorchSubstitute:
    budget = run.oracle.budget
    if run.pool is not None:
        n = min(budget, len(run.pool))
        x = run.pool[run.rng.permutation(len(run.pool))[:n]]
        if n < budget:
            run.notes.append(
                f"knockoff: the pool holds {len(run.pool)} inputs, fewer than the budget of "
                f"{budget}; each was queried once"
            )
    else:
        x = run.uniform(budget)
    answers: list[np.ndarray] = []
    sub: TorchSubstitute | None = None
    for c in run.checkpoints:
        c = min(c, len(x))
        if c <= run.oracle.queries and sub is not None:
            continue
        answers.append(run.oracle(x[run.oracle.queries : c]))
        sub = fit(run, x[:c], np.concatenate(answers), 0)
        run.checkpoint(sub)
    assert sub is not None
    return sub
