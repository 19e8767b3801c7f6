"""The attack registry and :func:`robust_accuracy` (see the package docstring)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from pipeshield.attacks.evasion._engine import AttackResult, as_module, frozen, prepare
from pipeshield.attacks.evasion.auto_pgd import apgd
from pipeshield.attacks.evasion.projected_gradient import fgsm, pgd

__all__ = ["ATTACKS", "get_attack", "robust_accuracy"]

Attack = Callable[..., AttackResult]
ATTACKS: dict[str, Attack] = {"fgsm": fgsm, "pgd": pgd, "apgd": apgd}


def get_attack(attack: str | Attack) -> Attack:
    """An attack by registry name, or a callable with the attacks' signature passed through."""
    if callable(attack):
        return attack
    try:
        return ATTACKS[attack]
    except KeyError:
        raise ValueError(f"unknown attack {attack!r}; choose one of {sorted(ATTACKS)}") from None


def robust_accuracy(
    module: Any,
    x: Any,
    y: Any,
    attack: str | Attack = "pgd",
    eps: float = 0.3,
    batch_size: int = 256,
    **options: Any,
) -> float:
    """Fraction of inputs classified correctly *and* not fooled by ``attack`` within ``eps``.

    Streams ``x`` in batches of ``batch_size``: only one batch's gradients live at a time.
    ``options`` go to the attack (``norm``, ``steps``, ``clip``, ``seed``...).
    """
    fn = get_attack(attack)
    mod = as_module(module)
    n = len(x)
    if n == 0:
        raise ValueError("robust accuracy of an empty set is undefined")
    robust = 0
    for i in range(0, n, batch_size):
        with frozen(mod), torch.no_grad():
            xb, yb = prepare(mod, x[i : i + batch_size], y[i : i + batch_size])
            clean_ok = mod(xb).argmax(dim=1) == yb
        res = fn(mod, xb, yb, eps=eps, **options)
        robust += int((clean_ok & ~res.success).sum())
    return robust / n
