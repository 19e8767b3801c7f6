"""The Target protocol and the loader registry (adapters live in sibling modules)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from pipeshield.errors import ConfigError, TargetError

if TYPE_CHECKING:
    from pipeshield.core.pipeline import Pipeline

__all__ = ["WHITE_BOX_FORMATS", "Target", "WhiteBoxTarget", "load_endpoint_target", "load_target",
           "register_loader", "softmax"]

#: Model formats loaded as torch modules: the white-box attacks take their gradients.
WHITE_BOX_FORMATS: tuple[str, ...] = ("safetensors", "torch", "torchscript")


@runtime_checkable
class Target(Protocol):
    """A model that answers queries. ``classes`` maps output columns to label values."""

    name: str
    classes: np.ndarray | None
    white_box: bool

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities, shape ``(n, n_classes)``, rows summing to 1."""
        ...


@runtime_checkable
class WhiteBoxTarget(Target, Protocol):
    """A differentiable model: logits and input gradients (torch)."""

    def logits(self, x: np.ndarray) -> np.ndarray: ...

    def input_gradient(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Gradient of the cross-entropy loss with respect to the input only."""
        ...


Loader = Callable[["Pipeline", str, bytes], Target]
_LOADERS: dict[str, Loader] = {}
# The module that provides each format; imported on first use so torch loads only when needed.
_PROVIDERS = {
    "safetensors": "pipeshield.core.targets.torch",
    "torch": "pipeshield.core.targets.torch",
    "torchscript": "pipeshield.core.targets.torch",
    "skops": "pipeshield.core.targets.sklearn",
    "onnx": "pipeshield.core.targets.onnx",
}


def register_loader(*formats: str) -> Callable[[Loader], Loader]:
    """Register a function ``(pipeline, model_name, file_bytes) -> Target`` for file formats."""

    def deco(fn: Loader) -> Loader:
        for fmt in formats:
            _LOADERS[fmt] = fn
        return fn

    return deco


def load_target(pipeline: Pipeline, name: str) -> Target:
    """Load model ``name`` of the pipeline with the safe loader for its format.

    The file is read once and the loader parses those same bytes: nothing can swap the file
    between a digest check and the load.
    """
    _loader_for(pipeline, name)  # a config mistake is reported before the file is read
    path = pipeline.resolve(pipeline.models[name].path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise TargetError(f"{pipeline.display(path)} (models.{name}): cannot read: {err.strerror}") from None
    return load_target_bytes(pipeline, name, data)


def load_target_bytes(pipeline: Pipeline, name: str, data: bytes) -> Target:
    """Load model ``name`` from ``data``, bytes the caller already read (and verified, scanned):
    the gateway checks the signature and the scan on the same bytes it then serves."""
    return _loader_for(pipeline, name)(pipeline, name, data)


def _loader_for(pipeline: Pipeline, name: str) -> Loader:
    if name not in pipeline.models:
        raise ConfigError(f"{pipeline.source}: no model named {name!r}")
    fmt = str(pipeline.models[name].format)
    if fmt not in _LOADERS and fmt in _PROVIDERS:
        importlib.import_module(_PROVIDERS[fmt])
    loader = _LOADERS.get(fmt)
    if loader is None:
        raise ConfigError(f"{pipeline.source}: models.{name}.format: no loader for {fmt!r}")
    return loader


def load_endpoint_target(pipeline: Pipeline, **options: Any) -> Target:
    """The pipeline's served endpoint as a (black-box) target."""
    from pipeshield.core.targets.http import HttpTarget

    if pipeline.endpoint is None:
        raise ConfigError(f"{pipeline.source}: no [endpoint] section")
    return HttpTarget.from_spec(pipeline.endpoint, **options)


@contextmanager
def model_errors(name: str, x: np.ndarray) -> Iterator[None]:
    """Turn a framework's complaint about its input into a TargetError that names the model and
    the shape it was given: a dataset that does not fit its model is a configuration mistake."""
    try:
        yield
    except TargetError:
        raise
    except Exception as err:  # torch, sklearn and onnxruntime raise assorted types for bad input
        first = next((ln.strip() for ln in str(err).splitlines() if ln.strip()), type(err).__name__)
        raise TargetError(
            f"models.{name}: the model rejected input of shape {tuple(np.shape(x))}: {first[:300]}",
            hint=f"check models.{name}.test_data / train_data, features and input_shape",
        ) from None


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def reshape_input(x: np.ndarray, shape: list[int] | None, where: str) -> np.ndarray:
    """Rows of flat features reshaped to the model's input shape (when one is configured)."""
    x = np.asarray(x, dtype=np.float32)
    if shape is None:
        return x
    per_row = int(np.prod(shape))
    flat = x.reshape(len(x), -1)
    if flat.shape[1] != per_row:
        raise TargetError(
            f"models.{where}: input has {flat.shape[1]} features per row, "
            f"models.{where}.input_shape {shape} needs {per_row}"
        )
    return flat.reshape(len(x), *shape)
