"""The gateway's input detectors on the demo pipeline: detection rate vs false-positive rate, and cost.

Each detector is fitted as the gateway fits it (:func:`detector_for_model`, threshold at fpr=1% on
held-out *training* rows); rates are measured on the test set, which calibration never sees.

- digits_cnn: pipeshield's own PGD (L-inf, eps = the evasion check's default policy eps 0.1,
  20 steps, clip [0, 1]) on every test image; detection is reported on the adversarial inputs
  that fool the model, next to the false-positive rate on the clean test images. The demo's
  training set holds 3% backdoored images (planted); the table also shows each detector
  calibrated without them (planted.json names them), since they move a 1% threshold.
- tabular_forest: out-of-distribution rows (uniform noise inside the training range box,
  another dataset rescaled, clean rows with five features shifted 3 sd, rows whose standardised
  values are permuted across features) against the clean test rows.
- overhead: median microseconds per input of ``FittedDetector.score`` at batch 1 and 64 (the
  model's probabilities are passed in, as the gateway does), next to the model call itself.

Run: ``.venv/bin/python bench/gateway_detectors.py [PIPELINE_DIR]`` (builds the demo when no folder
is given; prints a markdown report).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeshield.attacks.evasion import pgd
from pipeshield.core.datasets import load_dataset
from pipeshield.core.pipeline import GatewayDetectorSpec, Pipeline, load_pipeline
from pipeshield.core.targets import load_target
from pipeshield.gateway.detectors import FittedDetector, detector_for_model, fit_detector

EPS, STEPS, SEED = 0.1, 20, 0


def rate(det: FittedDetector, x: np.ndarray, probs: np.ndarray | None = None) -> float:
    return float(det.flags(det.score(x, probs)).mean()) if len(x) else float("nan")


def per_input_us(fn: Any, x: np.ndarray, batch: int, repeats: int = 31) -> float:
    xb = x[:batch]
    fn(xb)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(xb)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) / len(xb) * 1e6


def digits(pipeline: Pipeline, rows: list[str], cost: list[str]) -> None:
    target = load_target(pipeline, "digits_cnn")
    train, test = load_dataset(pipeline, "digits_train"), load_dataset(pipeline, "digits_test")
    planted = json.loads((pipeline.base_dir / "planted.json").read_text())["backdoor"]["indices"]
    keep = np.setdiff1d(np.arange(len(train.x)), planted)
    x_test = test.x.reshape(len(test.x), -1).astype(np.float64)
    res = pgd(target, torch.tensor(test.x.reshape(-1, 1, 8, 8), dtype=torch.float32), torch.tensor(test.y),
              eps=EPS, steps=STEPS, clip=(0.0, 1.0), seed=SEED)
    fooled = res.success.numpy()
    x_adv = res.x_adv.numpy().reshape(len(x_test), -1).astype(np.float64)
    print(f"digits_cnn: PGD eps={EPS} fools {fooled.mean():.1%} of {len(x_test)} test images", file=sys.stderr)
    configs: list[tuple[str, dict[str, Any]]] = [
        ("squeezing, 4-bit (default)", {"method": "squeezing"}),
        ("squeezing, 1-bit + 2x2 median (Xu et al. MNIST)", {"method": "squeezing", "bits": 1, "median": 2}),
        ("squeezing, 3-bit", {"method": "squeezing", "bits": 3}),
        ("mahalanobis, inputs", {"method": "mahalanobis"}),
        ("mahalanobis, logits", {"method": "mahalanobis", "features": "logits"}),
    ]
    for label, options in configs:
        spec = GatewayDetectorSpec(**options)
        det = detector_for_model(pipeline, "digits_cnn", target, spec).fitted
        shape = {"shape": (1, 8, 8), "clip": (0.0, 1.0)} if spec.method == "squeezing" else {}
        extra = {k: getattr(spec, k) for k in ("bits", "median")} if spec.method == "squeezing" else (
            {"features": spec.features} if spec.method == "mahalanobis" else {})
        clean_fit = fit_detector(spec.method, train.x[keep], train.y[keep], target, **shape, **extra)
        for calib, d in (("train_data as is", det), ("backdoor rows removed", clean_fit)):
            rows.append(f"| digits_cnn | {label} | {calib} | {d.threshold:.4g} | {rate(d, x_test):.1%} | "
                        f"{rate(d, x_adv[fooled]):.1%} | {rate(d, x_adv):.1%} |")
        if label.endswith("(default)") or label.startswith("mahalanobis"):
            probs = target.predict_proba(x_test[:64].astype(np.float32))
            for batch in (1, 64):
                us = per_input_us(lambda xb: det.score(xb, probs[: len(xb)]), x_test, batch)  # noqa: B023
                cost.append(f"| digits_cnn | {label} | {batch} | {us:.1f} |")
    model_us = {b: per_input_us(lambda xb: target.predict_proba(xb.astype(np.float32)), x_test, b) for b in (1, 64)}
    cost.extend(f"| digits_cnn | (the model call itself) | {b} | {us:.1f} |" for b, us in model_us.items())


def tabular(pipeline: Pipeline, rows: list[str], cost: list[str]) -> None:
    from sklearn.datasets import load_digits

    target = load_target(pipeline, "tabular_forest")
    train, test = load_dataset(pipeline, "tabular_train"), load_dataset(pipeline, "tabular_test")
    x, x_test = train.x.astype(np.float64), test.x.astype(np.float64)
    rng = np.random.default_rng(SEED)
    lo, hi, mu, sd = x.min(0), x.max(0), x.mean(0), x.std(0)
    n = 200
    shifted = x_test[rng.integers(0, len(x_test), n)].copy()
    for row in shifted:
        cols = rng.choice(x.shape[1], 5, replace=False)
        row[cols] += 3 * sd[cols]
    z = (x_test[rng.integers(0, len(x_test), n)] - mu) / sd
    ood = {
        "uniform in range box": rng.uniform(lo, hi, size=(n, x.shape[1])),
        "digits pixels rescaled": lo + load_digits().data[:n, 10:40] / 16.0 * (hi - lo),
        "5 features +3 sd": shifted,
        "z-scores permuted": np.array([rng.permutation(r) for r in z]) * sd + mu,
    }
    for method in ("mahalanobis", "isolation-forest"):
        det = detector_for_model(pipeline, "tabular_forest", target, GatewayDetectorSpec(method=method)).fitted
        rates = " | ".join(f"{rate(det, v):.1%}" for v in ood.values())
        rows.append(f"| tabular_forest | {method} | {det.threshold:.4g} | {rate(det, x_test):.1%} | {rates} |")
        for batch in (1, 64):
            cost.append(f"| tabular_forest | {method} | {batch} | {per_input_us(det.score, x_test, batch):.1f} |")
    model_us = {b: per_input_us(lambda xb: target.predict_proba(xb), x_test, b) for b in (1, 64)}
    cost.extend(f"| tabular_forest | (the model call itself) | {b} | {us:.1f} |" for b, us in model_us.items())
    rows.insert(0, "| model | detector | threshold | clean test FPR | " + " | ".join(ood) + " |")
    rows.insert(1, "|---|---|---|---|" + "---|" * len(ood))


def main() -> None:
    torch.manual_seed(SEED)
    torch.set_num_threads(1)  # a shared 2-core machine: one thread gives steadier medians
    if len(sys.argv) > 1:
        pipeline_dir = Path(sys.argv[1])
    else:
        from pipeshield.demo import build_demo

        pipeline_dir = build_demo(Path(tempfile.mkdtemp()) / "pipeline").pipeline_file.parent
    pipeline = load_pipeline(pipeline_dir / "pipeshield.toml")
    img: list[str] = []
    tab: list[str] = []
    cost: list[str] = []
    digits(pipeline, img, cost)
    tabular(pipeline, tab, cost)
    print(f"torch {torch.__version__}, numpy {np.__version__}, 1 thread, fpr target 1%, seed {SEED}\n")
    print(f"### digits_cnn: PGD L-inf eps={EPS}, {STEPS} steps\n")
    print("| model | detector | calibrated on | threshold | clean test FPR | detected (fooling adv.) | "
          "detected (all adv.) |\n|---|---|---|---|---|---|---|")
    print("\n".join(img))
    print("\n### tabular_forest: out-of-distribution rows (share flagged)\n")
    print("\n".join(tab))
    print("\n### overhead (median us per input)\n\n| model | detector | batch | us/input |\n|---|---|---|---|")
    print("\n".join(cost))


if __name__ == "__main__":
    main()
