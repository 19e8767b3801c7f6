"""``pipeshield train robust`` as a library call: retrain a pipeline model with a poisoning defence,
measure it, and write the model with its signed provenance.

Methods: ``sanitize`` (scan the training set with the data defences, drop or relabel what they
flag, train), ``trim`` (per-sample loss trimming while training) and ``both`` (trim while training
on the sanitized rows). A torch model is rebuilt from ``models.NAME.builder`` and trained here
(Adam, the chosen loss); a scikit-learn model is retrained with ``models.NAME.training``
(sanitize only: trimming needs per-sample losses during training) and written as skops.

Measured, on ``models.NAME.test_data``: clean accuracy of the defended model and -- for sanitize,
whose probe model *is* the undefended one, trained on the raw rows -- of the undefended model. With
a ground-truth mask (``pipeshield attack poison --mask``), the rows the defence removed, relabelled
or trimmed are scored (precision / recall / FPR), and when the mask records a trigger and target
class the backdoor's attack success rate is measured on the triggered test rows, with and without
the defence.

    >>> run = train_robust("pipeshield.toml", "digits_cnn", RobustConfig(method="sanitize"),
    ...                    key=".private/demo-signing.key")                 # doctest: +SKIP
    >>> run.to_dict()["cleaning"]["removed"], run.clean_accuracy
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from pipeshield.attacks.success import attack_success_rate
from pipeshield.attacks.trainers import Classifier, wrap_model
from pipeshield.attacks.triggers import PatchTrigger, Trigger, ValueTrigger
from pipeshield.core.pipeline import Pipeline
from pipeshield.data.poisoning.registry import DETECTORS, ScanConfig
from pipeshield.data.poisoning.results import detection_metrics
from pipeshield.errors import ConfigError, DatasetError, PipeshieldError, TargetError
from pipeshield.training._common import (
    ModelData,
    build_module,
    check_signing_key,
    default_output,
    model_data,
    write_trained,
)
from pipeshield.training.robust.losses import per_sample_loss
from pipeshield.training.robust.sanitize import (
    ACTIONS,
    Cleaning,
    check_detectors,
    sanitize_then_train,
)
from pipeshield.training.robust.trimming import TrimResult, check_trim, fit_module, trimmed_train

__all__ = ["METHODS", "Measured", "RobustConfig", "RobustRun", "train_robust"]

METHODS = ("sanitize", "trim", "both")

#: ``progress(stage, done, total)``; stages: "probe" (undefended model), "scan", "train"
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class RobustConfig:
    """The defence and the training settings; invalid values are refused here, before any training."""

    method: str = "sanitize"
    action: str = "drop"
    detectors: tuple[str, ...] | None = None
    trim: float = 0.1
    warmup: int = 5
    epochs: int = 40
    loss: str = "cross-entropy"
    lr: float = 2e-3
    batch_size: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"--method: expected one of {', '.join(METHODS)} (got {self.method!r})")
        if self.action not in ACTIONS:
            raise ConfigError(f"--action: expected drop or relabel (got {self.action!r})")
        object.__setattr__(self, "detectors", check_detectors(self.detectors, option="--detectors"))
        if self.method != "sanitize":
            check_trim(self.trim, option="--trim")
            if not 0 <= self.warmup < self.epochs:
                raise ConfigError(f"--warmup: must be at least 0 and below --epochs {self.epochs} (got {self.warmup})")
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0:
            raise ConfigError("--epochs and the batch size must be at least 1, the learning rate positive")
        per_sample_loss(self.loss, option="--loss")

    @property
    def recipe(self) -> str:
        return "loss-trimming" if self.method == "trim" else "sanitize-then-train"

    def hyperparameters(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method, "epochs": self.epochs, "loss": self.loss, "lr": self.lr,
                               "batch_size": self.batch_size, "seed": self.seed, "optimizer": "adam"}
        if self.method != "trim":
            out.update(action=self.action, detectors=list(self.detectors or DETECTORS))
        if self.method != "sanitize":
            out.update(trim=self.trim, warmup_epochs=self.warmup)
        return out


@dataclass(frozen=True)
class Measured:
    """Clean accuracy on the test data and, when the mask names a trigger, the attack success rate."""

    clean_accuracy: float | None = None
    attack_success_rate: float | None = None

    def to_dict(self) -> dict[str, float | None]:
        return {"clean_accuracy": _round(self.clean_accuracy), "attack_success_rate": _round(self.attack_success_rate)}


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 4)


@dataclass(frozen=True)
class RobustRun:
    model: str
    config: RobustConfig
    output: Path
    provenance: Path
    n_rows: int
    defended: Measured
    undefended: Measured | None = None
    cleaning: Cleaning | None = None
    trimming: TrimResult | None = None
    warnings: tuple[str, ...] = ()
    guarantee: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "recipe": self.config.recipe,
            "method": self.config.method,
            "output": str(self.output),
            "provenance": str(self.provenance),
            "n_rows": self.n_rows,
            "defended": self.defended.to_dict(),
            "undefended": None if self.undefended is None else self.undefended.to_dict(),
            "cleaning": None if self.cleaning is None else self.cleaning.to_dict(),
            "trimming": None if self.trimming is None else self.trimming.to_dict(),
            "hyperparameters": self.config.hyperparameters(),
            "guarantee": self.guarantee,
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class _Truth:
    mask: np.ndarray
    trigger: Trigger | None
    target: int | None


def _truth(path: Path, data: ModelData) -> _Truth:
    from pipeshield.data.poisoning.scan import load_mask

    mask = load_mask(path, len(data.x))
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict) or "target_class" not in raw or not isinstance(raw.get("trigger"), dict):
        return _Truth(mask, None, None)
    spec, target = raw["trigger"], raw["target_class"]
    matches = np.flatnonzero(data.classes.astype(str) == str(target))
    if not len(matches):
        raise DatasetError(f"{path}: target_class {target!r} is not a label of the training data")
    try:
        trigger: Trigger | None
        if spec.get("kind") == "patch":
            trigger = PatchTrigger(tuple(spec["image_shape"]), int(spec.get("size", 2)),
                                   str(spec.get("position", "bottom-right")), float(spec.get("value", 1.0)))
        elif spec.get("kind") == "value":
            trigger = ValueTrigger(tuple(spec["columns"]), tuple(float(v) for v in spec["values"]))
        else:
            trigger = None
    except (KeyError, TypeError, ValueError) as err:
        raise DatasetError(f"{path}: trigger: not the record `pipeshield attack poison` writes ({err})") from None
    return _Truth(mask, trigger, int(matches[0]))


def _measure(model: Any, data: ModelData, truth: _Truth | None) -> Measured:
    if data.x_test is None or data.y_test is None:
        return Measured()
    clf: Classifier = wrap_model(model, data.classes, f"models.{data.model}", input_shape=data.input_shape)
    acc = float((clf.predict(data.x_test) == data.y_test).mean())
    asr = None
    if truth is not None and truth.trigger is not None and truth.target is not None:
        asr, _ = attack_success_rate(clf, data.x_test, data.y_test, trigger=truth.trigger, target=truth.target)
    return Measured(acc, asr)


def _resolve(pipeline: Path | str | Pipeline) -> Pipeline:
    if isinstance(pipeline, Pipeline):
        return pipeline
    from pipeshield.core.pipeline import load_pipeline

    return load_pipeline(Path(pipeline))


def train_robust(
    pipeline: Path | str | Pipeline, model: str, config: RobustConfig | None = None, *, key: Path | str | None,
    out: Path | None = None, passphrase: str | None = None, poison_mask: Path | None = None,
    progress: Progress | None = None,
) -> RobustRun:
    """Retrain ``models.MODEL`` with the configured defence; see the module docstring."""
    config = config or RobustConfig()
    pipe = _resolve(pipeline)
    data = model_data(pipe, model)
    spec = pipe.models[model]
    torch_model = spec.builder is not None
    if not torch_model and spec.training is None:
        raise ConfigError(f"{pipe.source}: models.{model}: retraining needs a builder (torch) or a training callable "
                          "(`training = \"module:function\"`)")
    if not torch_model and config.method != "sanitize":
        raise ConfigError(f"--method {config.method}: loss trimming needs per-sample losses during training, i.e. a "
                          f"torch model with a builder; models.{model} has none (use --method sanitize)")
    signing_key = check_signing_key(key, passphrase)
    truth = _truth(Path(poison_mask), data) if poison_mask is not None else None
    if out is None:
        out = default_output(pipe, model, config.recipe)
        if not torch_model:
            out = out.with_suffix(".skops")
    report = progress or (lambda stage, done, total: None)

    trims: list[TrimResult] = []
    if torch_model:
        plain, trimmed = _torch_trainers(pipe, model, config, data.input_shape, report, trims)
    else:
        plain, trimmed = _sklearn_trainer(pipe, model, config, data, report), None

    cleaning: Cleaning | None = None
    probe: Any = None
    if config.method == "trim":
        assert trimmed is not None
        trained = trimmed(data.x, data.y, None if truth is None else truth.mask)
    else:
        def probe_fn(x: np.ndarray, y: np.ndarray) -> Any:
            fitted = plain(x, y, "probe")
            report("scan", 0, 1)
            return fitted

        def final(x: np.ndarray, y: np.ndarray) -> Any:
            if config.method == "both":
                assert trimmed is not None
                return trimmed(x, y, None)
            return plain(x, y, "train")

        trained, result = sanitize_then_train(
            data.x, data.y, probe_fn, detectors=config.detectors, action=config.action,
            input_shape=data.input_shape, image_shape=_image_shape(data.input_shape),
            config=ScanConfig(seed=config.seed), mask=None if truth is None else truth.mask, final_train_fn=final,
        )
        cleaning, probe = result.cleaning, result.probe
        if trims and truth is not None:
            # trimming ran on the kept rows; a relabelled row is scored as repaired, no longer poison
            left = truth.mask.copy()
            left[cleaning.relabelled] = False
            trims[-1] = replace(trims[-1], metrics=detection_metrics(trims[-1].trimmed, left[cleaning.keep]))
    trimming = trims[-1] if trims else None

    defended = _measure(trained, data, truth)
    undefended = _measure(probe, data, truth) if probe is not None else None
    warnings = _warnings(cleaning, trimming, data)
    guarantee = _guarantee(config, cleaning, trimming)
    payload: Any = trained
    if not torch_model:
        payload = _skops_bytes(trained, model)
    attest = write_trained(
        payload, out, key=signing_key, recipe=config.recipe, datasets=data.dataset_paths,
        hyperparameters=config.hyperparameters(), guarantee=guarantee, passphrase=passphrase,
    )
    return RobustRun(model, config, out, Path(attest.path), len(data.x), defended, undefended, cleaning, trimming,
                     warnings, guarantee)


Plain = Callable[[np.ndarray, np.ndarray, str], Any]
Trimmed = Callable[[np.ndarray, np.ndarray, "np.ndarray | None"], Any]


def _torch_trainers(
    pipe: Pipeline, model: str, config: RobustConfig, shape: tuple[int, ...] | None, report: Progress,
    trims: list[TrimResult],
) -> tuple[Plain, Trimmed]:
    """Plain and trimmed training of a fresh module from the builder (seeded before it is built)."""

    def build() -> Any:
        import torch

        torch.manual_seed(config.seed)
        return build_module(pipe, model)

    def plain(x: np.ndarray, y: np.ndarray, stage: str) -> Any:
        return fit_module(build(), x, y, epochs=config.epochs, loss=config.loss, lr=config.lr,
                          batch_size=config.batch_size, seed=config.seed, input_shape=shape,
                          progress=lambda d, t: report(stage, d, t))

    def trimmed(x: np.ndarray, y: np.ndarray, sub_mask: np.ndarray | None) -> Any:
        net, res = trimmed_train(build(), x, y, trim=config.trim, warmup=config.warmup, epochs=config.epochs,
                                 loss=config.loss, lr=config.lr, batch_size=config.batch_size, seed=config.seed,
                                 input_shape=shape, mask=sub_mask, progress=lambda d, t: report("train", d, t))
        trims.append(res)
        return net

    return plain, trimmed


def _sklearn_trainer(pipe: Pipeline, model: str, config: RobustConfig, data: ModelData, report: Progress) -> Plain:
    """``models.NAME.training(x, labels, *, seed)``; its failures are reported, not raised raw."""
    from pipeshield.core.pipeline import resolve_callable

    spec = pipe.models[model]
    assert spec.training is not None
    user_training = resolve_callable(spec.training, pipe, f"models.{model}.training")

    def plain(x: np.ndarray, y: np.ndarray, stage: str) -> Any:
        report(stage, 0, 1)
        try:
            fitted = user_training(x, data.classes[y], seed=config.seed)
        except PipeshieldError:
            raise
        except Exception as err:  # noqa: BLE001  (the user's training code: report, don't crash)
            raise TargetError(f"models.{model}.training failed: {type(err).__name__}: {err}") from None
        report(stage, 1, 1)
        return fitted

    return plain


def _image_shape(input_shape: tuple[int, ...] | None) -> tuple[int, ...] | None:
    return input_shape if input_shape is not None and len(input_shape) in (2, 3) else None


def _warnings(cleaning: Cleaning | None, trimming: TrimResult | None, data: ModelData) -> tuple[str, ...]:
    out = []
    if cleaning is not None:
        for name, why in cleaning.skipped.items():
            out.append(f"{name} did not run: {why}")
        if cleaning.unresolved_classes:
            classes = ", ".join(map(str, cleaning.unresolved_classes))
            out.append(f"class {classes}: its activations split into two large, well-separated halves -- the "
                       "signature of a backdoor too large for the detectors to tell which half is poison; nothing "
                       "was removed for it, so a backdoor may remain (inspect the class, or train with less data of it)")
    if data.x_test is None:
        out.append("the model has no test_data: clean accuracy was not measured")
    if cleaning is None and trimming is not None and trimming.metrics is not None and trimming.metrics.recall < 0.5:
        out.append(f"loss trimming left out only {trimming.metrics.recall:.0%} of the known poisoned rows: rows a "
                   "model fits easily (a backdoor's) keep a small loss and are not trimmed")
    return tuple(out)


def _guarantee(config: RobustConfig, cleaning: Cleaning | None, trimming: TrimResult | None) -> dict[str, Any]:
    out: dict[str, Any] = {"defence": config.method}
    if cleaning is not None:
        out["sanitize"] = {
            "action": cleaning.action,
            "detectors": list(config.detectors or DETECTORS),
            "skipped_detectors": sorted(cleaning.skipped),
            "rows_in": cleaning.n_rows,
            "removed": int(len(cleaning.removed)),
            "relabelled": int(len(cleaning.relabelled)),
            "removed_rows": [int(i) for i in cleaning.removed],
            "relabelled_rows": [int(i) for i in cleaning.relabelled],
            "unresolved_classes": [str(c) for c in cleaning.unresolved_classes],
        }
    if trimming is not None:
        out["loss_trimming"] = {"trim": trimming.trim, "warmup_epochs": trimming.warmup, "loss": trimming.loss,
                                "trimmed_last_epoch": int(trimming.trimmed.sum())}
    out["claim"] = ("rows the detectors flagged were removed or relabelled, and/or the highest-loss rows were left "
                    "out while training; poison the detectors miss is still learned -- this is no certificate")
    return out


def _skops_bytes(model: Any, name: str) -> bytes:
    import skops.io as sio

    try:
        return bytes(sio.dumps(model))
    except Exception as err:  # noqa: BLE001  (skops refuses some objects; say which model)
        raise TargetError(f"models.{name}.training returned a model skops cannot save: {type(err).__name__}: {err}") from None
