"""The gateway's side of the detectors: fit one per model at start, screen each request's inputs.

:func:`detector_for_model` fits the ``[gateway.detectors.MODEL]`` detector on the model's
``train_data`` (a failure refuses the model, like a failed signature). :class:`DetectorScreen`
scores a request's inputs after the model answered, counts flagged inputs in Prometheus
(``pipeshield_gateway_detector_flags_total{model,method,action}``) and returns a
:class:`Screened`: its ``to_log()`` goes into the audit record's ``output.detector``; ``deny``
turns into a 422 naming the first flagged input and its score.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter

from pipeshield.errors import ConfigError
from pipeshield.gateway.detectors._base import Array, FittedDetector, fit_detector

if TYPE_CHECKING:
    from pipeshield.core.pipeline import GatewayDetectorSpec, Pipeline

__all__ = ["DetectorScreen", "GatewayDetector", "Screened", "detector_for_model"]

log = logging.getLogger("pipeshield.gateway")


@dataclass(frozen=True)
class GatewayDetector:
    """A fitted detector and what the gateway does with a flagged input (log, flag or deny)."""

    fitted: FittedDetector
    action: str


@dataclass(frozen=True)
class Screened:
    """One request's scores; ``flagged`` are the indices of inputs above the threshold."""

    method: str
    action: str
    threshold: float
    scores: tuple[float, ...]
    flagged: tuple[int, ...]

    @property
    def denied(self) -> bool:
        return self.action == "deny" and bool(self.flagged)

    @property
    def message(self) -> str:
        first = self.flagged[0]
        text = (f"inputs[{first}]: flagged as adversarial or out-of-distribution by the {self.method} detector "
                f"(score {self.scores[first]:.4g} above the threshold {self.threshold:.4g})")
        if len(self.flagged) > 1:
            more = ", ".join(f"inputs[{i}]" for i in self.flagged[1:6])
            text += f"; also flagged: {more}" + (" ..." if len(self.flagged) > 6 else "")
        return text

    def to_log(self) -> dict[str, Any]:
        return {"method": self.method, "action": self.action, "threshold": self.threshold,
                "scores": list(self.scores), "flagged": list(self.flagged)}


class DetectorScreen:
    """Scores a request's inputs with its model's detector and counts the flagged ones."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.flags = Counter("pipeshield_gateway_detector_flags", "Inputs flagged by a detector",
                             ["model", "method", "action"], registry=registry)

    def __call__(self, model: str, detector: GatewayDetector | None, x: Array, probs: Array) -> Screened | None:
        if detector is None:
            return None
        fitted = detector.fitted
        raw = np.nan_to_num(fitted.score(x, probs), nan=np.inf)
        flagged = tuple(int(i) for i in np.flatnonzero(fitted.flags(raw)))
        scores = tuple(float(f"{s:.6g}") if np.isfinite(s) else 1e308 for s in raw)
        if flagged:
            self.flags.labels(model, fitted.method, detector.action).inc(len(flagged))
            log.info("detector %s flagged %d of %d inputs to %s (action %s)", fitted.method, len(flagged), len(x),
                     model, detector.action)
        return Screened(fitted.method, detector.action, float(f"{fitted.threshold:.6g}"), scores, flagged)


def detector_for_model(pipeline: Pipeline, name: str, target: Any, spec: GatewayDetectorSpec) -> GatewayDetector:
    """Fit ``spec``'s detector for model ``name`` on its ``train_data`` (raises ConfigError)."""
    from pipeshield.core.datasets import load_dataset

    model = pipeline.models[name]
    if model.train_data is None:
        raise ConfigError(f"{pipeline.source}: gateway.detectors.{name}: the detector is fitted on "
                          f"models.{name}.train_data, which is not set")
    data = load_dataset(pipeline, model.train_data)
    options: dict[str, Any] = {}
    if spec.method == "squeezing":
        domains = [pipeline.datasets[d].domain for d in (model.train_data, model.test_data) if d is not None]
        clip = next((d.clip for d in domains if d is not None and d.clip is not None), None)
        options = {"bits": spec.bits, "median": spec.median, "clip": clip,
                   "shape": tuple(model.input_shape) if model.input_shape else None}
    elif spec.method == "mahalanobis":
        options = {"features": spec.features}
    else:
        options = {"n_estimators": spec.n_estimators}
    try:
        fitted = fit_detector(spec.method, data.x, data.y, target, fpr=spec.fpr, holdout=spec.holdout,
                              seed=spec.seed, **options)
    except ConfigError as err:
        raise ConfigError(f"{pipeline.source}: gateway.detectors.{name}: {err.message}") from None
    log.info("detector %s for %s: threshold %.4g at fpr %g (%d rows fitted, %d held out)", spec.method, name,
             fitted.threshold, fitted.fpr, fitted.n_fit, fitted.n_holdout)
    if spec.method == "squeezing" and fitted.threshold >= 1.9:  # L1 between two distributions is at most 2
        log.warning("detector squeezing for %s: its squeezers change the model's answer on more than %g of clean "
                    "training rows, so it will flag almost nothing; use more bits or no median filter", name,
                    fitted.fpr)
    return GatewayDetector(fitted, spec.action)
