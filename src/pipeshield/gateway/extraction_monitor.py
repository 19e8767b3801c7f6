"""Extraction monitoring: PRADA (Juuti et al. 2019) per API key, plus query-coverage statistics.

A model thief has to explore the input space in a way honest users do not: synthetic queries made
by perturbing earlier ones (Jacobian augmentation) sit at small, regular distances from their
parents. PRADA watches, per client, the distribution of the *minimum L2 distance* between each new
query and the client's earlier queries of the same predicted class; benign traffic gives a roughly
normal distribution, synthetic exploration does not. The steps, as in the paper's reference
implementation:

1. per key and predicted class ``c`` keep a *growing set* ``G_c`` of past queries and a threshold
   ``T_c`` (initially 0); the first query of a class only enters ``G_c``;
2. for every later query ``x`` of class ``c``: ``d = min ||x - g||_2`` over ``g`` in ``G_c`` is
   recorded in the key's distance list ``D``; if ``d > T_c``, ``x`` joins ``G_c`` and
   ``T_c = max(T_c, mean(D_Gc) - std(D_Gc))`` over the distances of ``G_c``'s members;
3. once ``D`` holds more than ``min_samples`` distances, drop those beyond ``outlier_sigma``
   standard deviations of the mean and compute the Shapiro-Wilk statistic ``W``; alarm when
   ``W < delta``.

``delta`` defaults to 0.9 (the paper's value), which a calibration on benign digits traffic keeps
(benign W about 0.95-0.99; see ``bench/extraction_monitor.py`` and docs/benchmarks.md). ``W`` is
computed at most once per :meth:`ExtractionMonitor.observe` call, after the call's inputs are added
in order, so a batch is judged as a whole; and, to keep the gateway's per-request cost low, only
when ``test_every`` (8) new distances have arrived since the last test (the first test runs as soon
as ``min_samples`` is passed). Between tests a key keeps its last ``W``: an alarm can come up to
``test_every - 1`` queries later than with a test per query, and it holds until the next test.
``test_every=1`` restores a test per call.

Coverage (with ``bounds``, the input domain): the fraction of each feature's range a key has
touched, averaged over features, and the fraction of ``(feature, bin)`` cells hit when each range is
cut into ``bins`` bins. Honest users stay on the data manifold (for images: borders stay blank);
random-query thieves fill the box. ``max_cell_fraction`` turns that statistic into a second alarm.

Memory is bounded (documented numbers, the defaults):

- per key and class at most ``max_set_per_class`` (500) stored queries, ``float32``: at most
  ``classes x 500 x n_features x 4`` bytes (10 classes of 64 features: 1.3 MB); when a class's set
  is full the oldest member is replaced (FIFO), which can only lower the distances a thief sees;
- per key the latest ``window`` (2,000) distances;
- at most ``max_keys`` (1,000) keys; the least recently seen key is forgotten first.

What it does not catch: a thief whose queries are natural samples (KnockoffNets with a natural
image pool) looks benign to PRADA, by the paper's own account; pair it with budgets.

    >>> monitor = ExtractionMonitor(MonitorSettings(bounds=(0.0, 1.0)))
    >>> alert = monitor.observe("key-1", x_batch, model.predict(x_batch))  # doctest: +SKIP
    >>> if alert: print(alert.statistic, alert.threshold, alert.queries_seen)  # doctest: +SKIP
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["Alert", "Coverage", "ExtractionMonitor", "MonitorSettings"]


@dataclass(frozen=True)
class MonitorSettings:
    """PRADA and coverage settings; validated on construction."""

    delta: float = 0.9
    min_samples: int = 100
    outlier_sigma: float = 3.0
    max_set_per_class: int = 500
    window: int = 2000
    max_keys: int = 1000
    bounds: tuple[Any, Any] | None = None
    bins: int = 10
    max_cell_fraction: float | None = None
    test_every: int = 8

    def __post_init__(self) -> None:
        if not 0.0 < self.delta <= 1.0:
            raise ValueError(f"delta must be in (0, 1] (a Shapiro-Wilk W), got {self.delta!r}")
        for name, least in (
            ("min_samples", 3),
            ("max_set_per_class", 1),
            ("max_keys", 1),
            ("bins", 1),
            ("test_every", 1),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
        if (
            isinstance(self.window, bool)
            or not isinstance(self.window, int)
            or self.window <= self.min_samples
        ):
            raise ValueError(
                f"window must be an integer above min_samples ({self.min_samples}), got {self.window!r}"
            )
        if not self.outlier_sigma > 0:
            raise ValueError(f"outlier_sigma must be positive, got {self.outlier_sigma!r}")
        if self.max_cell_fraction is not None and not 0.0 < self.max_cell_fraction <= 1.0:
            raise ValueError(
                f"max_cell_fraction must be in (0, 1] or None, got {self.max_cell_fraction!r}"
            )
        if self.bounds is not None:
            lo, hi = (np.asarray(b, dtype=float) for b in self.bounds)
            if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)) and np.all(hi > lo)):
                raise ValueError("bounds must be finite (lo, hi) with hi > lo for every feature")


@dataclass(frozen=True)
class Coverage:
    """How much of the input domain a key's queries have touched (needs ``bounds``)."""

    queries: int
    feature_range: float
    cell_fraction: float
    classes_seen: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "queries": self.queries,
            "feature_range": self.feature_range,
            "cell_fraction": self.cell_fraction,
            "classes_seen": self.classes_seen,
        }


@dataclass(frozen=True)
class Alert:
    """An extraction alarm for one key: which detector, its statistic against the threshold."""

    key_id: str
    detector: str  # "prada" (statistic W < threshold) or "coverage" (cell fraction > threshold)
    statistic: float
    threshold: float
    queries_seen: int
    samples: int  # distances the Shapiro-Wilk test used (PRADA), or queries (coverage)
    first: bool  # the first alarm for this key (later calls keep alarming while it holds)
    coverage: Coverage | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "detector": self.detector,
            "statistic": self.statistic,
            "threshold": self.threshold,
            "queries_seen": self.queries_seen,
            "samples": self.samples,
            "first": self.first,
            "coverage": None if self.coverage is None else self.coverage.to_dict(),
        }


@dataclass
class _ClassSet:
    points: NDArray[np.float32]
    size: int = 0
    cursor: int = 0
    threshold: float = 0.0
    member_distances: deque[float] = field(default_factory=deque)
    total: float = 0.0  # running sum and sum of squares of member_distances (mean - std in O(1))
    total_sq: float = 0.0
    appended: int = 0


@dataclass
class _KeyState:
    n_features: int
    classes: dict[Any, _ClassSet] = field(default_factory=dict)
    distances: deque[float] = field(default_factory=deque)
    queries: int = 0
    alarmed: bool = False
    low: NDArray[np.float64] | None = None
    high: NDArray[np.float64] | None = None
    cells: NDArray[np.bool_] | None = None
    w: float | None = None  # the last Shapiro-Wilk W and the distances it used
    w_samples: int = 0
    untested: int = 0  # distances added since that test


class ExtractionMonitor:
    """Per-key PRADA state and coverage; thread-safe (one lock around each observation)."""

    def __init__(self, settings: MonitorSettings | None = None) -> None:
        self.settings = settings or MonitorSettings()
        self._keys: OrderedDict[str, _KeyState] = OrderedDict()
        self._lock = threading.Lock()
        self._lo: NDArray[np.float64] | None = None
        self._hi: NDArray[np.float64] | None = None
        if self.settings.bounds is not None:
            self._lo, self._hi = (np.asarray(b, dtype=np.float64) for b in self.settings.bounds)

    def observe(self, key_id: str, inputs: ArrayLike, predicted: ArrayLike) -> Alert | None:
        """Add a request's inputs (rows, in order) with the classes the model predicted for them;
        return an :class:`Alert` when the key's traffic now looks like extraction."""
        x = np.asarray(inputs, dtype=np.float64)
        if x.ndim == 1:
            x = x.reshape(1, -1)
        x = x.reshape(len(x), -1)
        labels = np.asarray(predicted).reshape(-1)
        if len(labels) != len(x):
            raise ValueError(f"observe: {len(x)} inputs but {len(labels)} predicted classes")
        if x.shape[1] == 0 or not np.all(np.isfinite(x)):
            raise ValueError("observe: inputs must be non-empty and finite")
        if self._lo is not None and self._lo.ndim == 1 and self._lo.shape[0] not in (1, x.shape[1]):
            raise ValueError(
                f"observe: bounds have {self._lo.shape[0]} features, inputs {x.shape[1]}"
            )
        x32 = x.astype(np.float32)
        with self._lock:
            state = self._state(key_id, x.shape[1])
            for row, label in zip(x32, labels.tolist()):
                self._add(state, row, label)
            if self._lo is not None:
                self._cover(state, x)
            return self._judge(key_id, state)

    def coverage(self, key_id: str) -> Coverage | None:
        """The key's coverage so far (None without ``bounds`` or for an unseen key)."""
        with self._lock:
            state = self._keys.get(key_id)
            return None if state is None else self._coverage(state)

    def statistic(self, key_id: str) -> float | None:
        """The key's current Shapiro-Wilk W (None until ``min_samples`` distances exist)."""
        with self._lock:
            state = self._keys.get(key_id)
            return None if state is None else self._w(state)[0]

    def forget(self, key_id: str) -> None:
        with self._lock:
            self._keys.pop(key_id, None)

    # --- internals ---------------------------------------------------------------------------

    def _state(self, key_id: str, n_features: int) -> _KeyState:
        state = self._keys.get(key_id)
        if state is None:
            state = _KeyState(n_features, distances=deque(maxlen=self.settings.window))
            self._keys[key_id] = state
            while len(self._keys) > self.settings.max_keys:
                self._keys.popitem(last=False)
        elif state.n_features != n_features:
            raise ValueError(
                f"observe: key {key_id!r} sent {n_features} features, earlier {state.n_features}"
            )
        self._keys.move_to_end(key_id)
        return state

    def _add(self, state: _KeyState, row: NDArray[np.float32], label: Any) -> None:
        cap = self.settings.max_set_per_class
        state.queries += 1
        members = state.classes.get(label)
        if members is None:
            members = _ClassSet(
                np.empty((cap, state.n_features), dtype=np.float32),  # preallocated: no copy per insert
                member_distances=deque(maxlen=cap),
            )
            state.classes[label] = members
            self._insert(members, row)
            return
        diff = members.points[: members.size] - row
        d = float(math.sqrt(float(np.min(np.einsum("ij,ij->i", diff, diff)))))
        state.distances.append(d)
        state.untested += 1
        if d > members.threshold:
            self._insert(members, row)
            kept = members.member_distances
            if len(kept) == kept.maxlen:  # the oldest leaves the window: take it out of the sums
                old = kept[0]
                members.total -= old
                members.total_sq -= old * old
            kept.append(d)
            members.total += d
            members.total_sq += d * d
            members.appended += 1
            if members.appended % 4096 == 0:  # bound the running sums' rounding drift
                members.total, members.total_sq = math.fsum(kept), math.fsum(v * v for v in kept)
            n = len(kept)
            mean = members.total / n
            std = math.sqrt(max(members.total_sq / n - mean * mean, 0.0))
            members.threshold = max(members.threshold, mean - std)

    @staticmethod
    def _insert(members: _ClassSet, row: NDArray[np.float32]) -> None:
        members.points[members.cursor] = row
        members.cursor = (members.cursor + 1) % len(members.points)
        members.size = min(members.size + 1, len(members.points))

    def _cover(self, state: _KeyState, x: NDArray[np.float64]) -> None:
        assert self._lo is not None and self._hi is not None
        lo_b = np.broadcast_to(self._lo, (x.shape[1],))
        hi_b = np.broadcast_to(self._hi, (x.shape[1],))
        low, high = x.min(axis=0), x.max(axis=0)
        state.low = low if state.low is None else np.minimum(state.low, low)
        state.high = high if state.high is None else np.maximum(state.high, high)
        bins = self.settings.bins
        idx = np.clip(((x - lo_b) / (hi_b - lo_b) * bins).astype(np.int64), 0, bins - 1)
        if state.cells is None:
            state.cells = np.zeros((x.shape[1], bins), dtype=bool)
        state.cells[np.arange(x.shape[1])[None, :].repeat(len(x), 0), idx] = True

    def _coverage(self, state: _KeyState) -> Coverage | None:
        if (
            self._lo is None
            or self._hi is None
            or state.low is None
            or state.high is None
            or state.cells is None
        ):
            return None
        lo_b = np.broadcast_to(self._lo, state.low.shape)
        hi_b = np.broadcast_to(self._hi, state.low.shape)
        span = np.clip(np.minimum(state.high, hi_b) - np.maximum(state.low, lo_b), 0.0, None)
        return Coverage(
            queries=state.queries,
            feature_range=float(np.mean(span / (hi_b - lo_b))),
            cell_fraction=float(state.cells.mean()),
            classes_seen=len(state.classes),
        )

    def _w(self, state: _KeyState) -> tuple[float | None, int]:
        if len(state.distances) <= self.settings.min_samples:
            return None, len(state.distances)
        d = np.fromiter(state.distances, dtype=np.float64)
        mean, std = d.mean(), d.std()
        kept = d[np.abs(d - mean) <= self.settings.outlier_sigma * std] if std > 0 else d
        if len(kept) < 3 or np.ptp(kept) == 0:
            # Identical distances (a thief replaying one step size) are as far from normal as it gets.
            return 0.0, len(kept)
        from scipy.stats import shapiro

        return float(shapiro(kept).statistic), len(kept)

    def _judge(self, key_id: str, state: _KeyState) -> Alert | None:
        coverage = self._coverage(state)
        if state.w is None or state.untested >= self.settings.test_every:
            state.w, state.w_samples = self._w(state)
            if state.w is not None:
                state.untested = 0
        w, used = state.w, state.w_samples
        detector, statistic, threshold, samples = "", 0.0, 0.0, 0
        if w is not None and w < self.settings.delta:
            detector, statistic, threshold, samples = "prada", w, self.settings.delta, used
        elif (
            self.settings.max_cell_fraction is not None
            and coverage is not None
            and state.queries > self.settings.min_samples
            and coverage.cell_fraction > self.settings.max_cell_fraction
        ):
            detector, statistic = "coverage", coverage.cell_fraction
            threshold, samples = self.settings.max_cell_fraction, state.queries
        if not detector:
            return None
        first, state.alarmed = not state.alarmed, True
        return Alert(
            key_id, detector, statistic, threshold, state.queries, samples, first, coverage
        )
