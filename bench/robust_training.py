"""Poisoning-resistant training benchmark: attack success rate and clean accuracy, undefended vs
each defence, on the digits CNN with a planted BadNets backdoor and with label flips.

Data: scikit-learn's digits, the demo's split (1,203 training rows, 594 test rows), pixels in [0, 1].
Model: the demo CNN (``pipeshield.demo.models.build_digits_cnn``), Adam lr 2e-3, batch 64, 40 epochs,
seeded before it is built. Poison from ``pipeshield.attacks.poison``:

- ``backdoor``: 2x2 bottom-right patch, relabelled 0, on 3%, 5% or 10% of all training rows;
- ``random-flip``: 20% of rows get a random other label;
- ``none``: no poison, the control -- what each defence costs on clean data.

Defences: ``undefended`` (plain training on the poisoned rows; it is also sanitize's probe),
``sanitize-drop`` / ``sanitize-relabel`` (every detector on the probe's activations, then a fresh
model), ``trim`` (loss trimming, warm-up 5 epochs; trim 0.1 for backdoors, 0.25 for 20% flips),
``gce`` (generalized cross-entropy, flips only). ASR: share of triggered test rows of other classes
classified 0. Medians over seeds.

    .venv/bin/python bench/robust_training.py [--seeds 0 1 2] [--only none|backdoor|random-flip]
"""

from __future__ import annotations

import argparse
import platform
import time
from typing import Any

import numpy as np

EPOCHS = 40
SHAPE = (1, 8, 8)


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.33, random_state=0, stratify=y)
    return xtr, xte, ytr, yte


def _fresh(seed: int) -> Any:
    import torch

    from pipeshield.demo.models import build_digits_cnn

    torch.manual_seed(seed)
    return build_digits_cnn()


def _scores(model: Any, xte: np.ndarray, yte: np.ndarray, trigger: Any) -> tuple[float, float]:
    import torch

    with torch.inference_mode():
        acc = float((model(torch.as_tensor(xte.reshape(-1, *SHAPE))).argmax(1).numpy() == yte).mean())
        asr = float("nan")
        if trigger is not None:
            v = trigger.apply(xte[yte != 0])
            asr = float((model(torch.as_tensor(v.reshape(-1, *SHAPE))).argmax(1).numpy() == 0).mean())
    return acc, asr


def run(kind: str, rate: float, seed: int, data: Any) -> dict[str, tuple[float, float, str]]:
    from pipeshield.attacks import PatchTrigger, PoisonResult, poison
    from pipeshield.training.robust import (
        fit_module,
        sanitize_then_train,
        torch_features,
        trimmed_train,
    )

    xtr, xte, ytr, yte = data
    trigger = PatchTrigger((8, 8), 2) if kind == "backdoor" else None
    if kind == "none":  # the control: what each defence costs on clean data
        p = PoisonResult(xtr, ytr, np.zeros(len(ytr), dtype=bool))
    else:
        p = poison(xtr, ytr, kind=kind, rate=rate, target=0 if trigger else None, trigger=trigger, seed=seed)

    def plain(x: np.ndarray, y: np.ndarray) -> Any:
        return fit_module(_fresh(seed), x, y, epochs=EPOCHS, seed=seed, input_shape=SHAPE)

    out: dict[str, tuple[float, float, str]] = {}
    t0 = time.perf_counter()
    probe = plain(p.x, p.y)
    out["undefended"] = (*_scores(probe, xte, yte, trigger), f"{time.perf_counter() - t0:.0f}s")
    features = torch_features(probe, p.x, SHAPE)
    for action in ("drop", "relabel"):
        t0 = time.perf_counter()
        model, res = sanitize_then_train(p.x, p.y, plain, action=action, features=features, image_shape=(8, 8),
                                         mask=p.mask)
        c = res.cleaning
        assert c.metrics is not None
        note = (f"-{len(c.removed)} ~{len(c.relabelled)} P{c.metrics.precision:.2f} R{c.metrics.recall:.2f}"
                f"{' unresolved ' + ','.join(map(str, c.unresolved_classes)) if c.unresolved_classes else ''}"
                f" {time.perf_counter() - t0:.0f}s")
        out[f"sanitize-{action}"] = (*_scores(model, xte, yte, trigger), note)
    q = 0.1 if kind != "random-flip" else min(rate + 0.05, 0.45)
    t0 = time.perf_counter()
    model, tr = trimmed_train(_fresh(seed), p.x, p.y, trim=q, warmup=5, epochs=EPOCHS, seed=seed, input_shape=SHAPE,
                              mask=p.mask)
    assert tr.metrics is not None
    out[f"trim {q:g}"] = (*_scores(model, xte, yte, trigger),
                          f"trimmed R{tr.metrics.recall:.2f} {time.perf_counter() - t0:.0f}s")
    if kind == "random-flip":
        model = fit_module(_fresh(seed), p.x, p.y, epochs=EPOCHS, seed=seed, input_shape=SHAPE,
                           loss="generalized-cross-entropy")
        out["gce"] = (*_scores(model, xte, yte, trigger), "")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", choices=["none", "backdoor", "random-flip"])
    args = parser.parse_args()
    import sklearn
    import torch

    print(f"python {platform.python_version()}, torch {torch.__version__}, scikit-learn {sklearn.__version__}, "
          f"numpy {np.__version__}, {platform.machine()} x{__import__('os').cpu_count()}; seeds {args.seeds}; "
          f"{EPOCHS} epochs, one torch thread\n", flush=True)
    data = _data()
    scenarios = [("none", 0.0), ("backdoor", 0.03), ("backdoor", 0.05), ("backdoor", 0.10), ("random-flip", 0.20)]
    for kind, rate in scenarios:
        if args.only and kind != args.only:
            continue
        per: dict[str, list[tuple[float, float]]] = {}
        print(f"## {kind} {rate:.0%}")
        print(f"{'seed':>4} {'defence':18} {'clean acc':>9} {'ASR':>6}  note", flush=True)
        for seed in args.seeds:
            for name, (acc, asr, note) in run(kind, rate, seed, data).items():
                per.setdefault(name, []).append((acc, asr))
                print(f"{seed:4d} {name:18} {acc:9.3f} {asr:6.3f}  {note}", flush=True)
        for name, vals in per.items():
            a = np.asarray(vals)
            print(f"{'med':>4} {name:18} {np.median(a[:, 0]):9.3f} {np.median(a[:, 1]):6.3f}", flush=True)
        print(flush=True)


if __name__ == "__main__":
    main()
