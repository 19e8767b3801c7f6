"""Model inversion (MI-Face) on digits and attribute inference on a planted table.

Run: .venv/bin/python bench/inversion_digits.py [--seeds 3]
Digits (sklearn, 8x8, scaled to [0, 1]) are split in halves: one trains the attacked models (a
softmax regression and the demo's CNN, both in torch), the other an independent k-NN judge. For
each model and seed: the fraction of the 10 class reconstructions the judge recognises (chance
10%), white-box and black-box (finite differences, 30 iterations, 5,000 queries per class), and
black-box through each standard output policy; time per model. Then attribute inference on the
planted table of tests/attacks/inversion/test_attribute.py: attack vs baseline accuracy on members
and non-members, full output and label-only. Torch runs on 1 thread.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

from pipeshield.attacks.inversion import attribute_inference, invert_classes, judge, train_evaluator
from pipeshield.demo.models import train_digits_cnn
from pipeshield.gateway.output_policy import STANDARD_POLICIES, HardenedTarget, OutputPolicy

SHAPE = (1, 8, 8)


class Proba:
    def __init__(self, module: torch.nn.Module) -> None:
        self.module, self.classes = module, np.arange(10)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.softmax(self.module(torch.as_tensor(np.asarray(x, np.float32).reshape(-1, *SHAPE))), 1).numpy()


def softmax_regression(x: np.ndarray, y: np.ndarray, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    xt, yt = torch.as_tensor(x).reshape(-1, *SHAPE), torch.as_tensor(y)
    for _ in range(300):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), yt).backward()  # type: ignore[no-untyped-call]
        opt.step()
    return model.eval()


def digits(seeds: int) -> None:
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    bb: dict[str, Any] = {"method": "finite_differences", "max_iter": 30, "lr": 1.0, "beta": 10, "fd_step": 0.05,
                          "max_queries": 5000}
    rows: dict[tuple[str, str], list[float]] = {}
    for seed in range(seeds):
        xa, xb, ya, yb = train_test_split(x, y, test_size=0.5, random_state=seed, stratify=y)
        judge_model = train_evaluator(xb, yb)
        models = {"softmax": softmax_regression(xa, ya, seed), "cnn": train_digits_cnn(xa, ya, seed=seed, epochs=20)}
        for name, module in models.items():
            def rate(results: Any, judge_model: Any = judge_model, xb: Any = xb, yb: Any = yb) -> float:
                return judge(results, judge_model, xb, yb).recognition_rate

            t = time.perf_counter()
            white = invert_classes(module, 10, input_shape=SHAPE, max_iter=300, lr=1.0, beta=50)
            rows.setdefault((name, "white-box"), []).append(rate(white))
            rows.setdefault((name, "white-box seconds"), []).append(time.perf_counter() - t)
            for policy in (OutputPolicy(), *STANDARD_POLICIES):
                t = time.perf_counter()
                res = invert_classes(HardenedTarget(Proba(module), policy), 10, input_shape=SHAPE, seed=seed, **bb)
                rows.setdefault((name, f"black-box {policy.name}"), []).append(rate(res))
                rows.setdefault((name, f"black-box {policy.name} queries/class"), []).append(
                    statistics.mean(r.queries for r in res))
                if policy == OutputPolicy():
                    rows.setdefault((name, "black-box seconds"), []).append(time.perf_counter() - t)
    print(f"MI-Face on digits, {seeds} seeds (mean [min, max]); chance = 0.10")
    for (model, what), vs in rows.items():
        print(f"  {model:8s} {what:38s} {statistics.mean(vs):9.3f} [{min(vs):.3f}, {max(vs):.3f}]")


def planted_table(seeds: int) -> None:
    print("Attribute inference, planted table (400 members, 400 non-members, s in {0,1,2})")
    for seed in range(seeds):
        rng = np.random.default_rng(seed)

        def table(n: int, rng: np.random.Generator = rng) -> tuple[np.ndarray, np.ndarray]:
            s = rng.integers(0, 3, n)
            other = rng.normal(size=(n, 4))
            yy = ((s == 2) | ((s == 1) & (other[:, 0] > 0))).astype(int)
            yy = np.where(rng.random(n) < 0.2, 1 - yy, yy)
            return np.column_stack([other[:, :2], s, other[:, 2:]]), yy

        xm, ym = table(400)
        xn, yn = table(400)
        model = RandomForestClassifier(100, bootstrap=False, max_features=0.5, random_state=seed).fit(xm, ym)
        for policy in (OutputPolicy(), OutputPolicy(label_only=True)):
            t = time.perf_counter()
            r = attribute_inference(HardenedTarget(model, policy), xm, ym, xn, yn, sensitive=2, seed=seed)
            m, n = r.members, r.nonmembers
            print(f"  seed {seed} {policy.name:10s} members attack {m.attack_accuracy:.3f} baseline "
                  f"{m.baseline_accuracy:.3f} adv {m.advantage:+.3f} | non-members attack {n.attack_accuracy:.3f} "
                  f"baseline {n.baseline_accuracy:.3f} adv {n.advantage:+.3f} | {time.perf_counter() - t:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        digits(args.seeds)
        planted_table(args.seeds)
    finally:
        torch.set_num_threads(before)


if __name__ == "__main__":
    main()
