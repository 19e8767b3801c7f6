"""Evasion attacks: FGSM, PGD, APGD (CE, DLR, targeted) in native PyTorch, the black-box Square
attack, the AutoAttack-style ensemble, and :func:`evaluate`, which reports them all.

Each attack takes a ``torch.nn.Module`` (or a ``TorchTarget``), inputs and labels, and returns an
:class:`AttackResult` (adversarial inputs and a per-input success mask). They run batched on the
module's device, are deterministic under ``seed``, and refuse to return a perturbation outside the
epsilon ball or a NaN. :func:`robust_accuracy` streams a large set in batches so memory stays flat.

    >>> from pipeshield.attacks.evasion import robust_accuracy
    >>> robust_accuracy(model, x, y, attack="pgd", eps=0.3, clip=(0.0, 1.0))  # doctest: +SKIP
    0.02

    >>> ev = evaluate(model, x, y, eps=[0.0, 0.1, 0.3], clip=(0.0, 1.0))  # doctest: +SKIP
    >>> ev.worst_case[0.3], ev.masking  # doctest: +SKIP
    (0.0, [])

A low robust accuracy is evidence of weakness; a high one is only as trustworthy as the attack
(see the gradient-masking checks of issue 5): it is not proof of robustness.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeshield._lazy import lazy_getattr

__all__ = [
    "ATTACKS",
    "LOSSES",
    "AttackResult",
    "Budget",
    "EnsembleResult",
    "Evaluation",
    "apgd",
    "apgd_targeted",
    "cross_entropy",
    "dlr",
    "ensemble_attack",
    "evaluate",
    "fgsm",
    "get_attack",
    "pgd",
    "robust_accuracy",
    "square",
]

# Loaded on first use: registering the audit check (pipeshield.attacks.evasion.check) must not
# import torch in the audit's own process.
_LAZY = {
    "ATTACKS": "api", "get_attack": "api", "robust_accuracy": "api",
    "Evaluation": "api", "evaluate": "api",
    "AttackResult": "_engine", "apgd": "auto_pgd", "apgd_targeted": "auto_pgd",
    "fgsm": "projected_gradient", "pgd": "projected_gradient",
    "Budget": "ensemble", "EnsembleResult": "ensemble", "ensemble_attack": "ensemble",
    "LOSSES": "losses", "cross_entropy": "losses", "dlr": "losses",
    "square": "square_attack",
}


__getattr__ = lazy_getattr(__name__, _LAZY)


if TYPE_CHECKING:
    from pipeshield.attacks.evasion._engine import AttackResult
    from pipeshield.attacks.evasion.api import (
        ATTACKS,
        Evaluation,
        evaluate,
        get_attack,
        robust_accuracy,
    )
    from pipeshield.attacks.evasion.auto_pgd import apgd, apgd_targeted
    from pipeshield.attacks.evasion.ensemble import Budget, EnsembleResult, ensemble_attack
    from pipeshield.attacks.evasion.losses import LOSSES, cross_entropy, dlr
    from pipeshield.attacks.evasion.projected_gradient import fgsm, pgd
    from pipeshield.attacks.evasion.square_attack import square
