"""Does the planted backdoor work? Train on the poisoned data, then trigger the test inputs.

The attack success rate (ASR) is the fraction of test rows *not* of the target class that the
model assigns to the target class once the trigger is stamped on them; clean accuracy on the
untouched test rows is reported beside it, because a backdoor that ruins accuracy gets noticed.

    >>> m = measure_backdoor(poisoned, x_test, y_test, trigger=t, target=0, image_shape=(8, 8))  # doctest: +SKIP
    >>> m.attack_success_rate
    0.97
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeshield.attacks.poison import PoisonResult
from pipeshield.attacks.trainers import Classifier, train_default, wrap_model
from pipeshield.attacks.triggers import Trigger
from pipeshield.errors import DatasetError, TargetError

__all__ = ["BackdoorMeasurement", "attack_success_rate", "measure_backdoor"]


@dataclass(frozen=True)
class BackdoorMeasurement:
    attack_success_rate: float
    clean_accuracy: float
    n_triggered: int
    trainer: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "attack_success_rate": round(self.attack_success_rate, 4),
            "clean_accuracy": round(self.clean_accuracy, 4),
            "n_triggered_test_rows": self.n_triggered,
            "trainer": self.trainer,
        }


def attack_success_rate(model: Classifier, x: np.ndarray, y: np.ndarray, *, trigger: Trigger, target: int) -> tuple[float, int]:
    """ASR over test rows whose true class index is not ``target``; and how many there were."""
    victims = np.flatnonzero(y != target)
    if len(victims) == 0:
        raise DatasetError("the test rows are all of the target class; no row to trigger")
    pred = model.predict(trigger.apply(x[victims]))
    return float((pred == target).mean()), len(victims)


def measure_backdoor(
    poisoned: PoisonResult,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    trigger: Trigger,
    target: Any,
    image_shape: tuple[int, ...] | None,
    training: Callable[..., Any] | None = None,
    seed: int = 0,
) -> BackdoorMeasurement:
    """Train on ``poisoned`` (with ``training(x, y, *, seed)``, or the default model) and measure."""
    classes, y_idx = np.unique(np.concatenate([poisoned.y, y_test]), return_inverse=True)
    y_train, y_eval = y_idx[: len(poisoned.y)], y_idx[len(poisoned.y):]
    matches = np.flatnonzero(classes.astype(str) == str(target))
    if len(matches) == 0:
        raise DatasetError(f"--target: {target!r} is not a label in the data")
    tgt = int(matches[0])
    if training is None:
        model = train_default(poisoned.x, y_train, image_shape=image_shape, seed=seed)
        name = "default CNN" if image_shape is not None else "default random forest"
    else:
        try:
            trained = training(poisoned.x, classes[y_train], seed=seed)
        except Exception as err:  # noqa: BLE001  (the user's training code: report, don't crash)
            raise TargetError(f"training callable failed: {type(err).__name__}: {err}") from None
        model = wrap_model(trained, classes, "training callable",
                           input_shape=(1, *image_shape) if image_shape is not None and len(image_shape) == 2 else image_shape)
        name = getattr(training, "__qualname__", "training callable")
    asr, n = attack_success_rate(model, x_test, y_eval, trigger=trigger, target=tgt)
    clean = float((model.predict(x_test) == y_eval).mean())
    return BackdoorMeasurement(asr, clean, n, name)
