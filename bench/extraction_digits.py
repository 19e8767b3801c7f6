"""Model extraction on scikit-learn's digits: fidelity vs queries for each method, with the
victim's probabilities and with its labels only.

Digits (1,797 rows, 64 features scaled to [0, 1]) split once: 700 rows train the victims, 500
are the attacker's public pool (unlabelled to the attacker), 597 are held out; fidelity is label
agreement with the victim on the held-out rows. Victims: a multinomial LogisticRegression
(equation solving, exact and with rounded probabilities), an MLPClassifier(64) and a
RandomForest(100 trees) (knockoff and jacobian). Transferability: PGD (L-inf, eps 0.15, 20
steps) on each final substitute, replayed on the victim, against random sign noise of the same
size. Knockoff's budget stops at the pool's 500 inputs; jacobian augments past it.

Run: ``.venv/bin/python bench/extraction_digits.py [--seed 0]`` (one torch and one BLAS thread:
the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

from pipeshield.attacks.extraction import extract, transferability

EQ_POINTS = [65, 100, 200, 500, 1000]
LEARN_POINTS = {"knockoff": [50, 100, 200, 500], "jacobian": [50, 100, 200, 500, 1000]}


def _curve(fidelity: dict[int, float]) -> str:
    return "  ".join(f"{q:>5d}:{f:.3f}" for q, f in fidelity.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    order = np.random.default_rng(args.seed).permutation(len(x))
    tr, pool, te = order[:700], order[700:1200], order[1200:]
    data: dict[str, Any] = {"pool": x[pool], "x_test": x[te], "y_test": y[te]}
    print(
        f"digits: victims trained on {len(tr)}, pool {len(pool)}, held out {len(te)}; {os.cpu_count()} cores"
    )

    lr = LogisticRegression(max_iter=2000).fit(x[tr], y[tr])
    print(f"\nLogisticRegression victim (test acc {lr.score(x[te], y[te]):.3f}): equation_solving")
    for decimals in (None, 4, 3, 2):
        victim = (
            lr.predict_proba
            if decimals is None
            else (lambda z, d=decimals: np.round(lr.predict_proba(z), d))
        )
        t0 = time.perf_counter()
        res = extract(
            victim,
            n_features=64,
            method="equation_solving",
            budget=EQ_POINTS[-1],
            x_test=x[te],
            checkpoints=EQ_POINTS,
            seed=args.seed,
        )
        took = time.perf_counter() - t0
        label = "exact probabilities " if decimals is None else f"rounded to {decimals} decimals"
        print(f"  {label:22s} {_curve(dict(res.fidelity))}   ({took:.1f} s)")
    res = extract(
        lr, n_features=64, method="equation_solving", budget=65, x_test=x[te], seed=args.seed
    )
    t = transferability(res, lr, x[te], y[te], eps=0.15)
    print(
        f"  transfer from the 65-query copy, eps 0.15: {t.rate:.3f} of {t.n} fooled "
        f"(on the copy {t.substitute_rate:.3f}, random noise {t.baseline_rate:.3f})"
    )

    victims = {
        "MLPClassifier(64)": MLPClassifier(
            hidden_layer_sizes=(64,), max_iter=500, random_state=args.seed
        ),
        "RandomForest(100)": RandomForestClassifier(n_estimators=100, random_state=args.seed),
    }
    for name, model in victims.items():
        model.fit(x[tr], y[tr])
        print(f"\n{name} victim (test acc {model.score(x[te], y[te]):.3f})")
        for method, points in LEARN_POINTS.items():
            for labels_only in (False, True):
                t0 = time.perf_counter()
                res = extract(
                    model,
                    n_features=64,
                    method=method,
                    budget=points[-1],
                    labels_only=labels_only,
                    checkpoints=points,
                    seed=args.seed,
                    **data,
                )
                took = time.perf_counter() - t0
                output = "labels" if labels_only else "probs "
                print(
                    f"  {method:9s} {output} fidelity {_curve(dict(res.fidelity))}   "
                    f"acc {res.accuracy[res.queries]:.3f} ({took:.1f} s)"
                )
                if not labels_only:
                    t = transferability(res, model, x[te], y[te], eps=0.15)
                    print(
                        f"  {'':9s} transfer eps 0.15: {t.rate:.3f} of {t.n} fooled "
                        f"(on the copy {t.substitute_rate:.3f}, random noise {t.baseline_rate:.3f})"
                    )


if __name__ == "__main__":
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            main()
    finally:
        torch.set_num_threads(threads)
