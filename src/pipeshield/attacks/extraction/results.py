"""What :func:`~pipeshield.attacks.extraction.extract` and
:func:`~pipeshield.attacks.extraction.transferability` return: frozen, with a stable JSON form.

``to_dict()`` holds only JSON types: query counts (mapping keys) are written as decimal strings
(``"65"``), the substitute is left out (it is a model, not a number), and every key listed here is
kept from release to release (new keys may be added).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pipeshield.attacks.extraction.methods import Substitute

__all__ = ["ExtractionResult", "Transferability"]


@dataclass(frozen=True)
class ExtractionResult:
    """A stolen copy and how close it came, as a function of queries spent.

    ``fidelity[q]``: agreement (fraction of equal labels) between the substitute held after
    ``q`` queries and the victim on the evaluation inputs (``x_test``, or ``n_eval`` uniform
    draws from the domain when none were given: ``evaluation`` says which). ``accuracy[q]``:
    the substitute's accuracy on ``(x_test, y_test)``, empty without ``y_test``. ``queries``:
    rows the attack sent (never above ``budget``). ``evaluation_queries``: rows sent to label the
    evaluation inputs, which the attacker never sees and which do not count against the budget.
    """

    method: str
    substitute: Substitute
    fidelity: Mapping[int, float]
    accuracy: Mapping[int, float]
    queries: int
    budget: int
    labels_only: bool
    n_features: int
    classes: NDArray[Any]
    domain: tuple[NDArray[np.float64], NDArray[np.float64]]
    evaluation: str  # "x_test" or "uniform"
    evaluation_queries: int
    seed: int
    settings: Mapping[str, Any]
    notes: tuple[str, ...] = ()

    @property
    def final_fidelity(self) -> float:
        """Fidelity of the returned substitute (the last checkpoint)."""
        return self.fidelity[max(self.fidelity)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "fidelity": {str(q): float(v) for q, v in self.fidelity.items()},
            "accuracy": {str(q): float(v) for q, v in self.accuracy.items()},
            "queries": self.queries,
            "budget": self.budget,
            "labels_only": self.labels_only,
            "n_features": self.n_features,
            "classes": [_json(c) for c in self.classes.tolist()],
            "evaluation": self.evaluation,
            "evaluation_queries": self.evaluation_queries,
            "seed": self.seed,
            "settings": {k: _json(v) for k, v in self.settings.items()},
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Transferability:
    """How often adversarial examples crafted on the substitute fool the victim.

    Only inputs the victim classified correctly are attacked (``n``). ``rate``: fraction of them
    whose substitute-crafted adversarial (PGD, ``eps`` in ``norm``) the victim misclassifies;
    ``substitute_rate``: fraction that fool the substitute itself; ``baseline_rate``: fraction
    that random noise of the same size (a random corner of the L-inf ball, or a random direction
    of L2 length ``eps``) pushes across the victim's boundary. ``rate`` well above
    ``baseline_rate`` is what a stolen copy buys an attacker. ``queries``: victim queries spent
    here (clean inputs, unless their labels were given, adversarial and noise inputs).
    """

    eps: float
    norm: str
    n: int
    rate: float
    substitute_rate: float
    baseline_rate: float
    queries: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "eps": self.eps,
            "norm": self.norm,
            "n": self.n,
            "rate": self.rate,
            "substitute_rate": self.substitute_rate,
            "baseline_rate": self.baseline_rate,
            "queries": self.queries,
        }


def _json(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (tuple, list)):
        return [_json(x) for x in v]
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return repr(v)
