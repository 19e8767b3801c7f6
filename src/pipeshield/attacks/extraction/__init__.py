"""Model extraction: how good a copy of your model can an attacker steal through its API?

:func:`extract` plays the thief against your model's prediction function with a query budget,
and measures the copy the way the literature does: *fidelity* (agreement with the victim on
held-out inputs) and accuracy as a function of queries spent. :func:`transferability` measures
what the copy is for: adversarial examples crafted on it that fool the victim.

    >>> from pipeshield.attacks.extraction import extract, transferability
    >>> res = extract(model.predict_proba, n_features=64, method="equation_solving",
    ...               budget=65, x_test=x_test)  # doctest: +SKIP
    >>> res.fidelity  # doctest: +SKIP
    {65: 1.0}
    >>> res = extract(target, n_features=64, method="knockoff", budget=2000, pool=x_public,
    ...               labels_only=True, x_test=x_test, y_test=y_test)  # doctest: +SKIP
    >>> transferability(res, target, x_test, y_test, eps=0.1).rate  # doctest: +SKIP

Methods (``METHODS``; each registers itself):

- ``equation_solving`` (Tramer et al. 2016): a (multinomial or binary) logistic regression is
  recovered exactly from ``d + 1`` probability queries; rounded probabilities are solved by
  weighted least squares over more queries. Needs probabilities.
- ``jacobian`` (Papernot et al. 2017): a small seed set grown by Jacobian-based augmentation
  along the substitute's boundary, periodic step-sign flip, optional reservoir sampling.
- ``knockoff`` (Orekondy et al. 2019, random strategy): inputs sampled from a public or
  synthetic pool, substitute trained on the victim's probabilities or, with ``labels_only``,
  its labels.

Stable interface (automation relies on it):

- ``extract(predict_proba, *, n_features, method, budget, seed=0, classes=None, pool=None,
  labels_only=False, x_test=None, checkpoints=None, y_test=None, bounds=None, n_eval=1000,
  options=None) -> ExtractionResult``. ``predict_proba``: a callable on flat rows, or any object
  with ``predict_proba`` (a pipeshield ``Target``). ``budget``: the most queries the attack may
  send (``result.queries <= budget`` always). When ``x_test`` is None, fidelity is measured on
  ``n_eval`` inputs drawn uniformly from the domain (``bounds``, default the pool's per-feature
  range, else ``[0, 1]``). Bad input (unknown method, a budget below what the method needs --
  ``d + 1`` for equation solving --, inputs whose width is not ``n_features``) raises
  ``ValueError`` naming the problem.
- ``ExtractionResult``: ``substitute`` (``predict``, ``predict_proba``, ``classes``,
  ``to_module()``), ``fidelity`` and ``accuracy`` (queries spent -> fraction), ``queries``,
  ``evaluation_queries`` (labelling the evaluation inputs, outside the budget), ``notes`` and
  ``to_dict()`` (JSON types only).
- ``transferability(result, victim, x, y, eps, *, norm="linf", clip=None, steps=20, seed=0) ->
  Transferability`` with ``rate``, ``substitute_rate``, ``baseline_rate`` (random noise of the
  same size) and ``to_dict()``.

What the numbers do not say: a low fidelity at this budget is not protection (more queries, a
better pool or an adaptive strategy do better), and fidelity on uniform random inputs is a
different number from fidelity on real data -- quote the evaluation set with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeshield._lazy import lazy_getattr

__all__ = [
    "METHODS",
    "ExtractionResult",
    "LinearSubstitute",
    "Transferability",
    "extract",
    "solve_logistic",
    "transferability",
]

# Loaded on first use: importing the package must not import torch. (The function
# `transferability` lives in `transfer`: a submodule of the same name would shadow it.)
_LAZY = {
    "extract": "api",
    "METHODS": "api",
    "ExtractionResult": "results",
    "Transferability": "results",
    "LinearSubstitute": "equation_solving",
    "solve_logistic": "equation_solving",
    "transferability": "transfer",
}


__getattr__ = lazy_getattr(__name__, _LAZY)


if TYPE_CHECKING:
    from pipeshield.attacks.extraction.api import METHODS, extract
    from pipeshield.attacks.extraction.equation_solving import LinearSubstitute, solve_logistic
    from pipeshield.attacks.extraction.results import ExtractionResult, Transferability
    from pipeshield.attacks.extraction.transfer import transferability
