"""PyTorch targets: a state_dict (safetensors, or ``.pt`` with ``weights_only=True``) loaded into
the module a builder callable returns, or a TorchScript archive.

Gradients are taken with ``torch.autograd.grad`` with respect to the input only, parameters
frozen: computing weight gradients too costs ~1.5x for nothing (REFERENCES.md).
"""

from __future__ import annotations

import io
import pickle
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from pipeshield.core.pipeline import resolve_callable
from pipeshield.core.targets.base import model_errors, register_loader, reshape_input, softmax
from pipeshield.errors import TargetError

if TYPE_CHECKING:
    from pipeshield.core.pipeline import Pipeline

__all__ = ["TorchTarget"]

_BATCH = 1024


class TorchTarget:
    """A white-box torch model. ``module`` is in eval mode with frozen parameters."""

    white_box = True

    def __init__(
        self,
        name: str,
        module: torch.nn.Module,
        *,
        input_shape: list[int] | None = None,
        classes: np.ndarray | None = None,
    ) -> None:
        self.name = name
        self.module = module.eval()  # safe: nn.Module.eval() switches to inference mode
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.input_shape = input_shape
        self.classes = classes

    def _tensor(self, x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(reshape_input(x, self.input_shape, self.name)))

    def logits(self, x: np.ndarray) -> np.ndarray:
        xt = self._tensor(x)
        outs = []
        with torch.inference_mode(), model_errors(self.name, x):
            for i in range(0, len(xt), _BATCH):
                outs.append(self.module(xt[i : i + _BATCH]).float())
        out = torch.cat(outs) if outs else torch.empty(0)
        self._set_classes(out)
        return out.numpy().astype(np.float64)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return softmax(self.logits(x))

    def input_gradient(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        xt = self._tensor(x).clone().requires_grad_(True)
        yt = torch.as_tensor(np.asarray(y), dtype=torch.long)
        with model_errors(self.name, x):
            loss = torch.nn.functional.cross_entropy(self.module(xt), yt, reduction="sum")
            (grad,) = torch.autograd.grad(loss, xt)
        return grad.numpy().reshape(np.asarray(x).shape).astype(np.float64)

    def _set_classes(self, out: torch.Tensor) -> None:
        if self.classes is None and out.ndim == 2:
            self.classes = np.arange(out.shape[1])


def _build(pipeline: Pipeline, name: str) -> torch.nn.Module:
    spec = pipeline.models[name]
    assert spec.builder is not None  # the pipeline schema requires it for state_dicts
    builder = resolve_callable(spec.builder, pipeline, f"models.{name}.builder")
    try:
        module = builder(**spec.builder_args)
    except Exception as err:  # the user's builder: report, don't crash
        raise TargetError(
            f"{pipeline.source}: models.{name}.builder {spec.builder!r} failed: {type(err).__name__}: {err}"
        ) from None
    if not isinstance(module, torch.nn.Module):
        raise TargetError(f"models.{name}.builder {spec.builder!r} returned {type(module).__name__}, not an nn.Module")
    return module


def _load_state(module: torch.nn.Module, state: Any, where: str) -> None:
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise TargetError(f"{where}: expected a state_dict (a mapping of names to tensors)")
    result = module.load_state_dict(state, strict=False)
    problems = []
    if result.missing_keys:
        problems.append("missing " + ", ".join(result.missing_keys[:5]))
    if result.unexpected_keys:
        problems.append("unexpected " + ", ".join(result.unexpected_keys[:5]))
    if problems:
        raise TargetError(f"{where}: state_dict does not fit the builder's module ({'; '.join(problems)})")


@register_loader("safetensors")
def _load_safetensors(pipeline: Pipeline, name: str, data: bytes) -> TorchTarget:
    from safetensors import SafetensorError
    from safetensors.torch import load as load_safetensors

    spec = pipeline.models[name]
    where = f"{pipeline.display(spec.path)} (models.{name})"
    try:
        state = load_safetensors(data)
    except (SafetensorError, ValueError, RuntimeError) as err:
        raise TargetError(f"{where}: not a valid safetensors file: {err}") from None
    module = _build(pipeline, name)
    try:
        _load_state(module, state, where)
    except RuntimeError as err:  # shape mismatch; the tensor it names is on the following lines
        raise TargetError(f"{where}: {' '.join(str(err).split())}") from None
    return TorchTarget(name, module, input_shape=spec.input_shape)


@register_loader("torch")
def _load_torch(pipeline: Pipeline, name: str, data: bytes) -> TorchTarget:
    spec = pipeline.models[name]
    where = f"{pipeline.display(spec.path)} (models.{name})"
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        # torch's first line advises re-running with weights_only=False; the reason (the global
        # it refused) is further down, so report that line instead of the advice.
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
        first = next((ln for ln in lines if "GLOBAL" in ln or "Unsupported" in ln), "refused")
        raise TargetError(
            f"{where}: refused by the weights_only loader ({first})",
            hint="the file holds more than tensors; save model.state_dict() (safetensors preferred)",
        ) from None
    except (RuntimeError, EOFError, ValueError) as err:
        raise TargetError(f"{where}: not a torch file: {str(err).splitlines()[0] if str(err) else err}") from None
    module = _build(pipeline, name)
    try:
        _load_state(module, state, where)
    except RuntimeError as err:  # shape mismatch; the tensor it names is on the following lines
        raise TargetError(f"{where}: {' '.join(str(err).split())}") from None
    return TorchTarget(name, module, input_shape=spec.input_shape)


@register_loader("torchscript")
def _load_torchscript(pipeline: Pipeline, name: str, data: bytes) -> TorchTarget:
    spec = pipeline.models[name]
    where = f"{pipeline.display(spec.path)} (models.{name})"
    try:
        module = torch.jit.load(io.BytesIO(data), map_location="cpu")  # type: ignore[no-untyped-call]
    except (RuntimeError, ValueError) as err:
        raise TargetError(f"{where}: not a TorchScript archive: {str(err).splitlines()[0]}") from None
    return TorchTarget(name, module, input_shape=spec.input_shape)
