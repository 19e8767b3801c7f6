"""The measurements behind the ``attacks.inversion`` check, usable without a pipeline.

:func:`assess_images` runs MI-Face for every class (white-box when a torch module is available,
black-box finite differences otherwise), has an independent model judge the reconstructions, and
re-runs the black-box attack through each output policy to measure what it buys.
:func:`assess_attribute` does the same for attribute inference on one sensitive column.

    >>> report = assess_images(target, x_train, y_train, input_shape=(1, 8, 8), clip=(0, 1))  # doctest: +SKIP
    >>> report.quality.recognition_rate, report.controls["label-only"].recognition_rate  # doctest: +SKIP
    (1.0, 0.1)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from pipeshield.attacks.inversion.attribute import AttributeInferenceResult, attribute_inference
from pipeshield.attacks.inversion.mi_face import InversionResult, invert_classes
from pipeshield.attacks.inversion.quality import InversionQuality, judge, train_evaluator

__all__ = ["BUDGETS", "AttributeReport", "ImageReport", "assess_attribute", "assess_images"]

#: Iterations and queries per class for each budget; ``lr`` is in units of the clip range.
BUDGETS: dict[str, dict[str, dict[str, Any]]] = {
    "quick": {
        "gradient": {"max_iter": 300, "lr": 1.0, "beta": 50, "gamma": 0.001},
        "finite_differences": {"max_iter": 30, "lr": 1.0, "beta": 10, "gamma": 0.001, "max_queries": 5000,
                               "max_coords": 256},
    },
    "standard": {
        "gradient": {"max_iter": 1000, "lr": 1.0, "beta": 100, "gamma": 0.001},
        "finite_differences": {"max_iter": 100, "lr": 1.0, "beta": 20, "gamma": 0.001, "max_queries": 20000,
                               "max_coords": 512},
    },
}


@dataclass(frozen=True)
class ImageReport:
    """MI-Face on one model: the main attack, its independent verdict, and per output policy
    (``full`` included) the black-box re-run's verdict."""

    access: Literal["white-box", "black-box"]
    results: tuple[InversionResult, ...]
    quality: InversionQuality
    settings: Mapping[str, Any]
    controls: Mapping[str, InversionQuality] = field(default_factory=dict)
    control_queries: Mapping[str, int] = field(default_factory=dict)
    classes: tuple[Any, ...] | None = None

    @property
    def queries(self) -> int:
        return sum(r.queries for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {
            "access": self.access,
            "settings": dict(self.settings),
            "quality": self.quality.to_dict(),
            "results": [{k: v for k, v in r.to_dict().items() if k not in ("reconstruction", "costs")}
                        for r in self.results],
            "queries": self.queries,
            "controls": {k: {"recognition_rate": round(q.recognition_rate, 6), "queries": self.control_queries.get(k, 0)}
                         for k, q in self.controls.items()},
        }


@dataclass(frozen=True)
class AttributeReport:
    """Attribute inference on one column: full output and each output policy."""

    column: str
    result: AttributeInferenceResult
    controls: Mapping[str, AttributeInferenceResult] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "result": self.result.to_dict(),
                "controls": {k: v.to_dict() for k, v in self.controls.items()}}


def _n_outputs(target: Any, n_features: int) -> int:
    return int(np.asarray(target.predict_proba(np.zeros((1, n_features), dtype=np.float32))).shape[1])


def _attack_options(budget: str, method: str, clip: tuple[float, float]) -> dict[str, Any]:
    """The options MI-Face runs with at ``budget``: ``BUDGETS`` with ``lr`` scaled to the clip
    range, and for finite differences a step of 5% of it (large enough to see through scores
    rounded to 2 decimals). These are what the report records."""
    span = float(clip[1] - clip[0])
    opts = dict(BUDGETS[budget][method])
    opts["lr"] = float(opts["lr"]) * span
    if method == "finite_differences":
        opts["fd_step"] = 0.05 * span
    return opts


def assess_images(
    target: Any,
    x: Any,
    y: Any,
    *,
    input_shape: Sequence[int],
    clip: tuple[float, float],
    budget: Literal["quick", "standard"] = "quick",
    white_box: bool | None = None,
    evaluator: Literal["knn", "logistic"] = "knn",
    policies: Sequence[Any] = (),
    seed: int = 0,
) -> ImageReport:
    """MI-Face for every output class of ``target``; ``x``, ``y`` (flat rows, labels as output
    column indices) train the independent evaluator and give the class means. ``white_box``
    defaults to "has a torch module". ``policies``: output policies whose black-box re-run is
    measured (the unhardened black-box run is added as ``full``)."""
    from pipeshield.attacks.inversion.mi_face import _module_of

    if budget not in BUDGETS:
        raise ValueError(f"budget must be one of {', '.join(BUDGETS)}, got {budget!r}")
    flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    labels = np.asarray(y, dtype=np.int64)
    shape = tuple(int(s) for s in input_shape)
    white = _module_of(target) is not None if white_box is None else white_box
    n_classes = _n_outputs(target, flat.shape[1])
    judge_model = train_evaluator(flat, labels, evaluator)
    name = {"knn": "k-nearest-neighbour", "logistic": "logistic regression"}[evaluator]

    def run(model: Any, method: str) -> tuple[InversionResult, ...]:
        return invert_classes(model, n_classes, input_shape=shape, clip=clip, method=method, seed=seed,
                              **_attack_options(budget, method, clip))

    main_method = "gradient" if white else "finite_differences"
    main = run(target, main_method)
    quality = judge(main, judge_model, flat, labels, name=name)
    controls: dict[str, InversionQuality] = {}
    spent: dict[str, int] = {}
    if policies:
        from pipeshield.gateway.output_policy import FULL, HardenedTarget

        for policy in (FULL, *policies):
            if policy == FULL and not white:
                res = main
            else:
                res = run(HardenedTarget(target, policy), "finite_differences")
            controls[policy.name] = judge(res, judge_model, flat, labels, name=name)
            spent[policy.name] = sum(r.queries for r in res)
    settings: dict[str, Any] = {
        "budget": budget, "evaluator": evaluator, "clip": [float(c) for c in clip], "input_shape": list(shape),
        "n_classes": n_classes, "method": main_method, "attack": _attack_options(budget, main_method, clip),
    }
    if policies:
        settings["control_attack"] = _attack_options(budget, "finite_differences", clip)
    classes = getattr(target, "classes", None)
    names = tuple(c.item() if hasattr(c, "item") else c for c in classes) if classes is not None else None
    return ImageReport("white-box" if white else "black-box", main, quality, settings, controls, spent, names)


def assess_attribute(
    target: Any,
    column: str,
    feature_names: Sequence[str],
    x_members: Any,
    y_members: Any,
    x_nonmembers: Any,
    y_nonmembers: Any,
    *,
    max_categories: int = 10,
    bins: int = 5,
    policies: Sequence[Any] = (),
    seed: int = 0,
) -> AttributeReport:
    """Attribute inference on ``column`` against ``target`` and each output policy."""
    from pipeshield.attacks.inversion.attribute import column_index

    j = column_index(feature_names, column)
    args = (x_members, y_members, x_nonmembers, y_nonmembers)
    opts: dict[str, Any] = {"sensitive": j, "max_categories": max_categories, "bins": bins, "seed": seed}
    result = attribute_inference(target, *args, **opts)
    controls: dict[str, AttributeInferenceResult] = {}
    if policies:
        from pipeshield.gateway.output_policy import HardenedTarget

        for policy in policies:
            controls[policy.name] = attribute_inference(HardenedTarget(target, policy), *args, **opts)
    return AttributeReport(column, result, controls)
