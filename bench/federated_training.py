"""Federated training benchmark: robust aggregation against malicious clients on digits.

11 clients (IID split of 1,200 digits; 597 held-out test digits), 20% malicious (2 clients,
chosen with the seed), every rule configured for f=2 (Bulyan needs n >= 4f + 3 = 11). Each rule
runs three times with the same seed and the same initial model: all clients honest; the
malicious clients sending reversed x10 updates (``scaled``); the malicious clients planting a
2x2 BadNets trigger (target 0) in half their rows with a x3 boost (``backdoor``). Reported: the
global model's test accuracy after the last round, and the backdoor's success (triggered
non-target test digits classified as 0; its value on the honest model is the baseline).

Models: ``logreg`` (torch multinomial logistic regression, 650 parameters) and ``cnn`` (the demo's
digits CNN, ~40k). Engine: the in-process grid by default (same Flower strategies and ClientApp
as the Ray Simulation Engine, without Ray's start-up); ``--engine ray`` runs the same thing on Ray.

    .venv/bin/python bench/federated_training.py [--model logreg cnn] [--rounds 10] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from typing import Any

import numpy as np


def build_logreg() -> Any:
    import torch.nn as nn

    return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))


def digits() -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    order = np.random.default_rng(0).permutation(len(x))
    return x[order[:1200]], d.target[order[:1200]], x[order[1200:]], d.target[order[1200:]]


def run(model: str, rounds: int, seeds: list[int], engine: str, clients: int) -> None:
    from pipeshield.demo.models import build_digits_cnn
    from pipeshield.training.federated import compare

    build = build_logreg if model == "logreg" else build_digits_cnn
    data = digits()
    table: dict[str, dict[str, list[float]]] = {}
    seconds: list[float] = []
    for seed in seeds:
        for attack in ("scaled", "backdoor"):
            t0 = time.perf_counter()
            result = compare(build, *data, clients=clients, rounds=rounds, malicious=0.2, attack=attack,
                             engine=engine, seed=seed)
            seconds.append(time.perf_counter() - t0)
            for row in result.rows:
                cell = table.setdefault(row.strategy, {})
                if row.skipped:
                    cell.setdefault("skipped", []).append(1.0)
                    continue
                assert row.honest is not None and row.attacked is not None
                if attack == "scaled":
                    cell.setdefault("honest", []).append(row.honest.accuracy)
                    cell.setdefault("scaled", []).append(row.attacked.accuracy)
                else:
                    cell.setdefault("backdoor", []).append(row.attacked.accuracy)
                    cell.setdefault("asr", []).append(row.attacked.attack_success or 0.0)
                    cell.setdefault("asr_honest", []).append(row.honest.attack_success or 0.0)
            print(f"  seed {seed} {attack}: {seconds[-1]:.0f} s; "
                  f"malicious clients {result.attack['malicious_clients']}",
                  flush=True)

    def med(values: list[float] | None) -> str:
        return "n/a" if not values else f"{100 * statistics.median(values):.1f}"

    print(f"\n## {model}, {clients} clients, {rounds} rounds, f=2, engine {engine}, seeds {seeds} (medians, %)")
    print("| strategy | honest acc | acc under scaled | drop | acc under backdoor | backdoor ASR | ASR if honest |")
    print("|---|---|---|---|---|---|---|")
    for name, cell in table.items():
        if "honest" not in cell:
            print(f"| {name} | n/a | n/a | | n/a | n/a | |")
            continue
        drop = statistics.median(h - s for h, s in zip(cell["honest"], cell["scaled"]))
        print(f"| {name} | {med(cell['honest'])} | {med(cell['scaled'])} | {100 * drop:.1f} | {med(cell['backdoor'])} "
              f"| {med(cell['asr'])} | {med(cell['asr_honest'])} |")
    print(f"\nwall time per comparison (6 rules x honest+attacked, one simulation): median "
          f"{statistics.median(seconds):.0f} s")


def main() -> None:
    import flwr
    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", nargs="+", default=["logreg"], choices=["logreg", "cnn"])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--clients", type=int, default=11)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--engine", default="inprocess", choices=["inprocess", "ray"])
    args = parser.parse_args()
    print(f"# federated training: python {platform.python_version()}, torch {torch.__version__}, "
          f"flwr {flwr.__version__}, {platform.machine()} ({platform.processor() or 'cpu'}), "
          f"torch threads {torch.get_num_threads()}")
    for model in args.model:
        run(model, args.rounds, args.seeds, args.engine, args.clients)


if __name__ == "__main__":
    main()
