"""``pipeshield train dp`` as a library call: retrain a pipeline model with differential privacy.

A model with a torch ``builder`` is retrained from scratch with DP-SGD (:func:`.private.make_private`,
Adam, cross-entropy) and written as a safetensors state_dict the builder loads; a model without one
(a scikit-learn model such as the demo's ``tabular_forest``) is retrained as DP logistic regression
(:mod:`.tabular`) and written as ``.skops`` -- a different model family, which the result's notes
say. Either way the model and its signed provenance (recipe ``dp-sgd`` or
``dp-logistic-regression``, the guarantee with its cross-check) are written together or not at all,
and every user mistake is a ConfigError raised before anything is written.

    >>> result = train_dp("pipeshield.toml", "digits_cnn", DPSettings(epsilon=3.0), key="ci.key")  # doctest: +SKIP
    >>> result.report.epsilon, result.test_accuracy, result.out                                   # doctest: +SKIP
"""

from __future__ import annotations

import statistics
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeshield.errors import ConfigError
from pipeshield.training.dp.accounting import ACCOUNTANTS
from pipeshield.training.dp.private import PrivacyReport

__all__ = ["DPSettings", "DPTrainingResult", "train_dp"]

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class DPSettings:
    """One DP training run. Give ``epsilon`` (the noise is calibrated to it) or ``noise_multiplier``.

    ``batch_size`` is the *expected* batch size: Poisson sampling draws each record with
    probability ``sample_rate = 1 / ceil(N / batch_size)`` (about ``batch_size / N``). ``lr``
    defaults to 0.01 (Adam) for DP-SGD and 0.5 (SGD) for logistic regression. ``ema_decay`` keeps
    an exponential moving average of the DP-SGD weights (free in privacy: post-processing; see
    :func:`.private.fit`).
    """

    epsilon: float | None = None
    noise_multiplier: float | None = None
    delta: float = 1e-5
    epochs: int = 20
    batch_size: int = 128
    lr: float | None = None
    max_grad_norm: float = 1.0
    accountant: str = "prv"
    fix_layers: bool = False
    seed: int = 0
    ema_decay: float | None = None

    def __post_init__(self) -> None:
        if (self.epsilon is None) == (self.noise_multiplier is None):
            raise ConfigError("give exactly one of --epsilon (the noise is calibrated to it) or --noise-multiplier")
        if self.epsilon is not None and not self.epsilon > 0:
            raise ConfigError(f"--epsilon: {self.epsilon} must be positive")
        if self.noise_multiplier is not None and not self.noise_multiplier > 0:
            raise ConfigError(f"--noise-multiplier: {self.noise_multiplier} must be positive (0 adds no noise)")
        if self.accountant not in ACCOUNTANTS:
            raise ConfigError(f"--accountant: {self.accountant!r} is not one of {', '.join(ACCOUNTANTS)}")
        if self.epochs < 1:
            raise ConfigError(f"--epochs: {self.epochs} must be at least 1")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size: {self.batch_size} must be at least 1")
        if not self.max_grad_norm > 0:
            raise ConfigError(f"--max-grad-norm: {self.max_grad_norm} must be positive")
        if self.lr is not None and not self.lr > 0:
            raise ConfigError(f"--lr: {self.lr} must be positive")
        if self.ema_decay is not None and not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"--ema: {self.ema_decay} must be in [0, 1) (0.9 averages about the last 10 steps)")


@dataclass(frozen=True)
class DPTrainingResult:
    """What was trained, what it claims, how well it does, and where it was written."""

    model: str
    recipe: str
    out: Path
    attestation: Path
    report: PrivacyReport
    test_accuracy: float | None
    n_train: int
    epoch_seconds: tuple[float, ...]
    notes: tuple[str, ...]

    @property
    def seconds_per_epoch(self) -> float:
        return statistics.median(self.epoch_seconds) if self.epoch_seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``pipeshield train dp --format json`` (keys are stable)."""
        r = self.report
        return {
            "model": self.model,
            "recipe": self.recipe,
            "out": str(self.out),
            "attestation": str(self.attestation),
            "test_accuracy": None if self.test_accuracy is None else round(self.test_accuracy, 6),
            "epsilon": round(r.epsilon, 6),
            "delta": r.delta,
            "accountant": r.accountant,
            "target_epsilon": r.target_epsilon,
            "noise_multiplier": round(r.noise_multiplier, 6),
            "sample_rate": round(r.sample_rate, 8),
            "steps": r.steps,
            "epochs": len(self.epoch_seconds),
            "max_grad_norm": r.max_grad_norm,
            "n_train": self.n_train,
            "cross_check": r.cross_check.to_dict(),
            "seconds_per_epoch": round(self.seconds_per_epoch, 4),
            "layer_changes": list(r.layer_changes),
            "warnings": list(r.warnings),
            "notes": list(self.notes),
        }


def _check_out(out: Path, suffix: str, recipe: str) -> None:
    if out.suffix != suffix:
        raise ConfigError(f"--out: {out} -- the {recipe} model is written as {suffix}; name the file *{suffix}")
    if out.is_dir():
        raise ConfigError(f"--out: {out} is a folder; name a file")


def _accuracy(predict: Callable[[np.ndarray], np.ndarray], x: np.ndarray | None, y: np.ndarray | None) -> float | None:
    if x is None or y is None or len(x) == 0:
        return None
    return float(np.mean(predict(x) == y))


def train_dp(
    pipeline: Any,
    model: str,
    settings: DPSettings,
    *,
    key: Path | str | None,
    out: Path | None = None,
    passphrase: str | None = None,
    progress: Progress | None = None,
) -> DPTrainingResult:
    """Retrain ``model`` of ``pipeline`` (a path or a loaded :class:`~pipeshield.core.pipeline.Pipeline`)
    with DP and write it with its signed provenance; see the module docstring."""
    from pipeshield.core.pipeline import Pipeline, load_pipeline
    from pipeshield.training._common import check_signing_key, model_data

    pipe = pipeline if isinstance(pipeline, Pipeline) else load_pipeline(pipeline)
    data = model_data(pipe, model)
    signing_key = check_signing_key(key, passphrase)
    n = len(data.x)
    if not settings.delta < 1.0 / n:
        raise ConfigError(f"--delta: {settings.delta:g} is not below 1 / {n} (the training set size)",
                          hint=f"use a delta below {1.0 / n:.2g}, e.g. 1e-5")
    if settings.batch_size >= n:
        raise ConfigError(f"--batch-size: {settings.batch_size} is not below the training set size ({n}); "
                          "subsampling is what makes DP-SGD affordable",
                          hint="use a batch size well below it, e.g. 128")
    if pipe.models[model].builder is not None:
        return _train_torch(pipe, data, settings, signing_key, out, passphrase, progress)
    return _train_tabular(pipe, data, settings, signing_key, out, passphrase, progress)


def _hyper(settings: DPSettings, optimizer: str, lr: float) -> dict[str, Any]:
    return {"optimizer": optimizer, "lr": lr, "epochs": settings.epochs, "expected_batch_size": settings.batch_size,
            "max_grad_norm": settings.max_grad_norm, "accountant": settings.accountant,
            "target_epsilon": settings.epsilon, "noise_multiplier": settings.noise_multiplier,
            "delta": settings.delta, "fix_layers": settings.fix_layers, "seed": settings.seed,
            "ema_decay": settings.ema_decay}


def _train_torch(pipe: Any, data: Any, settings: DPSettings, key: Path, out: Path | None, passphrase: str | None,
                 progress: Progress | None) -> DPTrainingResult:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from pipeshield.training._common import build_module, default_output, write_trained
    from pipeshield.training.dp.private import fit, make_private

    out = out or default_output(pipe, data.model, "dp")
    _check_out(out, ".safetensors", "dp-sgd")
    torch.manual_seed(settings.seed)
    module = build_module(pipe, data.model)
    lr = settings.lr or 0.01
    x = torch.as_tensor(data.shaped(data.x))
    y = torch.as_tensor(data.y)
    loader = DataLoader(TensorDataset(x, y), batch_size=settings.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(settings.seed))
    with warnings.catch_warnings(record=True):  # the report keeps every loader warning
        private = make_private(
            module, torch.optim.Adam(module.parameters(), lr=lr), loader, delta=settings.delta,
            target_epsilon=settings.epsilon, noise_multiplier=settings.noise_multiplier, epochs=settings.epochs,
            max_grad_norm=settings.max_grad_norm, accountant=settings.accountant, fix=settings.fix_layers,
            noise_seed=settings.seed,
        )
    history = fit(private, epochs=settings.epochs, ema_decay=settings.ema_decay,
                  progress=None if progress is None else lambda e, t: progress(e, t, f"epoch {e}/{t}"))
    report = private.spent()
    trained = private.trained_module

    def predict(a: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return np.asarray(trained(torch.as_tensor(data.shaped(a))).argmax(1).numpy())

    accuracy = _accuracy(predict, data.x_test, data.y_test)
    notes = list(_common_notes(report))
    if any(isinstance(m, torch.nn.ReLU) for m in trained.modules()):
        notes.append("the model uses ReLU: bounded activations such as tanh usually lose less accuracy under DP-SGD "
                     "(Papernot et al. 2021; docs/benchmarks.md measures the demo CNN)")
    if report.layer_changes and settings.fix_layers:
        notes.append("--fix-layers changed the architecture: the pipeline's builder must build the fixed model "
                     "(e.g. GroupNorm in place of BatchNorm) to load this state_dict")
    attestation = write_trained(
        trained, out, key=key, recipe="dp-sgd", datasets=data.dataset_paths,
        hyperparameters=_hyper(settings, "adam", lr), guarantee=report.guarantee(), passphrase=passphrase,
    )
    return DPTrainingResult(data.model, "dp-sgd", out, attestation.path, report, accuracy, len(data.x),
                            history.epoch_seconds, tuple(notes))


def _train_tabular(pipe: Any, data: Any, settings: DPSettings, key: Path, out: Path | None, passphrase: str | None,
                   progress: Progress | None) -> DPTrainingResult:
    import skops.io as sio

    from pipeshield.training._common import write_trained
    from pipeshield.training.dp.tabular import dp_logistic_regression

    out = out or pipe.resolve(pipe.models[data.model].path).with_name(f"{data.model}.dp.skops")
    _check_out(out, ".skops", "dp-logistic-regression")
    x = data.x.reshape(len(data.x), -1)
    bounds = _public_bounds(pipe, data.model, x.shape[1])
    lr = settings.lr or 0.5
    if progress is not None:
        progress(0, 1, "DP logistic regression")
    with warnings.catch_warnings(record=True):
        result = dp_logistic_regression(
            x, data.classes[data.y], delta=settings.delta, target_epsilon=settings.epsilon,
            noise_multiplier=settings.noise_multiplier, epochs=settings.epochs, batch_size=settings.batch_size,
            lr=lr, max_grad_norm=settings.max_grad_norm, accountant=settings.accountant, seed=settings.seed,
            bounds=bounds, ema_decay=settings.ema_decay,
        )
    if progress is not None:
        progress(1, 1, "DP logistic regression")
    clf = result.model
    source = result.bounds_source if bounds is None else \
        f"declared in datasets.{pipe.models[data.model].train_data}.domain (public)"
    accuracy = None
    if data.x_test is not None and data.y_test is not None:
        accuracy = float(np.mean(clf.predict(data.x_test.reshape(len(data.x_test), -1)) == data.classes[data.y_test]))
    notes = [
        f"{data.model} has no torch builder, so it was retrained as DP logistic regression (a different model "
        f"family) and written as scikit-learn skops: point models.{data.model}.path at it to use it",
        f"feature scaling bounds: {source}" + ("" if bounds is not None else
            f"; declare them in the pipeline (datasets.{pipe.models[data.model].train_data}.domain: `clip` or "
            "per-feature `bounds`) to have epsilon cover them"),
        *_common_notes(result.report),
    ]
    guarantee = {**result.report.guarantee(), "feature_bounds": source}
    attestation = write_trained(
        sio.dumps(clf), out, key=key, recipe="dp-logistic-regression", datasets=data.dataset_paths,
        hyperparameters=_hyper(settings, "sgd", lr), guarantee=guarantee, passphrase=passphrase,
    )
    return DPTrainingResult(data.model, "dp-logistic-regression", out, attestation.path, result.report, accuracy,
                            len(data.x), result.fit.epoch_seconds, tuple(notes))


def _public_bounds(pipe: Any, model: str, n_features: int) -> np.ndarray | None:
    """Per-feature (low, high) from the training dataset's declared ``domain`` (public knowledge,
    so scaling by it spends no privacy), or None when it does not bound every feature."""
    from pipeshield.core.datasets import load_dataset

    name = pipe.models[model].train_data
    domain = pipe.datasets[name].domain
    if domain is None or (domain.clip is None and not domain.bounds):
        return None
    names = load_dataset(pipe, name).feature_names
    if len(names) != n_features:
        names = tuple(f"x{i}" for i in range(n_features))
    rows = []
    for i, feature in enumerate(names):
        pair = domain.bounds.get(feature, domain.bounds.get(f"x{i}", domain.clip))
        if pair is None:
            return None
        rows.append((float(pair[0]), float(pair[1])))
    return np.asarray(rows)


def _common_notes(report: PrivacyReport) -> list[str]:
    notes = []
    if report.cross_check.status == "disagrees":
        notes.append("ACCOUNTING MISMATCH: " + report.cross_check.note)
    elif report.cross_check.status == "not cross-checked":
        notes.append("epsilon not cross-checked: " + report.cross_check.note)
    notes.append("noise from torch's pseudo-random generator (Opacus secure_mode needs torchcsprng)")
    return notes
