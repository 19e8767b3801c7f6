"""Membership inference: can an attacker with query access tell who was in the training set?

:func:`evaluate` attacks your own model with the methods privacy researchers use and measures
them with the numbers they report:

    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from pipeshield.attacks.membership import evaluate
    >>> model = RandomForestClassifier(random_state=0).fit(x_train, y_train)  # doctest: +SKIP
    >>> result = evaluate(model, x_train, y_train, x_test, y_test, n_reference=16)  # doctest: +SKIP
    >>> result.attacks["lira"].auc, result.attacks["lira"].tpr_at_fpr[0.001]  # doctest: +SKIP
    (0.87, 0.21)

Stable interface (automation relies on it):

- ``evaluate(model, x_members, y_members, x_nonmembers, y_nonmembers, *, n_reference=16,
  train_fn=None, seed=0, population=None, template=None, executor=None, jobs=None,
  rmia_a=0.3, rmia_gamma=1.0, delta=1e-5, confidence=0.95, top_k=10) -> MembershipResult``.
  ``model``: a fitted scikit-learn classifier (reference models are ``clone(model).fit`` on
  resampled data), a ``torch.nn.Module`` returning logits (needs ``train_fn(x, y, *, seed) ->
  model``), or any object with ``predict_proba`` (black box: needs ``train_fn`` or a scikit-learn
  ``template``). Bad input raises ``ValueError`` naming the problem.
- ``MembershipResult.attacks[name]`` for ``loss``, ``correctness``, ``confidence``, ``lira``
  (online), ``lira_offline``, ``lira_fixed_variance``, ``lira_offline_fixed_variance``, ``rmia``
  and ``rmia_offline``; each an :class:`AttackMetrics` with ``auc``, ``tpr_at_fpr`` (FPR -> TPR
  for 0.01, 0.001 and 0.0), ``advantage``, ``epsilon_lower_bound``, ``scores`` (numpy, members
  first then non-members), ``most_exposed`` and ``to_dict()`` (JSON types only).
- :mod:`pipeshield.attacks.membership.metrics`: the same metrics for any scores.
- ``evaluate_controls(...)``: the same attacks behind each output policy (top-k, rounding,
  label-only), reference models trained once.
- ``audit_dp(train_fn, x, y, *, claimed_epsilon=None, delta=1e-5, method="one_run"|"multi_run",
  ...) -> DPAuditResult``: an empirical lower bound on a training recipe's epsilon from canaries
  (one run: Steinke, Nasr & Jagielski 2023; several runs: Clopper-Pearson), ``contradicted``
  when it exceeds the claim.

Reference models are the cost: each record is IN for half of them (the standard LiRA setup),
and they are trained in parallel through :mod:`pipeshield.core.executor`. What the numbers do not
say: a low AUC is not privacy (a stronger attack, more reference models, or the few records the
attack singles out may tell a different story; only differential privacy bounds every attack),
and a TPR at 0.1% FPR measured on fewer than a few thousand non-members is mostly noise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeshield._lazy import lazy_getattr

__all__ = [
    "ATTACKS",
    "FPR_LEVELS",
    "AttackMetrics",
    "DPAuditResult",
    "ExposedRecord",
    "MembershipResult",
    "audit_dp",
    "evaluate",
    "evaluate_controls",
    "one_run_epsilon_lower_bound",
]

# Loaded on first use, like the evasion package: importing the package must stay cheap.
_LAZY = {
    "evaluate": "api",
    "ATTACKS": "attacks",
    "FPR_LEVELS": "results",
    "AttackMetrics": "results",
    "ExposedRecord": "results",
    "MembershipResult": "results",
    "evaluate_controls": "controls",
    "audit_dp": "dp_audit",
    "DPAuditResult": "dp_audit",
    "one_run_epsilon_lower_bound": "dp_audit",
}


__getattr__ = lazy_getattr(__name__, _LAZY)


if TYPE_CHECKING:
    from pipeshield.attacks.membership.api import evaluate
    from pipeshield.attacks.membership.attacks import ATTACKS
    from pipeshield.attacks.membership.controls import evaluate_controls
    from pipeshield.attacks.membership.dp_audit import (
        DPAuditResult,
        audit_dp,
        one_run_epsilon_lower_bound,
    )
    from pipeshield.attacks.membership.results import (
        FPR_LEVELS,
        AttackMetrics,
        ExposedRecord,
        MembershipResult,
    )
