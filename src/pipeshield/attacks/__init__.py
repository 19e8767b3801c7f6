"""Red-team attacks against your own data and models, to measure how far an adversary gets.

Poisoning (:mod:`pipeshield.attacks.poison`) writes poisoned copies of a dataset with a
ground-truth mask -- label flips, BadNets backdoors, clean-label backdoors -- and
:mod:`pipeshield.attacks.success` measures a backdoor's attack success rate after training.

    >>> from pipeshield.attacks import PatchTrigger, poison
    >>> trigger = PatchTrigger(image_shape=(8, 8), size=2)
    >>> result = poison(x, y, kind="backdoor", rate=0.05, target=0, trigger=trigger)  # doctest: +SKIP
"""

from __future__ import annotations

from pipeshield.attacks.poison import PoisonKind, PoisonResult, poison
from pipeshield.attacks.success import BackdoorMeasurement, attack_success_rate, measure_backdoor
from pipeshield.attacks.triggers import PatchTrigger, Trigger, ValueTrigger, value_trigger_for

__all__ = [
    "BackdoorMeasurement",
    "PatchTrigger",
    "PoisonKind",
    "PoisonResult",
    "Trigger",
    "ValueTrigger",
    "attack_success_rate",
    "measure_backdoor",
    "poison",
    "value_trigger_for",
]
