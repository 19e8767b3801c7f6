"""Transferability: adversarial examples crafted on the stolen copy, replayed on the victim.

The point of stealing a model is often not the copy itself but white-box access to something
close enough: PGD on the substitute (the evasion package's :func:`~pipeshield.attacks.evasion.pgd`,
unchanged) produces inputs that are then sent to the victim. The random-noise baseline — the
same budget ``eps`` spent in a random direction — separates what the copy buys from what any
perturbation of that size does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike

from pipeshield._threads import one_torch_thread
from pipeshield.attacks.evasion import pgd
from pipeshield.attacks.extraction._oracle import resolve_victim
from pipeshield.attacks.extraction.results import ExtractionResult, Transferability

__all__ = ["transferability"]


def transferability(
    result: ExtractionResult,
    victim: Any,
    x: ArrayLike,
    y: ArrayLike,
    eps: float,
    *,
    norm: str = "linf",
    clip: tuple[ArrayLike, ArrayLike] | None = None,
    steps: int = 20,
    seed: int = 0,
    victim_labels: ArrayLike | None = None,
) -> Transferability:
    """Craft PGD adversarials (``eps``, ``norm``, ``steps``) on ``result.substitute`` for the
    inputs ``x`` (labels ``y``, values of ``result.classes``) the victim gets right, and measure
    how many fool the victim. ``clip`` is the data domain (default: ``result.domain``). A
    substitute that is not a torch module (the equation-solved logistic model) is attacked
    through its equivalent ``torch.nn.Linear``. ``victim_labels``: the victim's labels on ``x``
    when the caller holds them already (from :func:`~pipeshield.attacks.extraction.api.label_inputs`);
    the clean inputs are then not queried again and ``queries`` counts only the adversarial and
    noise inputs.
    """
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    if norm not in ("linf", "l2"):
        raise ValueError(f"norm must be 'linf' or 'l2', got {norm!r}")
    oracle = resolve_victim(victim)
    rows = np.asarray(x, dtype=np.float64)
    rows = rows.reshape(len(rows), -1) if rows.ndim >= 2 else rows
    y_arr = np.asarray(y).reshape(-1)
    if rows.ndim != 2 or rows.shape[1] != result.n_features:
        raise ValueError(
            f"x must be rows of n_features={result.n_features}, got shape {np.shape(x)}"
        )
    if len(rows) != len(y_arr):
        raise ValueError(f"x has {len(rows)} rows but y has {len(y_arr)} labels")
    classes = result.classes
    position = {c: j for j, c in enumerate(classes.tolist())}
    unknown = sorted({v for v in y_arr.tolist() if v not in position}, key=repr)
    if unknown:
        raise ValueError(f"y holds labels that are not among the victim's classes: {unknown[:10]}")
    cols = np.array([position[v] for v in y_arr.tolist()], dtype=np.int64)
    lo, hi = result.domain if clip is None else clip
    lo_a = np.array(np.broadcast_to(np.asarray(lo, dtype=np.float64), (result.n_features,)))
    hi_a = np.array(np.broadcast_to(np.asarray(hi, dtype=np.float64), (result.n_features,)))

    def ask_labels(batch: np.ndarray) -> np.ndarray:
        return np.asarray(classes[oracle.probabilities(batch).argmax(axis=1)])

    if victim_labels is None:
        clean, queries = ask_labels(rows), len(rows)
    else:
        clean, queries = np.asarray(victim_labels).reshape(-1), 0
        if len(clean) != len(rows):
            raise ValueError(f"x has {len(rows)} rows but victim_labels has {len(clean)} labels")
    correct = np.flatnonzero(clean == y_arr)
    n = len(correct)
    if n == 0:
        return Transferability(float(eps), norm, 0, 0.0, 0.0, 0.0, queries)
    xc = rows[correct]
    # an input already outside the assumed domain keeps its own value as the bound: clipping it
    # into the domain would be a perturbation larger than eps
    lo_x, hi_x = np.minimum(lo_a, xc), np.maximum(hi_a, xc)
    module = result.substitute.to_module()
    with one_torch_thread():
        res = pgd(
            module,
            torch.as_tensor(xc, dtype=torch.float32),
            torch.as_tensor(cols[correct]),
            eps=float(eps),
            norm=norm,
            steps=steps,
            clip=(
                torch.as_tensor(lo_x, dtype=torch.float32),
                torch.as_tensor(hi_x, dtype=torch.float32),
            ),
            seed=seed,
        )
    adv = res.x_adv.double().numpy()
    fooled = ask_labels(adv) != y_arr[correct]
    rng = np.random.default_rng(seed)
    if norm == "linf":
        noise = eps * rng.choice([-1.0, 1.0], size=xc.shape)
    else:
        g = rng.standard_normal(xc.shape)
        noise = eps * g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
    noisy = np.clip(xc + noise, lo_x, hi_x)
    baseline = ask_labels(noisy) != y_arr[correct]
    return Transferability(
        eps=float(eps),
        norm=norm,
        n=n,
        rate=float(fooled.mean()),
        substitute_rate=float(res.success.float().mean()),
        baseline_rate=float(baseline.mean()),
        queries=queries + 2 * n,
    )
