"""Adversarial and out-of-distribution input detectors for the gateway.

Three methods, each fitted on a model's clean training rows with a threshold calibrated on
held-out training rows to a target false-positive rate (``fpr``, default 1%):

- ``squeezing``: feature squeezing (Xu et al. 2018), for image models: the model's answer moves
  when the input is bit-depth reduced or median filtered.
- ``mahalanobis``: distance to the nearest class-conditional Gaussian (Lee et al. 2018), for
  tabular inputs (or a torch model's logits).
- ``isolation-forest``: scikit-learn's isolation forest on the inputs.

The gateway logs every score in the audit record (``output.detector``) and, per
``[gateway.detectors.MODEL] action``, only logs, flags (``"flagged": [indices]`` in the response)
or denies (422 ``suspicious_input`` naming the first flagged input and its score).

    >>> det = fit_detector("mahalanobis", x_train, y_train, fpr=0.01)   # doctest: +SKIP
    >>> det.flags(det.score(x_new))                                      # doctest: +SKIP
"""

from __future__ import annotations

from pipeshield.gateway.detectors._base import (
    DETECTORS,
    Detector,
    FittedDetector,
    calibrate,
    fit_detector,
)
from pipeshield.gateway.detectors._gateway import (
    DetectorScreen,
    GatewayDetector,
    Screened,
    detector_for_model,
)
from pipeshield.gateway.detectors.isolation import IsolationForestDetector
from pipeshield.gateway.detectors.mahalanobis import Mahalanobis
from pipeshield.gateway.detectors.squeezing import FeatureSqueezing

__all__ = [
    "DETECTORS",
    "Detector",
    "DetectorScreen",
    "FeatureSqueezing",
    "FittedDetector",
    "GatewayDetector",
    "IsolationForestDetector",
    "Mahalanobis",
    "Screened",
    "calibrate",
    "detector_for_model",
    "fit_detector",
]
