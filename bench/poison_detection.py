"""Poisoning detection benchmark: label flips (pipeshield vs cleanlab) and BadNets backdoors.

Label flips: 10% random flips on scikit-learn's digits and breast cancer. Both tools get the SAME
out-of-fold probabilities (pipeshield's default model, 5 folds); we compare pipeshield's
confident learning (one round: the published algorithm; and the default two rounds, which
recomputes probabilities) with cleanlab's ``find_label_issues`` (prune_by_noise_rate).

Backdoors: a digits CNN (the demo architecture, 40 epochs) trained with 5% and 10% BadNets poison
(2x2 bottom-right patch, target 0), and a clean one; spectral signatures and activation
clustering on its penultimate activations: recall of poisoned rows, FPR on clean rows, classes
flagged.

    .venv/bin/pip install cleanlab          # AGPL: benchmark only, never a dependency
    .venv/bin/python bench/poison_detection.py [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np


def _flip(y: np.ndarray, rate: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    k = len(np.unique(y))
    idx = rng.choice(len(y), int(rate * len(y)), replace=False)
    noisy = y.copy()
    noisy[idx] = (y[idx] + rng.integers(1, k, len(idx))) % k
    truth = np.zeros(len(y), dtype=bool)
    truth[idx] = True
    return noisy, truth


def label_flips(seeds: list[int]) -> None:
    from cleanlab.filter import find_label_issues as cleanlab_find
    from sklearn import datasets

    from pipeshield.data.poisoning import PoisonData, ScanConfig, detection_metrics, run_detectors
    from pipeshield.data.poisoning.confident import find_label_issues
    from pipeshield.data.poisoning.crossval import out_of_fold_probabilities

    print("## label flips: 10% random, 5-fold out-of-fold probabilities (default model: SVM)")
    print(f"{'dataset':14} {'method':34} {'F1':>6} {'prec':>6} {'recall':>6} {'time s':>7}")
    for name in ("digits", "breast_cancer"):
        x, y = getattr(datasets, f"load_{name}")(return_X_y=True)
        rows: dict[str, list[tuple[float, float, float, float]]] = {}
        for seed in seeds:
            noisy, truth = _flip(y, 0.10, seed)
            t0 = time.perf_counter()
            probs = out_of_fold_probabilities(x, noisy, n_classes=len(np.unique(y)), folds=5, model="auto", seed=seed)
            t_probs = time.perf_counter() - t0
            for method, fn in (("pipeshield, 1 round (same probs)", find_label_issues),
                               ("cleanlab find_label_issues (same probs)", cleanlab_find)):
                t0 = time.perf_counter()
                flagged = fn(noisy, probs)
                dt = time.perf_counter() - t0
                m = detection_metrics(flagged, truth)
                rows.setdefault(method, []).append((m.f1, m.precision, m.recall, dt))
            t0 = time.perf_counter()
            data = PoisonData(x.astype(np.float32), noisy, np.unique(y))
            res = run_detectors(data, ScanConfig(seed=seed), ["confident-learning"])["confident-learning"]
            dt = time.perf_counter() - t0
            m = detection_metrics(res.flagged, truth)
            rows.setdefault("pipeshield default (2 rounds, end to end)", []).append((m.f1, m.precision, m.recall, dt))
            rows.setdefault("(out-of-fold probabilities alone)", []).append((0.0, 0.0, 0.0, t_probs))
        for method, vals in rows.items():
            a = np.asarray(vals)
            scores = "     -      -      -" if method.startswith("(") else (
                f"{a[:, 0].mean():6.3f} {a[:, 1].mean():6.3f} {a[:, 2].mean():6.3f}")
            print(f"{name:14} {method:34} {scores} {np.median(a[:, 3]):7.3f}")


def backdoors(seeds: list[int]) -> None:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from pipeshield.attacks import PatchTrigger, poison
    from pipeshield.core.targets.torch import TorchTarget
    from pipeshield.data.poisoning import (
        PoisonData,
        ScanConfig,
        detection_metrics,
        penultimate_activations,
        run_detectors,
    )
    from pipeshield.demo.models import train_digits_cnn

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.33, random_state=0, stratify=y)
    trigger = PatchTrigger((8, 8), 2)
    print("\n## backdoors: digits CNN, BadNets 2x2 patch -> class 0 (rate = share of all training rows)")
    print(f"{'rate':>5} {'seed':>4} {'ASR':>6} {'detector':22} {'recall':>6} {'FPR':>7} {'classes':8} {'time s':>6}")
    for rate in (0.0, 0.05, 0.10):
        for seed in seeds:
            if rate:
                p = poison(xtr, ytr, kind="backdoor", rate=rate, target=0, trigger=trigger, seed=seed)
                xp, yp, mask = p.x, p.y, p.mask
            else:
                xp, yp, mask = xtr, ytr, np.zeros(len(ytr), dtype=bool)
            import torch

            torch.set_num_threads(1)
            net = train_digits_cnn(xp, yp, seed=seed)
            target = TorchTarget("cnn", net, input_shape=[1, 8, 8])
            asr = float("nan")
            if rate:
                pred = target.predict_proba(trigger.apply(xte[yte != 0])).argmax(1)
                asr = float((pred == 0).mean())
            t0 = time.perf_counter()
            data = PoisonData(xp, yp, np.arange(10), features=penultimate_activations(target, xp))
            results = run_detectors(data, ScanConfig(seed=seed), ["spectral-signatures", "activation-clustering"])
            dt = time.perf_counter() - t0
            union = np.zeros(len(yp), dtype=bool)
            for name, r in results.items():
                m = detection_metrics(r.flagged, mask)
                union |= r.flagged
                print(f"{rate:5.2f} {seed:4d} {asr:6.3f} {name:22} {m.recall:6.3f} {m.fpr:7.4f} "
                      f"{','.join(map(str, r.suspicious_classes)) or '-':8} {dt:6.2f}")
            m = detection_metrics(union, mask)
            print(f"{rate:5.2f} {seed:4d} {asr:6.3f} {'either':22} {m.recall:6.3f} {m.fpr:7.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", choices=["flips", "backdoors"])
    args = parser.parse_args()
    import cleanlab
    import sklearn
    import torch

    print(f"python {platform.python_version()}, torch {torch.__version__}, scikit-learn {sklearn.__version__}, "
          f"cleanlab {cleanlab.__version__}, numpy {np.__version__}; seeds {args.seeds}\n")
    if args.only != "backdoors":
        label_flips(args.seeds)
    if args.only != "flips":
        backdoors(args.seeds)


if __name__ == "__main__":
    main()
