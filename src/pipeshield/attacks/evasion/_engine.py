"""What every white-box attack shares: the model as a frozen module on its own device, the
input gradient, the result type, and the invariants a result must satisfy.

Gradients come from ``torch.autograd.grad`` with respect to the input only, with parameters
frozen for the duration of the attack: weight gradients are never needed and ``backward()``
would cost ~1.5x (REFERENCES.md). The user's module is restored as it was afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from pipeshield.attacks.evasion.losses import Loss
from pipeshield.attacks.evasion.projections import Bound, Norm, lp_norm
from pipeshield.errors import TargetError

__all__ = [
    "AttackResult",
    "as_module",
    "check_result",
    "frozen",
    "input_grad",
    "is_success",
    "prepare",
]


@dataclass(frozen=True)
class AttackResult:
    """Adversarial inputs (same shape as ``x``) and which of them fool the model."""

    x_adv: torch.Tensor
    success: torch.Tensor  # bool, one per input

    @property
    def success_rate(self) -> float:
        return float(self.success.float().mean()) if len(self.success) else 0.0


def as_module(model: Any) -> torch.nn.Module:
    """A ``torch.nn.Module``, or a white-box Target that wraps one (``TorchTarget.module``)."""
    if isinstance(model, torch.nn.Module):
        return model
    module = getattr(model, "module", None)
    if isinstance(module, torch.nn.Module):
        return module
    raise TypeError(
        f"white-box attacks need a torch.nn.Module or a TorchTarget, got {type(model).__name__}"
    )


def device_of(module: torch.nn.Module) -> torch.device:
    p = next(iter(module.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


@contextmanager
def frozen(module: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Eval mode and no parameter gradients while attacking; the caller's settings come back."""
    was_training = module.training
    flags = [(p, p.requires_grad) for p in module.parameters()]
    module.eval()  # safe: nn.Module.eval() switches to inference mode
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        module.train(was_training)


def prepare(
    module: torch.nn.Module, x: Any, y: Any, target: Any = None
) -> tuple[torch.Tensor, ...]:
    """Inputs as float tensors and labels as long tensors, on the module's device."""
    dev = device_of(module)
    xt = torch.as_tensor(x, device=dev)
    if not xt.is_floating_point():
        xt = xt.float()
    yt = torch.as_tensor(y, device=dev).long()
    if len(xt) != len(yt):
        raise ValueError(f"{len(xt)} inputs but {len(yt)} labels")
    tt = torch.as_tensor(target, device=dev).long() if target is not None else None
    return (xt.detach(), yt, tt) if tt is not None else (xt.detach(), yt)


def input_grad(
    module: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    loss: Loss,
    target: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(gradient of the summed loss w.r.t. ``x``, per-input loss, logits) at ``x``."""
    xg = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = module(xg)
        per_input = loss(logits, y, target)
        (grad,) = torch.autograd.grad(per_input.sum(), xg)
    return grad, per_input.detach(), logits.detach()


def is_success(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
    """Untargeted: the prediction is not ``y``; targeted: the prediction is ``target``."""
    pred = logits.argmax(dim=1)
    return pred == target if target is not None else pred != y


def check_result(
    x: torch.Tensor, x_adv: torch.Tensor, norm: Norm, eps: float, lo: Bound, hi: Bound
) -> None:
    """Refuse to report numbers from an illegal attack: NaNs, or a perturbation outside the ball."""
    if torch.isnan(x_adv).any():
        raise TargetError(
            "the attack produced NaN inputs: the model's gradient is NaN on some inputs",
            hint="a NaN gradient is itself a gradient-masking sign; check the model's forward pass",
        )
    if not len(x):
        return
    # x + delta rounds to the input's precision: on features of size ~200 a float32 step is 1.5e-5
    ulp = float(torch.finfo(x.dtype).eps) * float(x.abs().max()) if x.is_floating_point() else 0.0
    slack = 1e-6 * max(1.0, eps) + 4 * ulp * (1.0 if norm == "linf" else float(x[0].numel()) ** 0.5)
    if float(lp_norm(x_adv - x, norm).max()) > eps + slack:
        raise RuntimeError(f"internal error: perturbation exceeds eps={eps} ({norm})")
    if lo is not None and bool(
        (x_adv < torch.as_tensor(lo, dtype=x.dtype, device=x.device) - 1e-6 - 4 * ulp).any()
    ):
        raise RuntimeError("internal error: adversarial input below the domain's lower bound")
    if hi is not None and bool(
        (x_adv > torch.as_tensor(hi, dtype=x.dtype, device=x.device) + 1e-6 + 4 * ulp).any()
    ):
        raise RuntimeError("internal error: adversarial input above the domain's upper bound")
