"""What each hardened-training recipe buys and costs, measured side by side on one model's data.

Every recipe retrains a fresh module from the same builder on the same rows with the same seed;
each trained model is then measured by pipeshield's own attacks:

- clean accuracy on the held-out test rows;
- membership-inference AUC: the stronger of the loss attack (Yeom et al.) and the confidence
  attack, telling training rows from test rows (balanced samples). These need no reference
  models, so the table is affordable; LiRA (``pipeshield attack membership``) is stronger, so a
  low AUC here is a floor on the leak, not proof of privacy (only the DP rows' epsilon bounds
  every attack);
- robust accuracy at the policy epsilon: the per-input worst case of PGD and APGD-CE (the evasion
  engine's quick budget) on a seeded sample of test rows.

    >>> rows = measure_tradeoff(build_digits_cnn, data, eps=0.1, clip=(0.0, 1.0))  # doctest: +SKIP
    >>> [(r.recipe, r.clean_accuracy, r.membership_auc, r.robust_accuracy) for r in rows]  # doctest: +SKIP
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeshield.training._common import ModelData

if TYPE_CHECKING:
    import torch

__all__ = ["RecipeOutcome", "measure_tradeoff", "tradeoff_plot", "tradeoff_table"]


@dataclass(frozen=True)
class RecipeOutcome:
    """One recipe's row of the trade-off table."""

    recipe: str
    clean_accuracy: float
    membership_auc: float
    membership_attack: str
    robust_accuracy: float
    eps: float
    train_seconds: float
    guarantee: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _predict_proba(module: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    import torch

    module.eval()  # safe: nn.Module.eval() switches to inference mode
    with torch.no_grad():
        logits = module(torch.as_tensor(x, dtype=torch.float32))
        return np.asarray(torch.softmax(logits, dim=1).double().numpy())


def _membership_auc(module: torch.nn.Module, data: ModelData, rng: np.random.Generator) -> tuple[float, str]:
    """The stronger of the loss and confidence attacks (AUC), members = train rows, non-members = test rows."""
    from pipeshield.attacks.membership.metrics import roc_auc

    assert data.x_test is not None and data.y_test is not None
    n = min(len(data.x), len(data.x_test))
    members = rng.choice(len(data.x), n, replace=False)
    others = rng.choice(len(data.x_test), n, replace=False)
    p_in = _predict_proba(module, data.shaped(data.x[members]))
    p_out = _predict_proba(module, data.shaped(data.x_test[others]))
    y_in, y_out = data.y[members], data.y_test[others]
    eps = 1e-12
    true_p = np.concatenate([p_in[np.arange(n), y_in], p_out[np.arange(n), y_out]])
    confidence = np.concatenate([p_in.max(axis=1), p_out.max(axis=1)])
    is_member = np.concatenate([np.ones(n, bool), np.zeros(n, bool)])
    scores = {"loss": np.log(true_p + eps), "confidence": confidence}  # higher = more likely a member
    aucs = {name: float(roc_auc(s, is_member)) for name, s in scores.items()}
    best = max(aucs, key=lambda k: aucs[k])
    return aucs[best], best


def _robust_accuracy(
    module: torch.nn.Module, data: ModelData, *, norm: str, eps: float, clip: tuple[float, float] | None,
    max_inputs: int, seed: int,
) -> float:
    from pipeshield.attacks.evasion import evaluate

    assert data.x_test is not None and data.y_test is not None
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(data.x_test), min(max_inputs, len(data.x_test)), replace=False)
    ev = evaluate(module, data.shaped(data.x_test[idx]), data.y_test[idx], norm=norm, eps=[eps],
                  attacks=["pgd", "apgd-ce"], budget="quick", clip=clip, seed=seed)
    return float(ev.worst_case[eps])


def _accuracy(module: torch.nn.Module, data: ModelData) -> float:
    assert data.x_test is not None and data.y_test is not None
    return float((_predict_proba(module, data.shaped(data.x_test)).argmax(axis=1) == data.y_test).mean())


def measure_tradeoff(
    build: Callable[[], torch.nn.Module],
    data: ModelData,
    *,
    eps: float,
    norm: str = "linf",
    clip: tuple[float, float] | None = None,
    dp_epsilons: Sequence[float] = (8.0, 3.0),
    delta: float = 1e-5,
    epochs: int = 20,
    dp_epochs: int = 20,
    adversarial_steps: int = 7,
    max_inputs: int = 300,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> list[RecipeOutcome]:
    """Train plain, DP-SGD at each of ``dp_epsilons`` and PGD adversarial training; measure each.

    ``build()`` returns a fresh module; ``data`` needs test rows. Raises ValueError without them.
    """
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from pipeshield.training import dp
    from pipeshield.training.adversarial import adversarial_train, plain_train

    if data.x_test is None or data.y_test is None:
        raise ValueError(f"models.{data.model}: the trade-off needs labelled test_data to measure on")
    x, y = data.shaped(data.x), data.y
    outcomes: list[RecipeOutcome] = []

    def measure(recipe: str, module: torch.nn.Module, seconds: float, guarantee: dict[str, Any]) -> None:
        rng = np.random.default_rng(seed)
        auc, attack = _membership_auc(module, data, rng)
        robust = _robust_accuracy(module, data, norm=norm, eps=eps, clip=clip, max_inputs=max_inputs, seed=seed)
        outcomes.append(RecipeOutcome(recipe, round(_accuracy(module, data), 4), round(auc, 4), attack,
                                      round(robust, 4), eps, round(seconds, 2), guarantee))

    def step(what: str) -> None:
        if progress:
            progress(what)

    step("plain training")
    torch.manual_seed(seed)
    started = time.perf_counter()
    plain = plain_train(build(), x, y, epochs=epochs, seed=seed).module
    measure("plain", plain, time.perf_counter() - started, {})

    for target in dp_epsilons:
        step(f"DP-SGD at epsilon {target:g}")
        torch.manual_seed(seed)
        module = build()
        loader = DataLoader(TensorDataset(torch.as_tensor(x), torch.as_tensor(y)), batch_size=128)
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Opacus' secure-RNG notice; the loader is Poisson-sampled
            private = dp.make_private(module, torch.optim.Adam(module.parameters(), lr=0.01), loader,
                                      target_epsilon=target, delta=delta, epochs=dp_epochs, noise_seed=seed)
            dp.fit(private, epochs=dp_epochs)
        report = private.spent()
        measure(f"DP-SGD (epsilon {target:g})", private.release(), time.perf_counter() - started,
                {"epsilon": round(report.epsilon, 4), "delta": report.delta, "accountant": report.accountant})

    step(f"PGD adversarial training at eps {eps:g}")
    torch.manual_seed(seed)
    started = time.perf_counter()
    robust = adversarial_train(build(), x, y, method="pgd", norm=norm, eps=eps, steps=adversarial_steps,
                               epochs=epochs, seed=seed, clip=clip).module
    measure("PGD adversarial", robust, time.perf_counter() - started, {"norm": norm, "eps": eps})
    return outcomes


def tradeoff_table(outcomes: Sequence[RecipeOutcome]) -> dict[str, Any]:
    """Evidence table data: one row per recipe."""
    return {
        "columns": ["recipe", "clean accuracy", "membership AUC (best of loss/confidence)",
                    "robust accuracy at eps", "training seconds", "guarantee"],
        "rows": [[o.recipe, o.clean_accuracy, o.membership_auc, o.robust_accuracy, o.train_seconds,
                  ", ".join(f"{k}={v}" for k, v in o.guarantee.items()) or "-"] for o in outcomes],
    }


def tradeoff_plot(outcomes: Sequence[RecipeOutcome]) -> dict[str, Any]:
    """Grouped bars (report/svg.py ``bar`` with series): the three measures per recipe."""
    return {
        "type": "bar", "x": [o.recipe for o in outcomes], "max": 1.0,
        "series": [
            {"name": "clean accuracy", "values": [o.clean_accuracy for o in outcomes]},
            {"name": "membership AUC", "values": [o.membership_auc for o in outcomes]},
            {"name": f"robust accuracy (eps {outcomes[0].eps:g})" if outcomes else "robust accuracy",
             "values": [o.robust_accuracy for o in outcomes]},
        ],
    }
