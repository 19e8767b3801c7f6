"""Input policy: what a served model accepts, learned from its training data.

The schema of a model (:class:`InputSchema`) is derived from the pipeline: its ``input_shape`` (or
the training data's feature count), each feature's ``[min, max]`` over ``train_data`` widened by a
tolerance (a fraction of the feature's range, at least that fraction of the data's overall span),
narrowed to hard limits where the dataset's ``domain`` declares them (``clip``, ``bounds``), and the
values seen for ``domain.categorical`` features. :meth:`InputSchema.check` turns the JSON
``inputs`` of a request into a float array or raises :class:`InputRejected` naming the first
offending field and index, e.g. ``inputs[3][12]: value 7.5 above the maximum 1.0 (feature x12)``.

What it does not do: a value inside every range can still be adversarial; ranges only keep
queries on the box the model was trained on (which also starves random-query extraction).

    >>> schema = InputSchema(shape=(2,), low=np.zeros(2), high=np.ones(2))
    >>> schema.check([[0.5, 2.0]])
    Traceback (most recent call last):
    ...
    pipeshield.gateway.input_policy.InputRejected: inputs[0][1]: value 2.0 above the maximum 1.0 (feature x1)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pipeshield.core.pipeline import Pipeline
from pipeshield.errors import PipeshieldError

__all__ = ["InputRejected", "InputSchema", "schema_for_model"]


class InputRejected(PipeshieldError):
    """A request's inputs break the model's input policy (the gateway answers 422)."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def _num(value: float) -> str:
    """``1.0``, ``7.5``, ``61.9`` (six significant digits; a float always shows as one)."""
    text = f"{float(value):.6g}"
    return text if any(c in text for c in ".eni") else text + ".0"


def _index(prefix: tuple[int, ...]) -> str:
    return "inputs" + "".join(f"[{i}]" for i in prefix)


@dataclass(frozen=True)
class InputSchema:
    """Shape of one input (without the batch axis), per-feature bounds over the flattened input."""

    shape: tuple[int, ...]
    low: NDArray[np.float64]
    high: NDArray[np.float64]
    feature_names: tuple[str, ...] = ()
    categories: dict[int, frozenset[float]] = field(default_factory=dict)
    integer: frozenset[int] = frozenset()

    @property
    def n_features(self) -> int:
        return int(math.prod(self.shape))

    def feature(self, flat: int) -> str:
        return self.feature_names[flat] if flat < len(self.feature_names) else f"x{flat}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_shape": list(self.shape),
            "features": self.n_features,
            "minimum": float(np.min(self.low)) if self.low.size else None,
            "maximum": float(np.max(self.high)) if self.high.size else None,
        }

    def check(self, inputs: Any) -> NDArray[np.float64]:
        """Rows shaped ``shape`` (or flat rows of ``n_features``) as float64, flattened per row."""
        if not isinstance(inputs, list) or not inputs:
            raise InputRejected("inputs: expected a non-empty list of inputs", field="inputs")
        try:
            arr = np.asarray(inputs, dtype=np.float64)
        except (ValueError, TypeError):
            self._find_bad_element(inputs, ())
            raise InputRejected("inputs: rows of different lengths", field="inputs") from None
        if any(isinstance(v, bool) for v in _leaves(inputs, 64)):
            raise InputRejected("inputs: true/false are not numbers", field="inputs")
        row_shape = arr.shape[1:]
        if row_shape not in (self.shape, (self.n_features,)):
            raise InputRejected(
                f"inputs: each input must have shape {list(self.shape)}"
                + (f" or {self.n_features} flat features" if len(self.shape) > 1 else "")
                + f", got {list(row_shape)}",
                field="inputs",
            )
        bad = np.argwhere(~np.isfinite(arr))
        if len(bad):
            where = tuple(int(i) for i in bad[0])
            raise InputRejected(f"{_index(where)}: {arr[where]} is not a finite number", field=_index(where))
        flat = arr.reshape(len(arr), -1)
        for values, limit, word in ((flat < self.low, self.low, "below the minimum"),
                                    (flat > self.high, self.high, "above the maximum")):
            hits = np.argwhere(values)
            if len(hits):
                row, col = (int(i) for i in hits[0])
                inner = [int(i) for i in np.unravel_index(col, row_shape)] if len(row_shape) > 1 else [col]
                name = _index((row, *inner))
                raise InputRejected(
                    f"{name}: value {_num(flat[row, col])} {word} {_num(limit[col])} (feature {self.feature(col)})",
                    field=name,
                )
        for col in sorted(self.integer):
            wrong = np.flatnonzero(flat[:, col] != np.round(flat[:, col]))
            if len(wrong):
                name = _index((int(wrong[0]), col))
                raise InputRejected(f"{name}: feature {self.feature(col)} takes whole numbers, got "
                                    f"{_num(flat[wrong[0], col])}", field=name)
        for col, allowed in sorted(self.categories.items()):
            for row in range(len(flat)):
                if float(flat[row, col]) not in allowed:
                    name = _index((row, col))
                    seen = ", ".join(_num(v) for v in sorted(allowed)[:10])
                    raise InputRejected(f"{name}: {_num(flat[row, col])} is not a known category of feature "
                                        f"{self.feature(col)} (seen: {seen})", field=name)
        return flat

    def _find_bad_element(self, value: Any, at: tuple[int, ...]) -> None:
        """Raise naming the first non-number (or the first row whose length differs)."""
        if isinstance(value, list):
            for i, item in enumerate(value):
                self._find_bad_element(item, (*at, i))
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            shown = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
            raise InputRejected(f"{_index(at)}: expected a number, got {shown[:40]}", field=_index(at))


def _leaves(value: Any, limit: int) -> list[Any]:
    """The first ``limit`` scalars of a nested list (booleans hide among numbers in JSON)."""
    out: list[Any] = []
    stack = [value]
    while stack and len(out) < limit:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        else:
            out.append(item)
    return out


def schema_for_model(pipeline: Pipeline, model: str, *, tolerance: float = 0.05) -> InputSchema:
    """The input schema of ``model``, from its ``train_data`` (see the module docstring)."""
    from pipeshield.core.datasets import load_dataset
    from pipeshield.errors import ConfigError

    spec = pipeline.models[model]
    if spec.train_data is None:
        raise ConfigError(
            f"{pipeline.source}: models.{model}: the gateway needs train_data to learn the input schema",
            hint=f"set models.{model}.train_data to the dataset it was trained on",
        )
    data = load_dataset(pipeline, spec.train_data)
    x = np.asarray(data.x, dtype=np.float64).reshape(len(data.x), -1)
    low, high = x.min(axis=0), x.max(axis=0)
    span = float(np.max(high) - np.min(low)) if x.size else 0.0
    slack = np.maximum((high - low) * tolerance, span * tolerance)
    low, high = low - slack, high + slack
    names = tuple(data.feature_names)
    categories: dict[int, frozenset[float]] = {}
    integer: set[int] = set()
    domains = [pipeline.datasets[d].domain for d in (spec.train_data, spec.test_data) if d is not None]
    for domain in domains:
        if domain is None:
            continue
        if domain.clip is not None:
            low, high = np.full_like(low, domain.clip[0]), np.full_like(high, domain.clip[1])
        index = {n: i for i, n in enumerate(names)}
        for feat, (lo, hi) in domain.bounds.items():
            if feat in index:
                low[index[feat]], high[index[feat]] = lo, hi
        for feat in domain.categorical:
            if feat in index:
                categories[index[feat]] = frozenset(float(v) for v in np.unique(x[:, index[feat]]))
        integer.update(index[f] for f in domain.integer if f in index)
    shape = tuple(spec.input_shape) if spec.input_shape else (x.shape[1],)
    return InputSchema(shape, low, high, names, categories, frozenset(integer))
