"""Adversarial training on the demo's digits CNN: robust accuracy and cost, measured.

Builds the demo pipeline (``pipeshield.demo.build``: digits split 67/33 stratified, seed 0, with
its planted label flips and backdoor in the training data), then

1. evaluates the demo's undefended ``digits_cnn`` with the ``attacks.evasion`` check's assessment
   (the policy epsilon, L-inf 0.1 by default, FGSM/PGD/APGD-CE, masking checks) on ``digits_test``;
2. retrains it with PGD adversarial training and with TRADES (``train_pipeline_model``, exactly
   what ``pipeshield train adversarial`` runs) and evaluates each the same way;
3. times epochs of plain, PGD and TRADES training and of a bare inline PGD-training loop (the
   floor), interleaved (plain, pgd, trades, bare, plain, ...) so that load on a shared machine
   hits all alike; reports medians and ratios.

    .venv/bin/python bench/adversarial_training.py [--epochs 20] [--budget quick] [--reps 5]
        [--json out.json] [--timing-only]
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _undefended(pipeline: Path, budget: str, seed: int) -> dict[str, Any]:
    from pipeshield.attacks.evasion.check import EvasionCheck, EvasionSettings, assess_model
    from pipeshield.cli._attack import attack_context

    ctx = attack_context(pipeline, EvasionCheck(), "digits_cnn", {"budget": budget, "samples": 0}, seed)
    s = ctx.settings
    assert isinstance(s, EvasionSettings)
    report = assess_model(ctx, "digits_cnn", s)
    a = report.assessment
    return {"eps": s.eps, "clean_accuracy": a.clean_accuracy, "robust_accuracy": a.ensemble_at(s.eps),
            "curve": dict(zip(a.eps_grid, a.ensemble, strict=True)),
            "masking": [r.name for r in report.masking if r.flagged]}


def _trained(pipeline: Path, method: str, epochs: int, budget: str, seed: int) -> dict[str, Any]:
    from pipeshield.training.adversarial import train_pipeline_model

    root = pipeline.parent
    t0 = time.perf_counter()
    run = train_pipeline_model(pipeline, "digits_cnn", key=root / ".private/demo-signing.key", method=method,
                               epochs=epochs, budget=budget, seed=seed, out=root / f"models/bench.{method}.safetensors")
    assert run.report is not None
    a = run.report.assessment
    g = run.guarantee
    return {"eps": g["eps"], "clean_accuracy": g["clean_accuracy"], "robust_accuracy": g["robust_accuracy"],
            "curve": dict(zip(a.eps_grid, a.ensemble, strict=True)), "masking": g["masking"],
            "seconds_per_epoch": run.history.seconds_per_epoch, "total_seconds": time.perf_counter() - t0}


def _bare_pgd_epoch(module: Any, x: Any, y: Any, eps: float, steps: int, seed: int) -> float:
    """The floor: Madry's PGD training as a researcher writes it inline (same batches, Adam, steps,
    step size, random start, clip to [0, 1]); what the engine-based loop must not cost much over."""
    import torch
    import torch.nn.functional as F

    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    opt = torch.optim.Adam(module.parameters(), lr=2e-3)
    gen = torch.Generator().manual_seed(seed)
    alpha = 2.5 * eps / steps
    start = time.perf_counter()
    order = torch.randperm(len(xt), generator=torch.Generator().manual_seed(seed * 100_003))
    for i in range(0, len(xt), 64):
        idx = order[i : i + 64]
        xb, yb = xt[idx], yt[idx]
        module.eval()  # safe: nn.Module.eval() switches to inference mode
        for p in module.parameters():
            p.requires_grad_(False)
        lo, hi = (xb - eps).clamp(0, 1), (xb + eps).clamp(0, 1)
        xa = torch.min(torch.max(xb + (2 * torch.rand(xb.shape, generator=gen) - 1) * eps, lo), hi)
        for _ in range(steps):
            xa.requires_grad_(True)
            (g,) = torch.autograd.grad(F.cross_entropy(module(xa), yb, reduction="sum"), xa)
            xa = torch.min(torch.max(xa.detach() + alpha * g.sign(), lo), hi)
        for p in module.parameters():
            p.requires_grad_(True)
        module.train()
        opt.zero_grad()
        F.cross_entropy(module(xa), yb).backward()  # type: ignore[no-untyped-call]
        opt.step()
    return time.perf_counter() - start


def _epoch_times(pipeline: Path, reps: int, seed: int) -> dict[str, list[float]]:
    """One epoch of each method per repetition, interleaved, each from a fresh copy of one init."""
    from pipeshield.core.pipeline import load_pipeline
    from pipeshield.training._common import build_module, model_data
    from pipeshield.training.adversarial import adversarial_train, plain_train

    pipe = load_pipeline(pipeline)
    md = model_data(pipe, "digits_cnn")
    x = md.shaped(md.x)
    base = build_module(pipe, "digits_cnn")
    times: dict[str, list[float]] = {"plain": [], "pgd": [], "trades": [], "bare-pgd": []}
    for _ in range(reps):
        for method in times:
            m = copy.deepcopy(base)
            if method == "bare-pgd":
                times[method].append(_bare_pgd_epoch(m, x, md.y, 0.1, 10, seed))
                continue
            if method == "plain":
                _, h = plain_train(m, x, md.y, epochs=1, seed=seed)
            else:
                _, h = adversarial_train(m, x, md.y, method=method, eps=0.1, steps=10, epochs=1,
                                         clip=(0.0, 1.0), seed=seed)
            times[method].append(h.epochs[0].seconds)
    return times


def main(argv: list[str] | None = None) -> int:
    import numpy as np
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--budget", default="quick", choices=["quick", "standard", "thorough"])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--timing-only", action="store_true", help="skip training to convergence and evaluation")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from pipeshield.demo import build_demo

    with tempfile.TemporaryDirectory() as tmp:
        pipeline = build_demo(Path(tmp) / "pipeline").pipeline_file
        results: dict[str, Any] = {
            "machine": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
                        "cpu": platform.processor() or platform.machine(), "threads": args.threads},
            "settings": {"epochs": args.epochs, "budget": args.budget, "reps": args.reps, "seed": args.seed},
        }
        if not args.timing_only:
            results["undefended"] = _undefended(pipeline, args.budget, args.seed)
            print("undefended", results["undefended"], file=sys.stderr)
            for method in ("pgd", "trades"):
                results[method] = _trained(pipeline, method, args.epochs, args.budget, args.seed)
                print(method, results[method], file=sys.stderr)
        times = _epoch_times(pipeline, args.reps, args.seed)
    med = {k: statistics.median(v) for k, v in times.items()}
    results["epoch_seconds"] = {"samples": times, "median": med,
                                "ratio_to_plain": {k: med[k] / med["plain"] for k in ("pgd", "trades", "bare-pgd")},
                                "pgd_ratio_to_bare": med["pgd"] / med["bare-pgd"]}
    u = results["undefended"]["robust_accuracy"] if not args.timing_only else 0.0
    for method in () if args.timing_only else ("pgd", "trades"):
        r = results[method]["robust_accuracy"]
        results[method]["robust_ratio_to_undefended"] = r / u if u else float("inf")
        results[method]["robust_error_ratio"] = (1 - u) / (1 - r) if r < 1 else float("inf")
    text = json.dumps(results, indent=2, default=str)
    if args.json:
        args.json.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
