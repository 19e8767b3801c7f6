"""What every training recipe shares: a pipeline model's data and a fresh module, and a finish that
writes the trained model and its signed provenance together or not at all.

Recipes (``dp``, ``adversarial``, ``robust``, ``federated``) train a *fresh* module from the
model's builder on its ``train_data`` and measure on its ``test_data``; the written model is a
safetensors state_dict that the same builder loads, so ``pipeshield audit`` and ``serve`` can use
it by pointing ``models.NAME.path`` at it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeshield.core.files import atomic_write_bytes
from pipeshield.core.pipeline import Pipeline
from pipeshield.errors import ConfigError

if TYPE_CHECKING:
    import torch

    from pipeshield.integrity.provenance import AttestResult

__all__ = ["ModelData", "build_module", "check_signing_key", "default_output", "model_data", "write_trained"]


@dataclass(frozen=True)
class ModelData:
    """A pipeline model's training and test data, labels as class indices into ``classes``."""

    model: str
    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    classes: np.ndarray
    input_shape: tuple[int, ...] | None
    dataset_paths: tuple[Path, ...]

    def shaped(self, x: np.ndarray) -> np.ndarray:
        """Rows reshaped to the model's declared input shape (float32)."""
        rows = np.asarray(x, dtype=np.float32)
        return rows.reshape((-1, *self.input_shape)) if self.input_shape else rows


def model_data(pipeline: Pipeline, name: str) -> ModelData:
    """Load ``models.NAME``'s train (required) and test (optional) data; errors name the key."""
    from pipeshield.core.datasets import load_dataset

    if name not in pipeline.models:
        known = ", ".join(pipeline.models) or "none"
        raise ConfigError(f"--model: no model named {name!r} in {pipeline.source} (models: {known})")
    spec = pipeline.models[name]
    if spec.train_data is None:
        raise ConfigError(f"{pipeline.source}: models.{name}.train_data: training needs the model's training dataset")
    train = load_dataset(pipeline, spec.train_data)
    if train.y is None:
        raise ConfigError(f"{pipeline.source}: datasets.{spec.train_data}: training data needs labels (`label = ...`)")
    test = load_dataset(pipeline, spec.test_data) if spec.test_data else None
    classes = np.unique(train.y)
    if test is not None and test.y is not None:
        unknown = np.setdiff1d(np.unique(test.y), classes)
        if len(unknown):
            raise ConfigError(f"{pipeline.source}: datasets.{spec.test_data}: label {unknown[0]!r} never occurs in "
                              f"the training data (datasets.{spec.train_data})")
    paths = [pipeline.resolve(pipeline.datasets[spec.train_data].path)]
    if spec.test_data:
        paths.append(pipeline.resolve(pipeline.datasets[spec.test_data].path))
    return ModelData(
        model=name,
        x=np.asarray(train.x, dtype=np.float32),
        y=np.searchsorted(classes, train.y).astype(np.int64),
        x_test=None if test is None else np.asarray(test.x, dtype=np.float32),
        y_test=None if test is None or test.y is None else np.searchsorted(classes, test.y).astype(np.int64),
        classes=classes,
        input_shape=tuple(spec.input_shape) if spec.input_shape else None,
        dataset_paths=tuple(paths),
    )


def build_module(pipeline: Pipeline, name: str) -> torch.nn.Module:
    """A fresh (untrained) module from ``models.NAME.builder``; a model without one is refused."""
    from pipeshield.core.targets.torch import _build

    spec = pipeline.models[name]
    if spec.builder is None:
        raise ConfigError(
            f"{pipeline.source}: models.{name}.builder: training recipes retrain the model from its builder "
            "(a callable returning the nn.Module); add `builder = \"module:function\"`"
        )
    return _build(pipeline, name)


def default_output(pipeline: Pipeline, name: str, recipe: str) -> Path:
    """``models/NAME.RECIPE.safetensors`` beside the model's file."""
    model_path = pipeline.resolve(pipeline.models[name].path)
    return model_path.with_name(f"{name}.{recipe}.safetensors")


def check_signing_key(key: Path | str | None, passphrase: str | None = None) -> Path:
    """Fail before training, not after it, when the provenance cannot be signed."""
    from pipeshield.integrity.keys import load_private_key

    if key is None:
        raise ConfigError(
            "--key: every training run records a signed provenance attestation; pass the private key "
            "(or set PIPESHIELD_SIGNING_KEY; `pipeshield keygen` writes one)"
        )
    load_private_key(key, passphrase)
    return Path(key)


def write_trained(
    model: torch.nn.Module | bytes,
    out: Path,
    *,
    key: Path | str,
    recipe: str,
    datasets: Sequence[Path],
    hyperparameters: Mapping[str, Any],
    guarantee: Mapping[str, Any],
    base_models: Sequence[Path] = (),
    passphrase: str | None = None,
    state: Callable[[torch.nn.Module], Mapping[str, torch.Tensor]] | None = None,
) -> AttestResult:
    """Write the model to ``out`` (atomically) and its signed provenance beside it.

    ``model`` is a module (its state_dict is saved as safetensors) or the file's bytes already
    serialised (e.g. a scikit-learn model as skops). If the attestation cannot be written the model
    is removed again: a model without its provenance is never left behind. ``state`` maps the module
    to the tensors to save (default: its ``state_dict``; a wrapped module passes a function that
    unwraps it).
    """
    from pipeshield.training.provenance import record_training

    if isinstance(model, bytes):
        data = model
    else:
        from safetensors.torch import save as save_safetensors

        tensors = dict(state(model) if state else model.state_dict())
        data = save_safetensors({k: v.detach().cpu().contiguous() for k, v in tensors.items()})
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, data)
    try:
        return record_training(
            out, key=key, recipe=recipe, datasets=datasets, base_models=base_models,
            hyperparameters=hyperparameters, guarantee=guarantee, passphrase=passphrase,
        )
    except BaseException:
        out.unlink(missing_ok=True)
        raise
