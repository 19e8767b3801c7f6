"""Keeping perturbations legal: inside the epsilon ball around x and inside the data domain.

The ball is the threat model (what the attacker may change); the domain is what the input can
be at all (pixel range, per-feature bounds of tabular data). Projecting onto the ball and then
clipping to a box that contains ``x`` never leaves the ball: clipping only moves each coordinate
towards ``x``.

    >>> d = project(torch.full((1, 4), 0.5), "l2", 0.5)
    >>> round(float(d.norm()), 6)
    0.5
"""

from __future__ import annotations

from typing import Literal

import torch

__all__ = ["NORMS", "Bound", "Norm", "clip_domain", "lp_norm", "project", "random_start"]

Norm = Literal["linf", "l2"]
NORMS: tuple[str, ...] = ("linf", "l2")
Bound = float | torch.Tensor | None


def check_norm(norm: str) -> Norm:
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; choose one of {list(NORMS)}")
    return norm  # type: ignore[return-value]


def _view(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Per-input scalars shaped to broadcast over one input's features."""
    return v.view(-1, *([1] * (like.dim() - 1)))


def lp_norm(delta: torch.Tensor, norm: Norm) -> torch.Tensor:
    """Per-input norm of a batch of perturbations."""
    flat = delta.flatten(1)
    return flat.abs().amax(dim=1) if norm == "linf" else flat.norm(p=2, dim=1)


def project(delta: torch.Tensor, norm: Norm, eps: float) -> torch.Tensor:
    """The closest perturbation with norm at most ``eps`` (per input)."""
    if norm == "linf":
        return delta.clamp(-eps, eps)
    n = lp_norm(delta, "l2")
    scale = torch.clamp(eps / (n + 1e-12), max=1.0)
    return delta * _view(scale, delta)


def clip_domain(x: torch.Tensor, lo: Bound, hi: Bound) -> torch.Tensor:
    """Clip to ``[lo, hi]``; bounds are scalars, per-feature tensors, or None for unbounded."""
    if lo is None and hi is None:
        return x
    lo_t = torch.as_tensor(lo, dtype=x.dtype, device=x.device) if lo is not None else None
    hi_t = torch.as_tensor(hi, dtype=x.dtype, device=x.device) if hi is not None else None
    return torch.clamp(x, min=lo_t, max=hi_t)


def random_start(x: torch.Tensor, norm: Norm, eps: float, gen: torch.Generator) -> torch.Tensor:
    """A random perturbation inside the ball: uniform in the cube (L-inf), uniform in the ball (L2)."""
    if norm == "linf":
        u = torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype)
        return (2 * u - 1) * eps
    g = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
    direction = g / _view(lp_norm(g, "l2") + 1e-12, g)
    d = x[0].numel()
    r = torch.rand(len(x), generator=gen, device=x.device, dtype=x.dtype) ** (1.0 / d)
    return direction * _view(r * eps, x)
