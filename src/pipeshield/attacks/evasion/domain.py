"""The data domain of an evasion attack: which inputs exist at all, feature by feature.

An adversarial example the pipeline could never receive proves nothing: a pixel of 1.3, an age of
41.6 or a "country" code moved by 0.1. The pipeline file declares the domain per dataset
(``[datasets.NAME.domain]``: ``clip``, per-feature ``bounds``, ``integer``, ``categorical`` and
``immutable`` features, see :class:`~pipeshield.core.pipeline.DomainSpec`); :class:`Domain` turns
it into what the attacks use:

- :meth:`Domain.clip_for` gives per-input box bounds with the frozen (categorical, immutable)
  features pinned to the clean value, so every attack step already stays legal;
- :meth:`Domain.finalize` rounds integer features to a whole number that is still inside the
  epsilon ball and the bounds (or back to the clean value), after the attack; the caller then
  re-asks the model, so only legal inputs count as successes;
- :meth:`Domain.normalized` measures epsilon in units of each feature's range, for tabular data
  whose features live on different scales (an age and a ratio): attacks run on ``(x - lo) / (hi -
  lo)`` through :func:`scaled_target` or :func:`scaled_module`, and integer features are still
  rounded in their own units.

    >>> d = Domain.box(3, (0.0, 1.0))
    >>> d.clip_for(np.zeros((2, 3)))[1].shape
    (2, 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeshield.errors import DatasetError

if TYPE_CHECKING:
    from pipeshield.core.pipeline import DomainSpec

__all__ = ["Domain", "scaled_module", "scaled_target"]

_TOL = 1e-6


@dataclass(frozen=True, eq=False)
class Domain:
    """Per-feature bounds (``-inf``/``inf`` where open) and masks over the flattened features."""

    lo: np.ndarray
    hi: np.ndarray
    integer: np.ndarray
    frozen: np.ndarray
    names: tuple[str, ...]
    offset: np.ndarray | None = None  # set by normalized(): raw = offset + unit * scale
    scale: np.ndarray | None = None

    @classmethod
    def box(cls, n_features: int, clip: tuple[float, float] | None) -> Domain:
        """Every feature in ``clip`` (unbounded with ``None``), none integer or frozen."""
        lo, hi = (float("-inf"), float("inf")) if clip is None else (float(clip[0]), float(clip[1]))
        return cls(
            np.full(n_features, lo),
            np.full(n_features, hi),
            np.zeros(n_features, dtype=bool),
            np.zeros(n_features, dtype=bool),
            tuple(f"x{i}" for i in range(n_features)),
        )

    @classmethod
    def from_spec(
        cls,
        spec: DomainSpec | None,
        feature_names: Sequence[str],
        where: str,
        default_clip: tuple[float, float] | None = None,
    ) -> Domain:
        """The domain a dataset declares; ``where`` (``datasets.NAME.domain``) names errors."""
        names = tuple(str(n) for n in feature_names)
        clip = spec.clip if spec is not None and spec.clip is not None else default_clip
        base = cls.box(len(names), clip)
        if spec is None:
            return cls(base.lo, base.hi, base.integer, base.frozen, names)
        index = {n: i for i, n in enumerate(names)}

        def position(field: str, name: str) -> int:
            if name not in index:
                shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
                raise DatasetError(f"{where}.{field}: no feature named {name!r} (features: {shown})")
            return index[name]

        lo, hi = base.lo.copy(), base.hi.copy()
        for name, (b_lo, b_hi) in spec.bounds.items():
            i = position("bounds", name)
            lo[i], hi[i] = b_lo, b_hi
        integer = np.zeros(len(names), dtype=bool)
        frozen = np.zeros(len(names), dtype=bool)
        for name in spec.integer:
            integer[position("integer", name)] = True
        for field in ("categorical", "immutable"):
            for name in getattr(spec, field):
                frozen[position(field, name)] = True
        return cls(lo, hi, integer, frozen, names)

    @property
    def n_features(self) -> int:
        return len(self.lo)

    @property
    def bounded(self) -> bool:
        return bool(np.isfinite(self.lo).any() or np.isfinite(self.hi).any())

    @property
    def is_box(self) -> bool:
        """No integer or frozen features: plain clipping is the whole domain."""
        return not (self.integer.any() or self.frozen.any())

    def scalar_clip(self) -> tuple[float, float] | None:
        """``(lo, hi)`` when every feature shares one finite range, else ``None``."""
        if len(self.lo) and np.all(self.lo == self.lo[0]) and np.all(self.hi == self.hi[0]):
            if np.isfinite(self.lo[0]) and np.isfinite(self.hi[0]):
                return float(self.lo[0]), float(self.hi[0])
        return None

    def _flat(self, x: np.ndarray) -> np.ndarray:
        flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        if flat.shape[1] != self.n_features:
            raise ValueError(
                f"inputs have {flat.shape[1]} features but the domain describes {self.n_features}"
            )
        return flat

    def clip_for(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bounds shaped like ``x``: the declared box, frozen features pinned to ``x``."""
        flat = self._flat(x)
        lo = np.broadcast_to(self.lo, flat.shape).copy()
        hi = np.broadcast_to(self.hi, flat.shape).copy()
        lo[:, self.frozen] = flat[:, self.frozen]
        hi[:, self.frozen] = flat[:, self.frozen]
        shape = np.shape(x)
        return lo.reshape(shape), hi.reshape(shape)

    def check(self, x: np.ndarray, where: str) -> None:
        """Refuse clean inputs outside the declared domain: the declaration or the data is wrong."""
        flat = self._flat(x)
        low = flat < self.lo - _TOL
        high = flat > self.hi + _TOL
        bad = low | high
        if bad.any():
            row, col = (int(v[0]) for v in np.nonzero(bad))
            raise DatasetError(
                f"{where}: row {row}, feature {self.names[col]!r} is {flat[row, col]:g}, outside "
                f"the declared domain [{self.lo[col]:g}, {self.hi[col]:g}] "
                f"({int(bad.any(axis=1).sum())} rows out of range)",
                hint="fix the domain's clip/bounds, or the data",
            )
        frac = np.abs(flat[:, self.integer] - np.round(flat[:, self.integer])) > _TOL
        if frac.any():
            row, k = (int(v[0]) for v in np.nonzero(frac))
            col = int(np.flatnonzero(self.integer)[k])
            raise DatasetError(
                f"{where}: row {row}, feature {self.names[col]!r} is {flat[row, col]:g}, but the "
                "domain declares it integer"
            )

    def normalized(self, where: str = "domain") -> Domain:
        """This domain in units of each feature's range: every bounded feature runs over [0, 1].

        Needs finite bounds on every feature an attacker may change; frozen features keep their
        value, so their range does not matter.
        """
        open_ = ~(np.isfinite(self.lo) & np.isfinite(self.hi)) & ~self.frozen
        if open_.any():
            raise ValueError(
                f"{where}: eps in units of the feature range needs finite bounds, but "
                f"{self.names[int(np.flatnonzero(open_)[0])]!r} has none"
            )
        offset = np.where(np.isfinite(self.lo), self.lo, 0.0)
        width = np.where(np.isfinite(self.hi - self.lo) & (self.hi > self.lo), self.hi - self.lo, 1.0)
        return Domain(
            np.zeros(self.n_features),
            np.where(self.hi > self.lo, 1.0, 0.0),
            self.integer,
            self.frozen,
            self.names,
            offset,
            width,
        )

    def to_units(self, x: np.ndarray) -> np.ndarray:
        """Raw inputs in this domain's coordinates (unchanged unless :meth:`normalized`)."""
        if self.offset is None or self.scale is None:
            return np.asarray(x)
        flat = (self._flat(x) - self.offset) / self.scale
        return np.asarray(flat.reshape(np.shape(x)), dtype=np.asarray(x).dtype)

    def to_raw(self, z: np.ndarray) -> np.ndarray:
        """Inputs in this domain's coordinates back in the data's own units."""
        if self.offset is None or self.scale is None:
            return np.asarray(z)
        flat = self._flat(z) * self.scale + self.offset
        return np.asarray(flat.reshape(np.shape(z)), dtype=np.asarray(z).dtype)

    def finalize(self, x: np.ndarray, x_adv: np.ndarray, norm: str, eps: float) -> np.ndarray:
        """``x_adv`` made legal: frozen features reset, integer features whole and in the ball.

        L-inf: each integer feature goes to the nearer of floor/ceil that is within ``eps`` of the
        clean value, else back to it. L2: integers are rounded; an input whose rounded perturbation
        leaves the ball gets its integer features reset to the clean ones (the rest was legal).
        """
        shape = np.shape(x_adv)
        clean, adv = self._flat(x), self._flat(x_adv).copy()
        adv[:, self.frozen] = clean[:, self.frozen]
        if self.integer.any():
            # integers are whole in the data's own units; the ball is measured in this domain's
            unit = self.scale if self.scale is not None else np.ones(self.n_features)
            raw_clean, raw_adv = self.to_raw(clean), self.to_raw(adv)
            cols = self.integer
            v, c, w = raw_adv[:, cols], raw_clean[:, cols], unit[cols]
            near = np.round(v)
            far = np.where(near > v, np.floor(v), np.ceil(v))
            if norm == "linf":
                ok_near = np.abs(near - c) / w <= eps + _TOL
                ok_far = np.abs(far - c) / w <= eps + _TOL
                raw_adv[:, cols] = np.where(ok_near, near, np.where(ok_far, far, c))
            else:
                raw_adv[:, cols] = near
                over = np.linalg.norm((raw_adv - raw_clean) / unit, axis=1) > eps * (1 + 1e-9) + _TOL
                raw_adv[np.ix_(over, cols)] = c[over]
            adv = self.to_units(raw_adv)
        adv = np.clip(adv, self.lo, self.hi)
        return np.asarray(adv.reshape(shape), dtype=np.asarray(x_adv).dtype)

    def describe(self) -> str:
        """One line for reports: what the attacks were allowed to change."""
        parts = ["eps in units of each feature's range, each kept inside it"] if self.scale is not None else []
        clip = self.scalar_clip() if self.scale is None else None
        if self.scale is not None:
            pass
        elif clip is not None:
            parts.append(f"inputs clipped to [{clip[0]:g}, {clip[1]:g}]")
        elif self.bounded:
            parts.append("per-feature bounds")
        if self.integer.any():
            parts.append(f"{int(self.integer.sum())} integer feature(s) kept whole")
        if self.frozen.any():
            parts.append(f"{int(self.frozen.sum())} categorical/immutable feature(s) left unchanged")
        return "; ".join(parts) or "unbounded inputs"

    def to_dict(self) -> dict[str, Any]:
        clip = self.scalar_clip()
        return {
            "units": "feature-range" if self.scale is not None else "absolute",
            "clip": list(clip) if clip is not None else None,
            "bounded_features": int((np.isfinite(self.lo) | np.isfinite(self.hi)).sum()),
            "integer": [n for n, f in zip(self.names, self.integer) if f],
            "frozen": [n for n, f in zip(self.names, self.frozen) if f],
        }


class _ScaledTarget:
    """A black-box Target seen in a normalized domain's units (queries go out in raw units)."""

    def __init__(self, target: Any, domain: Domain) -> None:
        self.target, self.domain = target, domain
        self.name = getattr(target, "name", "model")
        self.classes = getattr(target, "classes", None)
        self.white_box = False

    def predict_proba(self, z: np.ndarray) -> np.ndarray:
        raw = self.domain.to_raw(np.asarray(z, dtype=np.float64)).astype(np.float32)
        return np.asarray(self.target.predict_proba(raw))


def scaled_target(target: Any, domain: Domain) -> Any:
    """``target`` taking inputs in ``domain``'s units (itself when the domain is not normalized)."""
    return target if domain.scale is None else _ScaledTarget(target, domain)


def scaled_module(module: Any, domain: Domain) -> Any:
    """A torch module taking inputs in ``domain``'s units: ``module(offset + z * scale)``."""
    if domain.scale is None or domain.offset is None:
        return module
    import torch

    class _Affine(torch.nn.Module):
        def __init__(self, offset: np.ndarray, scale: np.ndarray) -> None:
            super().__init__()
            self.register_buffer("offset", torch.as_tensor(offset, dtype=torch.float32))
            self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            flat = z.flatten(1) * self.get_buffer("scale") + self.get_buffer("offset")
            return flat.view(z.shape)

    dev = next(iter(module.parameters()), torch.empty(0)).device
    return torch.nn.Sequential(_Affine(domain.offset, domain.scale).to(dev), module)
