"""pipeshield vs IBM ART 1.20 on the same digits models: PGD agreement and ensemble strength.

1. PGD L-inf, identical settings (eps, 20 steps, step 2.5 * eps / steps, no random init, one
   restart), 360 images: pipeshield's robust accuracy must be within 1 point of ART's
   ``ProjectedGradientDescent`` (PyTorchClassifier). Times are medians of 5 interleaved repeats.
2. pipeshield's standard ensemble (APGD-CE, APGD-T with 9 targets, Square 5,000 queries) vs ART's
   ``AutoAttack`` with its defaults (APGD-CE and APGD-DLR with 5 restarts each, DeepFool, Square
   5,000 x 5 restarts; ``eps_step = 2 * eps`` as in the paper, batch 512), 100 images (ART's
   AutoAttack takes minutes): ours must be at least as strong (robust accuracy lower or equal).
   One run each: they take tens of seconds, so the drift between runs matters less.

Both models (a small CNN and an MLP) are trained here, seeded. Needs the ``test`` extra (ART) and,
for ART's AutoAttack, the ``multiprocess`` package. Run: ``.venv/bin/python bench/evasion_art.py``.
"""

from __future__ import annotations

import contextlib
import io
import statistics
import sys
import time
import warnings

import numpy as np
import torch
from sklearn.datasets import load_digits

from pipeshield.attacks.evasion import ensemble_attack, pgd
from pipeshield.demo.models import train_digits_cnn

PGD_EPS, STEPS, N, REPEATS = (0.05, 0.1, 0.15, 0.2), 20, 360, 5
AA_EPS, N_AA = (0.05, 0.1), 100
CLIP = (0.0, 1.0)


def train_mlp(x: np.ndarray, y: np.ndarray, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)
    )
    xt, yt = torch.tensor(x), torch.tensor(y)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), yt).backward()  # type: ignore[no-untyped-call]
        opt.step()
    return model.eval()  # safe: nn.Module.eval() switches to inference mode


def accuracy(model: torch.nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        return float((model(torch.tensor(x)).argmax(1).numpy() == y).mean())


def compare_pgd(name: str, model: torch.nn.Module, clf: object, x: np.ndarray, y: np.ndarray) -> None:
    from art.attacks.evasion import ProjectedGradientDescent

    with torch.no_grad():
        clean_ok = model(torch.tensor(x)).argmax(1).numpy() == y
    for eps in PGD_EPS:
        alpha = 2.5 * eps / STEPS
        art_pgd = ProjectedGradientDescent(
            clf, norm=np.inf, eps=eps, eps_step=alpha, max_iter=STEPS, num_random_init=0,
            batch_size=512, verbose=False,
        )
        t_art, t_ours = [], []
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            x_art = art_pgd.generate(x, y=y)
            t_art.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            res = pgd(model, x, y, eps=eps, steps=STEPS, step_size=alpha, clip=CLIP)
            t_ours.append(time.perf_counter() - t0)
        r_art = accuracy(model, x_art, y)
        r_ours = float((clean_ok & ~res.success.numpy()).mean())
        a, o = statistics.median(t_art), statistics.median(t_ours)
        ok = "ok" if abs(r_ours - r_art) <= 0.01 else "FAIL"
        print(f"| {name} | {eps:g} | {r_art:.3f} | {r_ours:.3f} | {100 * (r_ours - r_art):+.1f} {ok} "
              f"| {a:.3f} | {o:.3f} | {a / o:.2f}x |")


def compare_ensemble(name: str, model: torch.nn.Module, clf: object, x: np.ndarray, y: np.ndarray) -> None:
    from art.attacks.evasion import AutoAttack

    for eps in AA_EPS:
        aa = AutoAttack(clf, norm=np.inf, eps=eps, eps_step=2 * eps, batch_size=512)
        t0 = time.perf_counter()
        with contextlib.redirect_stderr(io.StringIO()):  # ART's progress bars
            x_art = aa.generate(x, y=y)
        t_art = time.perf_counter() - t0
        r_art = accuracy(model, x_art, y)
        t0 = time.perf_counter()
        res = ensemble_attack(model, x, y, eps=eps, budget="standard", clip=CLIP)
        t_ours = time.perf_counter() - t0
        found = ", ".join(f"{k} {int(v.sum())}" for k, v in res.found_by.items())
        per = ", ".join(f"{k} {v:.1f}" for k, v in res.seconds.items())
        ok = "ok" if res.robust_accuracy <= r_art else "WEAKER"
        print(f"| {name} | {eps:g} | {r_art:.3f} | {res.robust_accuracy:.3f} {ok} | {t_art:.1f} "
              f"| {t_ours:.1f} ({per}) | {found} |")


def main() -> None:
    from art import __version__ as art_version
    from art.estimators.classification import PyTorchClassifier

    warnings.filterwarnings("ignore")
    torch.set_num_threads(2)
    d = load_digits()
    x = (d.data / 16).astype(np.float32).reshape(-1, 1, 8, 8)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], d.target[order]
    models = {
        "cnn": train_digits_cnn(x[:1400], y[:1400], seed=0, epochs=12),
        "mlp": train_mlp(x[:1400], y[:1400]),
    }
    xs, ys = x[1400 : 1400 + N], y[1400 : 1400 + N]
    print(f"torch {torch.__version__}, ART {art_version}, threads {torch.get_num_threads()}, "
          f"python {sys.version.split()[0]}")
    clfs = {
        k: PyTorchClassifier(model=m, loss=torch.nn.CrossEntropyLoss(), input_shape=(1, 8, 8),
                             nb_classes=10, clip_values=CLIP)
        for k, m in models.items()
    }
    for k, m in models.items():
        print(f"{k}: clean accuracy {accuracy(m, xs, ys):.3f} on {N} images")
    print(f"\nPGD L-inf, {STEPS} steps, step 2.5*eps/steps, no random init, {N} images, "
          f"median of {REPEATS}")
    print("| model | eps | ART robust | pipeshield robust | diff (points) | ART s | pipeshield s | ART/ours |")
    print("|---|---|---|---|---|---|---|---|")
    for k, m in models.items():
        compare_pgd(k, m, clfs[k], xs, ys)
    print(f"\nEnsemble, L-inf, {N_AA} images: ART AutoAttack (defaults) vs pipeshield standard ensemble")
    print("| model | eps | ART AutoAttack robust | pipeshield robust | ART s | pipeshield s (per attack) | flipped by |")
    print("|---|---|---|---|---|---|---|")
    for k, m in models.items():
        compare_ensemble(k, m, clfs[k], xs[:N_AA], ys[:N_AA])


if __name__ == "__main__":
    main()
