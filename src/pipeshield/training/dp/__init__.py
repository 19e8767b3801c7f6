"""Differential-privacy training: DP-SGD on your own model, optimizer and loader (Opacus), DP
logistic regression for tabular data, and privacy accounting cross-checked with Google's
``dp-accounting``.

    >>> from pipeshield.training import dp
    >>> dp.epsilon(sample_rate=0.01, noise_multiplier=1.1, steps=3000, delta=1e-5)  # doctest: +SKIP
    2.69
    >>> private = dp.make_private(model, optimizer, loader, target_epsilon=3.0, delta=1e-5,
    ...                           epochs=20)                                       # doctest: +SKIP
    >>> dp.fit(private, epochs=20); private.spent().epsilon                         # doctest: +SKIP

Stable interface (automation relies on it):

- ``epsilon(*, sample_rate, noise_multiplier, steps, delta, accountant="prv") -> float``: the
  epsilon Opacus' ``rdp``, ``prv`` or ``gdp`` accountant gives for DP-SGD with Poisson sampling.
- ``noise_multiplier(*, target_epsilon, sample_rate, steps, delta, accountant="prv") -> float``:
  the smallest noise reaching the target with the same accountant; ConfigError when unreachable.
- ``cross_check(...) -> CrossCheck``: the same epsilon from dp-accounting (RDP vs RDP within
  1e-3, PRV vs PLD within 0.02); ``status`` ``"not cross-checked"`` without dp-accounting.
- ``make_private(module, optimizer, data_loader, *, delta, target_epsilon=None,
  noise_multiplier=None, epochs=None, max_grad_norm=1.0, accountant="prv", fix=False,
  poisson=True, noise_seed=None) -> PrivateTraining``; ``fit(private, *, epochs, loss_fn=None)``;
  ``PrivateTraining.spent() -> PrivacyReport`` (``epsilon``, ``delta``, ``accountant``, ...,
  ``guarantee()`` for provenance).
- ``prepare_module(module, *, fix=False)``, ``check_loader(loader, *, poisson=True)`` and
  :class:`PrivacyAccountingWarning`.
- ``dp_logistic_regression(x, y, *, delta, target_epsilon=None, noise_multiplier=None, ...)
  -> DPLogisticResult`` (``.model`` is a scikit-learn ``LogisticRegression``).
- ``train_dp(pipeline, model, DPSettings(...), *, key, out=None) -> DPTrainingResult``: what
  ``pipeshield train dp`` runs.

User mistakes (unsupported layers, an unusable loader, an unreachable epsilon, a delta not below
1/N) raise :class:`pipeshield.errors.ConfigError` naming the cause and the fix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeshield._lazy import lazy_getattr

__all__ = [
    "ACCOUNTANTS",
    "CrossCheck",
    "DPLogisticResult",
    "DPSettings",
    "DPTrainingResult",
    "FitResult",
    "PrivacyAccountingWarning",
    "PrivacyReport",
    "PrivateTraining",
    "check_loader",
    "cross_check",
    "dp_logistic_regression",
    "epsilon",
    "fit",
    "make_private",
    "noise_multiplier",
    "prepare_module",
    "train_dp",
]

_LAZY = {
    "ACCOUNTANTS": "accounting",
    "CrossCheck": "accounting",
    "cross_check": "accounting",
    "epsilon": "accounting",
    "noise_multiplier": "accounting",
    "prepare_module": "layers",
    "PrivacyAccountingWarning": "loaders",
    "check_loader": "loaders",
    "FitResult": "private",
    "PrivacyReport": "private",
    "PrivateTraining": "private",
    "fit": "private",
    "make_private": "private",
    "DPLogisticResult": "tabular",
    "dp_logistic_regression": "tabular",
    "DPSettings": "recipe",
    "DPTrainingResult": "recipe",
    "train_dp": "recipe",
}

__getattr__ = lazy_getattr(__name__, _LAZY)

if TYPE_CHECKING:
    from pipeshield.training.dp.accounting import (
        ACCOUNTANTS,
        CrossCheck,
        cross_check,
        epsilon,
        noise_multiplier,
    )
    from pipeshield.training.dp.layers import prepare_module
    from pipeshield.training.dp.loaders import PrivacyAccountingWarning, check_loader
    from pipeshield.training.dp.private import (
        FitResult,
        PrivacyReport,
        PrivateTraining,
        fit,
        make_private,
    )
    from pipeshield.training.dp.recipe import DPSettings, DPTrainingResult, train_dp
    from pipeshield.training.dp.tabular import DPLogisticResult, dp_logistic_regression
