"""PGD L-inf, 20 steps, 360 digits images, small CNN: pipeshield's PGD against the floor.

The floor is a bare torch loop taking gradients with respect to the input only
(``torch.autograd.grad``), no random start. Both run in this one process, interleaved, median
of 21; only the ratio is meaningful (the machine's speed drifts between runs, REFERENCES.md).
Target: ratio <= 1.1. Run: ``.venv/bin/python bench/evasion_pgd.py``.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from pipeshield.attacks.evasion import pgd
from pipeshield.demo.models import train_digits_cnn

EPS, STEPS, N, REPEATS = 0.3, 20, 360, 21
ALPHA = 2.5 * EPS / STEPS


def bare_loop(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    xa = x.clone()
    for _ in range(STEPS):
        xa.requires_grad_(True)
        loss = F.cross_entropy(model(xa), y, reduction="sum")
        (g,) = torch.autograd.grad(loss, xa)
        xa = xa.detach() + ALPHA * g.sign()
        xa = torch.min(torch.max(xa, x - EPS), x + EPS).clamp(0.0, 1.0)
    return xa


def main() -> None:
    d = load_digits()
    x = (d.data / 16).astype(np.float32).reshape(-1, 1, 8, 8)
    model = train_digits_cnn(x[:1400], d.target[:1400], seed=0, epochs=12)
    for p in model.parameters():
        p.requires_grad_(False)
    xt, yt = torch.tensor(x[1400 : 1400 + N]), torch.tensor(d.target[1400 : 1400 + N])
    bare_loop(model, xt, yt)  # warm-up
    pgd(model, xt, yt, eps=EPS, steps=STEPS, step_size=ALPHA, clip=(0.0, 1.0))
    t_floor, t_ours = [], []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        xa = bare_loop(model, xt, yt)
        t_floor.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        res = pgd(model, xt, yt, eps=EPS, steps=STEPS, step_size=ALPHA, clip=(0.0, 1.0))
        t_ours.append(time.perf_counter() - t0)
    with torch.no_grad():
        clean = float((model(xt).argmax(1) == yt).float().mean())
        r_floor = float((model(xa).argmax(1) == yt).float().mean())
    r_ours = float(((model(xt).argmax(1) == yt) & ~res.success).float().mean())
    f, o = statistics.median(t_floor), statistics.median(t_ours)
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, {N} images, PGD L-inf eps={EPS}, {STEPS} steps"
    )
    print(
        f"clean accuracy {clean:.3f}; robust accuracy: bare loop {r_floor:.3f}, pipeshield {r_ours:.3f}"
    )
    print(f"bare autograd.grad loop (floor): {f:.4f} s  (median of {REPEATS})")
    print(f"pipeshield pgd:                  {o:.4f} s  (median of {REPEATS})")
    print(f"ratio: {o / f:.3f}x  (target <= 1.1x)")


if __name__ == "__main__":
    main()
