"""Differential-privacy training on digits: accuracy, membership leakage, an audit, cost, accounting.

Data: scikit-learn's ``load_digits`` scaled to [0, 1], split 67/33 stratified with seed 0 -- the
demo's split (``pipeshield.demo.build``) *without* its planted label flips and backdoor, so the
accuracy gap is the cost of privacy alone. Three models: the demo CNN
(``pipeshield.demo.models.build_digits_cnn``, ~38k parameters, ReLU), the same architecture with
tanh in place of ReLU (Papernot et al. 2021: bounded activations suit clipped gradients), and a
small tanh CNN (~1.4k parameters: DP noise grows with the parameter count).

1. accuracy: non-private training (Adam 0.01, batch 128, 20 epochs) vs DP-SGD at epsilon 3,
   delta 1e-5 (PRV; Adam 0.01, expected batch 128, 20 epochs, clip 1.0), each model, the last
   iterate and the weights averaged over the steps (``ema_decay`` 0.9, free in privacy), medians
   over ``--seeds`` seeds (data split fixed; initialisation, batches and noise vary);
2. membership inference, non-private and DP, each model: ``pipeshield.attacks.membership.evaluate``
   with the recipe as ``train_fn`` (``--n-reference`` reference models, serial; members = training
   set, non-members = test set); AUC and TPR at 1% FPR of LiRA (online), RMIA and the loss attack.
   The demo CNN's non-private baseline is the demo's own recipe (Adam 0.002, batch 64, 40 epochs);
3. DP audit: ``audit_dp`` one-run (Steinke et al. 2023, ``--canaries`` random canaries) of each
   recipe: the empirical epsilon lower bound vs the claimed 3;
4. overhead: seconds per epoch of plain vs DP-SGD training (same model, data, batch 128),
   interleaved, medians of ``--reps`` repeats;
5. accountant cross-check: Opacus RDP / PRV / GDP vs dp-accounting RDP / PLD for a few settings.

    .venv/bin/python bench/dp_training.py [--seeds 3] [--n-reference 8] [--canaries 200] [--reps 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from typing import Any

import numpy as np

EPSILON, DELTA, EPOCHS, BATCH, LR = 3.0, 1e-5, 20, 128, 0.01


def small_cnn() -> Any:
    import torch.nn as nn

    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.Tanh(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 16, 10))


def demo_cnn() -> Any:
    from pipeshield.demo.models import build_digits_cnn

    return build_digits_cnn()


def demo_cnn_tanh() -> Any:
    """The demo CNN's architecture with every ReLU replaced by tanh (same 38,282 parameters)."""
    import torch.nn as nn

    return nn.Sequential(*(nn.Tanh() if isinstance(m, nn.ReLU) else m for m in demo_cnn()))


BUILDERS = {"small_tanh_cnn": small_cnn, "demo_cnn": demo_cnn, "demo_cnn_tanh": demo_cnn_tanh}
EMA = 0.9


def _loader(x: np.ndarray, y: np.ndarray, seed: int) -> Any:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    return DataLoader(TensorDataset(torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long)),
                      batch_size=BATCH, shuffle=True, generator=torch.Generator().manual_seed(seed))


def train_plain(x: np.ndarray, y: np.ndarray, *, seed: int = 0, builder: str = "small_tanh_cnn",
                epochs: int = EPOCHS, times: list[float] | None = None) -> Any:
    """Non-private: Adam 0.01, batch 128, shuffled."""
    import torch

    torch.manual_seed(seed)
    model = BUILDERS[builder]()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loader = _loader(x, y, seed)
    model.train()
    for _ in range(epochs):
        start = time.perf_counter()
        for xb, yb in loader:
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xb), yb).backward()  # type: ignore[no-untyped-call]
            opt.step()
        if times is not None:
            times.append(time.perf_counter() - start)
    return model.eval()  # safe: nn.Module.eval() switches to inference mode


def train_dp(x: np.ndarray, y: np.ndarray, *, seed: int = 0, builder: str = "small_tanh_cnn",
             epochs: int = EPOCHS, times: list[float] | None = None, reports: list[Any] | None = None,
             ema_decay: float | None = None) -> Any:
    import torch

    from pipeshield.training.dp import fit, make_private

    torch.manual_seed(seed)
    model = BUILDERS[builder]()
    private = make_private(model, torch.optim.Adam(model.parameters(), lr=LR), _loader(x, y, seed), delta=DELTA,
                           target_epsilon=EPSILON, epochs=EPOCHS, noise_seed=seed)
    result = fit(private, epochs=epochs, ema_decay=ema_decay)
    if times is not None:
        times.extend(result.epoch_seconds)
    if reports is not None:
        reports.append(private.spent())
    return private.trained_module.eval()  # safe: nn.Module.eval() switches to inference mode


def _accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    import torch

    with torch.inference_mode():
        return float((model(torch.as_tensor(x)).argmax(1).numpy() == y).mean())


def data(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.33, random_state=seed, stratify=y)
    return x_tr, x_te, y_tr, y_te


def accuracy_section(d: tuple[np.ndarray, ...], seeds: int) -> dict[str, Any]:
    x_tr, x_te, y_tr, y_te = d
    out: dict[str, Any] = {}
    for name in BUILDERS:
        runs: dict[str, list[float]] = {"plain": [], "dp": [], "dp_ema": []}
        reports: list[Any] = []
        for seed in range(seeds):
            runs["plain"].append(_accuracy(train_plain(x_tr, y_tr, builder=name, seed=seed), x_te, y_te))
            runs["dp"].append(_accuracy(train_dp(x_tr, y_tr, builder=name, seed=seed, reports=reports), x_te, y_te))
            runs["dp_ema"].append(_accuracy(train_dp(x_tr, y_tr, builder=name, seed=seed, ema_decay=EMA), x_te, y_te))
        r = reports[0]
        med = {k: statistics.median(v) for k, v in runs.items()}
        out[name] = {
            "plain_test_accuracy": med["plain"], "dp_test_accuracy": med["dp"], "dp_ema_test_accuracy": med["dp_ema"],
            "runs": runs, "ema_decay": EMA, "epsilon": r.epsilon, "delta": r.delta, "accountant": r.accountant,
            "noise_multiplier": r.noise_multiplier, "sample_rate": r.sample_rate, "steps": r.steps,
            "cross_check": r.cross_check.to_dict(), "parameters": sum(p.numel() for p in BUILDERS[name]().parameters()),
        }
        print(f"[accuracy] {name}: plain {med['plain']:.3f}, DP {med['dp']:.3f}, DP+EMA {med['dp_ema']:.3f} "
              f"(medians of {seeds} seeds; eps {r.epsilon:.3f}, sigma {r.noise_multiplier:.3f}, q {r.sample_rate:.4f}, "
              f"{r.steps} steps)", flush=True)
    return out


def train_demo_plain(x: np.ndarray, y: np.ndarray, *, seed: int = 0) -> Any:
    """The demo's own recipe (Adam 0.002, batch 64, 40 epochs): the undefended baseline."""
    from pipeshield.demo.models import train_digits_cnn

    return train_digits_cnn(x, y, seed=seed)


def train_demo_dp(x: np.ndarray, y: np.ndarray, *, seed: int = 0) -> Any:
    return train_dp(x, y, seed=seed, builder="demo_cnn")


RECIPES = {
    "small_tanh_cnn": (("plain", train_plain), ("dp", train_dp)),
    "demo_cnn": (("plain (demo recipe)", train_demo_plain), ("dp", train_demo_dp)),
}


def membership_section(d: tuple[np.ndarray, ...], n_reference: int, models: list[str]) -> dict[str, Any]:
    from pipeshield.attacks.membership import evaluate

    x_tr, x_te, y_tr, y_te = d
    out: dict[str, Any] = {}
    for model in models:
        for label, fn in RECIPES[model]:
            start = time.perf_counter()
            target = fn(x_tr, y_tr, seed=0)
            result = evaluate(target, x_tr, y_tr, x_te, y_te, n_reference=n_reference, train_fn=fn, seed=0,
                              executor="serial")
            attacks = {k: {"auc": v.auc, "tpr_at_1pct_fpr": v.tpr_at_fpr[0.01],
                           "epsilon_lower_bound": v.epsilon_lower_bound}
                       for k, v in result.attacks.items() if k in ("lira", "loss", "rmia")}
            out[f"{model} {label}"] = {"attacks": attacks, "seconds": time.perf_counter() - start}
            print(f"[membership] {model} {label}: " + ", ".join(
                f"{k} AUC {v['auc']:.3f} (TPR@1%FPR {v['tpr_at_1pct_fpr']:.3f})" for k, v in attacks.items())
                + f" ({time.perf_counter() - start:.0f} s)", flush=True)
    return out


def audit_section(d: tuple[np.ndarray, ...], canaries: int) -> dict[str, Any]:
    from pipeshield.attacks.membership import audit_dp

    x_tr, _, y_tr, _ = d
    out: dict[str, Any] = {}
    for model, recipes in RECIPES.items():
        for label, fn in recipes:
            result = audit_dp(fn, x_tr, y_tr, claimed_epsilon=EPSILON, delta=DELTA, n_canaries=canaries, seed=0)
            info = result.to_dict()
            out[f"{model} {label}"] = {"epsilon_lower_bound": result.epsilon_lower_bound,
                                       "contradicted": result.contradicted,
                                       "guesses": info.get("guesses"), "correct": info.get("correct")}
            print(f"[audit] {model} {label}: empirical epsilon >= {result.epsilon_lower_bound:.3f} (claimed "
                  f"{EPSILON} for dp; {info.get('correct')}/{info.get('guesses')} guesses right)", flush=True)
    return out


def overhead_section(d: tuple[np.ndarray, ...], reps: int, epochs: int = 2) -> dict[str, Any]:
    x_tr, _, y_tr, _ = d
    out: dict[str, Any] = {}
    for name in BUILDERS:
        plain: list[float] = []
        private: list[float] = []
        for rep in range(reps):  # interleaved so that machine load hits both alike
            times: list[float] = []
            train_plain(x_tr, y_tr, seed=rep, builder=name, epochs=epochs, times=times)
            plain.append(statistics.median(times))
            times = []
            train_dp(x_tr, y_tr, seed=rep, builder=name, epochs=epochs, times=times)
            private.append(statistics.median(times))
        p, q = statistics.median(plain), statistics.median(private)
        out[name] = {"plain_s_per_epoch": p, "dp_s_per_epoch": q, "ratio": q / p, "reps": reps}
        print(f"[overhead] {name}: plain {p:.3f} s/epoch, DP {q:.3f} s/epoch, x{q / p:.1f}", flush=True)
    return out


CROSS = [(0.01, 1.1, 3000), (256 / 60000, 1.1, 14100), (0.1, 2.0, 100), (0.053, 1.0, 500), (0.05, 0.8, 600),
         (0.004, 0.6, 10000)]


def cross_section() -> list[dict[str, Any]]:
    from pipeshield.training.dp import cross_check

    rows = []
    for q, sigma, steps in CROSS:
        row: dict[str, Any] = {"q": q, "sigma": sigma, "steps": steps}
        for acc in ("rdp", "prv", "gdp"):
            c = cross_check(sample_rate=q, noise_multiplier=sigma, steps=steps, delta=DELTA, accountant=acc)
            row[acc] = {"opacus": c.epsilon, "reference": c.reference, "reference_epsilon": c.reference_epsilon,
                        "difference": c.difference, "status": c.status}
        rows.append(row)
        print(f"[accounting] q={q:.5f} sigma={sigma} steps={steps}: "
              + "; ".join(f"{a} {row[a]['opacus']:.4f} vs {row[a]['reference_epsilon']:.4f} ({row[a]['status']})"
                          for a in ("rdp", "prv", "gdp")), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-reference", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=3, help="seeds per accuracy cell (medians)")
    parser.add_argument("--membership-models", nargs="*", default=["small_tanh_cnn", "demo_cnn"])
    parser.add_argument("--canaries", type=int, default=200)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", nargs="*", default=["accuracy", "membership", "audit", "overhead", "accounting"])
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    import opacus

    d = data()
    start = time.perf_counter()
    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "torch": torch.__version__,
                    "opacus": opacus.__version__, "threads": args.threads},
        "settings": {"epsilon": EPSILON, "delta": DELTA, "epochs": EPOCHS, "batch": BATCH, "lr": LR,
                     "n_train": len(d[0]), "n_test": len(d[1]), "n_reference": args.n_reference,
                     "canaries": args.canaries},
    }
    try:
        from importlib.metadata import version

        import dp_accounting  # noqa: F401

        results["machine"]["dp_accounting"] = version("dp-accounting")
    except ImportError:
        pass
    sections = {"accuracy": lambda: accuracy_section(d, args.seeds), "membership": lambda: membership_section(d, args.n_reference, args.membership_models),
                "audit": lambda: audit_section(d, args.canaries), "overhead": lambda: overhead_section(d, args.reps),
                "accounting": cross_section}
    for name in args.only:
        t = time.perf_counter()
        results[name] = sections[name]()
        print(f"  ({name}: {time.perf_counter() - t:.0f} s)", flush=True)
    results["seconds"] = time.perf_counter() - start
    print(f"total {results['seconds']:.0f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2, default=float)


if __name__ == "__main__":
    main()
