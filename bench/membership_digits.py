"""Membership inference on scikit-learn's digits: a random forest trained on a known half.

898 members (the forest's training half) against 899 non-members (the other half); reference
models are ``clone(forest)`` on random halves of all 1,797 rows, fanned out through the local
executor. Prints AUC, TPR at 1% / 0.1% / 0% FPR and the epsilon lower bound for every attack,
per reference-model count, with the wall time of ``evaluate``.

With 899 non-members, 1% FPR allows 8 false positives and 0.1% allows none: the TPR at 0.1% FPR
printed here *is* the TPR at zero false positives; it takes thousands of non-members to measure
0.1% FPR for real.

Run: ``.venv/bin/python bench/membership_digits.py [--n-reference 4 16] [--executor serial]``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier

from pipeshield.attacks.membership import evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-reference", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--executor", default=None, help="local or serial (default: local from 8 models)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    order = np.random.default_rng(args.seed).permutation(len(x))
    m, n = order[: len(x) // 2], order[len(x) // 2 :]
    t0 = time.perf_counter()
    model = RandomForestClassifier(n_estimators=100, random_state=args.seed).fit(x[m], y[m])
    fit_s = time.perf_counter() - t0
    print(
        f"digits: {len(m)} members, {len(n)} non-members; RandomForest(100 trees) "
        f"train acc {model.score(x[m], y[m]):.3f}, test acc {model.score(x[n], y[n]):.3f}, "
        f"fit {fit_s:.2f} s; {os.cpu_count()} cores"
    )
    for n_ref in args.n_reference:
        t0 = time.perf_counter()
        result = evaluate(model, x[m], y[m], x[n], y[n], n_reference=n_ref, seed=args.seed, executor=args.executor)
        took = time.perf_counter() - t0
        print(f"\nn_reference={n_ref} (each record IN for {n_ref // 2}): evaluate {took:.1f} s")
        print(f"{'attack':30s} {'AUC':>6s} {'TPR@1%':>7s} {'TPR@0.1%':>9s} {'TPR@0%':>7s} {'eps_lb':>7s}")
        for name, a in result.attacks.items():
            t = a.tpr_at_fpr
            print(
                f"{name:30s} {a.auc:6.3f} {t[0.01]:7.3f} {t[0.001]:9.3f} {t[0.0]:7.3f} "
                f"{a.epsilon_lower_bound:7.2f}"
            )


if __name__ == "__main__":
    main()
