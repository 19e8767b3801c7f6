"""DP-SGD on the user's own module, optimizer and data loader (Opacus), with the epsilon checked.

:func:`make_private` wraps the three objects the way Opacus' ``PrivacyEngine.make_private`` does
-- Poisson sampling, per-sample gradient clipping to ``max_grad_norm``, Gaussian noise of
``noise_multiplier * max_grad_norm`` -- after checking the layers (:mod:`.layers`) and the loader
(:mod:`.loaders`), and calibrating the noise to ``target_epsilon`` with the *same* accountant
that reports the result. Train with your own loop, or :func:`fit`; then
:meth:`PrivateTraining.spent` gives the (epsilon, delta) for the steps actually taken, computed by
:func:`~pipeshield.training.dp.accounting.epsilon` and cross-checked with dp-accounting::

    >>> private = make_private(model, torch.optim.SGD(model.parameters(), lr=0.5), loader,
    ...                        target_epsilon=3.0, delta=1e-5, epochs=20)     # doctest: +SKIP
    >>> fit(private, epochs=20)                                              # doctest: +SKIP
    >>> private.spent().epsilon, private.spent().cross_check.status          # doctest: +SKIP
    (2.99, 'agrees')

Not covered by the guarantee: the noise comes from torch's pseudo-random generator (Opacus'
``secure_mode`` needs torchcsprng), and anything computed from the data outside DP-SGD
(hyperparameter tuning on the same data, feature scaling statistics) spends privacy too.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipeshield.errors import ConfigError
from pipeshield.training.dp.accounting import (
    ACCOUNTANTS,
    CrossCheck,
    cross_check,
    epsilon,
)
from pipeshield.training.dp.accounting import (
    noise_multiplier as calibrate,
)
from pipeshield.training.dp.layers import prepare_module
from pipeshield.training.dp.loaders import PrivacyAccountingWarning, check_loader

if TYPE_CHECKING:
    import torch
    from torch.utils.data import DataLoader

__all__ = ["FitResult", "PrivacyReport", "PrivateTraining", "fit", "make_private"]


@dataclass(frozen=True)
class PrivacyReport:
    """The privacy spent: ``(epsilon, delta)`` by ``accountant`` for ``steps`` steps at
    ``sample_rate`` and ``noise_multiplier``, with clip norm ``max_grad_norm``."""

    epsilon: float
    delta: float
    accountant: str
    noise_multiplier: float
    sample_rate: float
    steps: int
    max_grad_norm: float
    cross_check: CrossCheck
    target_epsilon: float | None = None
    poisson: bool = True
    layer_changes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def guarantee(self) -> dict[str, Any]:
        """The block the signed provenance records as the run's guarantee."""
        return {
            "epsilon": round(self.epsilon, 6), "delta": self.delta, "accountant": self.accountant,
            "noise_multiplier": round(self.noise_multiplier, 6), "sample_rate": round(self.sample_rate, 8),
            "steps": self.steps, "max_grad_norm": self.max_grad_norm, "sampling": "poisson" if self.poisson
            else "shuffled fixed-size batches (epsilon is an estimate)", "cross_check": self.cross_check.to_dict(),
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.guarantee(), "target_epsilon": self.target_epsilon, "layer_changes": list(self.layer_changes),
                "warnings": list(self.warnings)}


@dataclass
class PrivateTraining:
    """What :func:`make_private` returns: Opacus' wrapped module, DP optimizer and Poisson loader."""

    module: Any
    optimizer: Any
    data_loader: Any
    engine: Any
    delta: float
    accountant: str
    noise_multiplier: float
    max_grad_norm: float
    target_epsilon: float | None
    poisson: bool
    layer_changes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def trained_module(self) -> torch.nn.Module:
        """The user's module (unwrapped from Opacus' GradSampleModule), to save. While training may
        go on it still carries Opacus' per-sample hooks, which break other autograd uses (an
        evasion attack's input gradients): call :meth:`release` when training is done."""
        inner = getattr(self.module, "_module", self.module)
        return inner  # type: ignore[no-any-return]

    def release(self) -> torch.nn.Module:
        """End training: remove Opacus' hooks and per-sample gradients; the plain module, to
        evaluate, attack or deploy."""
        standard = getattr(self.module, "to_standard_module", None)
        return standard() if callable(standard) else self.trained_module

    @property
    def sample_rate(self) -> float:
        return float(self.optimizer.expected_batch_size / len(self.data_loader.dataset)) if not self.poisson \
            else float(self.data_loader.sample_rate)

    def steps(self) -> int:
        """Noisy steps taken so far (what the accountant recorded)."""
        return int(sum(count for _, _, count in self.engine.accountant.history))

    def spent(self, *, with_cross_check: bool = True) -> PrivacyReport:
        """(epsilon, delta) for the steps taken, from :func:`~.accounting.epsilon` (the same value
        Opacus' accountant holds), and its cross-check."""
        history = self.engine.accountant.history
        rates = {(float(s), float(q)) for s, q, _ in history}
        if len(rates) > 1:
            raise ConfigError("the noise multiplier or sample rate changed during training; report with "
                              "engine.accountant directly")
        sigma, q = rates.pop() if rates else (self.noise_multiplier, self.sample_rate)
        steps = self.steps()
        eps = epsilon(sample_rate=q, noise_multiplier=sigma, steps=steps, delta=self.delta, accountant=self.accountant)
        check = (cross_check(sample_rate=q, noise_multiplier=sigma, steps=steps, delta=self.delta,
                             accountant=self.accountant, epsilon_value=eps) if with_cross_check
                 else CrossCheck(self.accountant, eps, None, None, None, "not cross-checked", "skipped"))
        return PrivacyReport(eps, self.delta, self.accountant, sigma, q, steps, self.max_grad_norm, check,
                             self.target_epsilon, self.poisson, self.layer_changes, self.warnings)


def _rebuild_optimizer(optimizer: torch.optim.Optimizer, module: torch.nn.Module) -> torch.optim.Optimizer:
    if len(optimizer.param_groups) != 1:
        raise ConfigError(
            "fix=True swaps layers, so the optimizer must be rebuilt for the new parameters; this one has "
            f"{len(optimizer.param_groups)} parameter groups",
            hint="call pipeshield.training.dp.prepare_module(model, fix=True) first and build the optimizer on "
            "its .module",
        )
    return type(optimizer)(module.parameters(), **optimizer.defaults)


def make_private(
    module: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    data_loader: DataLoader[Any],
    *,
    delta: float,
    target_epsilon: float | None = None,
    noise_multiplier: float | None = None,
    epochs: int | None = None,
    max_grad_norm: float = 1.0,
    accountant: str = "prv",
    fix: bool = False,
    poisson: bool = True,
    noise_seed: int | None = None,
) -> PrivateTraining:
    """Wrap ``module``, ``optimizer`` and ``data_loader`` for DP-SGD.

    Give either ``target_epsilon`` (with ``epochs``: the noise is calibrated for ``epochs`` passes)
    or ``noise_multiplier``. ``fix=True`` swaps unsupported layers (the optimizer is rebuilt for
    the swapped module's parameters; use :attr:`PrivateTraining.trained_module`). ``delta`` must be
    below ``1 / len(dataset)``. Raises ConfigError naming the cause and the fix; loader settings
    that void the accounting are warned (:class:`PrivacyAccountingWarning`) and kept in the report.
    """
    import torch
    from opacus import PrivacyEngine

    if (target_epsilon is None) == (noise_multiplier is None):
        raise ConfigError("give exactly one of target_epsilon (--epsilon) or noise_multiplier (--noise-multiplier)")
    if accountant not in ACCOUNTANTS:
        raise ConfigError(f"accountant: {accountant!r} is not one of {', '.join(ACCOUNTANTS)}")
    if not max_grad_norm > 0:
        raise ConfigError(f"max_grad_norm: {max_grad_norm} must be positive (it is the per-sample clip norm)")
    problems = check_loader(data_loader, poisson=poisson)
    n = len(data_loader.dataset)  # type: ignore[arg-type]
    if not 0.0 < delta < 1.0 / n:
        raise ConfigError(
            f"delta: {delta:g} is not below 1 / {n} (the training set size); a delta that large allows "
            "publishing a whole record outright",
            hint=f"use delta below {1.0 / n:.2g}, e.g. 1e-5",
        )
    if len(data_loader) == 1:
        raise ConfigError(
            f"data loader: one batch holds the whole training set ({n} records): the sample rate is 1, so "
            "subsampling gives no privacy amplification",
            hint="use a batch size well below the dataset size (--batch-size)",
        )
    checked = prepare_module(module, fix=fix)
    if checked.module is not module:
        optimizer = _rebuild_optimizer(optimizer, checked.module)
    checked.module.train()
    sample_rate = 1.0 / len(data_loader)
    if target_epsilon is not None:
        if epochs is None or epochs < 1:
            raise ConfigError("epochs: calibrating the noise to a target epsilon needs the number of epochs (>= 1)")
        steps = epochs * int(1 / sample_rate)
        sigma = calibrate(target_epsilon=target_epsilon, sample_rate=sample_rate, steps=steps, delta=delta,
                          accountant=accountant)
    else:
        assert noise_multiplier is not None
        if not noise_multiplier > 0:
            raise ConfigError(f"noise_multiplier: {noise_multiplier} must be positive (0 adds no noise: no privacy)")
        sigma = float(noise_multiplier)
    generator = torch.Generator().manual_seed(noise_seed) if noise_seed is not None else None
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Ss]ecure RNG.*")  # documented in the module docstring
        warnings.filterwarnings("ignore", message=".*GDP accounting is experimental.*")  # CrossCheck says it
        engine = PrivacyEngine(accountant=accountant)
        wrapped, dp_optimizer, dp_loader = engine.make_private(
            module=checked.module, optimizer=optimizer, data_loader=data_loader, noise_multiplier=sigma,
            max_grad_norm=max_grad_norm, poisson_sampling=poisson, noise_generator=generator,
        )
    return PrivateTraining(wrapped, dp_optimizer, dp_loader, engine, delta, accountant, sigma, max_grad_norm,
                           target_epsilon, poisson, checked.changes, tuple(problems))


@dataclass(frozen=True)
class FitResult:
    """Seconds per epoch and the mean training loss of each epoch."""

    epoch_seconds: tuple[float, ...]
    losses: tuple[float, ...] = field(default=())


def fit(
    private: PrivateTraining,
    *,
    epochs: int,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    progress: Callable[[int, int], None] | None = None,
    ema_decay: float | None = None,
) -> FitResult:
    """The standard loop over the private loader: ``loss_fn(output, target)`` (default
    cross-entropy), backward, step. ``progress(epoch, epochs)`` after each epoch.

    ``ema_decay`` (e.g. 0.9): the module ends with an exponential moving average of the weights
    after each step instead of the last step's. DP-SGD's last iterate carries its last steps'
    noise; averaging the iterates cancels part of it, and as post-processing of the noisy
    iterates it costs no privacy (De et al. 2022 use it on CIFAR-10)."""
    import torch

    if ema_decay is not None and not 0.0 <= ema_decay < 1.0:
        raise ConfigError(f"ema_decay: {ema_decay} must be in [0, 1) (0.9 averages about the last 10 steps)")
    loss_fn = loss_fn or torch.nn.functional.cross_entropy
    private.module.train()
    seconds: list[float] = []
    losses: list[float] = []
    average = _WeightAverage(private.trained_module, ema_decay) if ema_decay is not None else None
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Full backward hook is firing", category=UserWarning)
        _epochs(private, epochs, loss_fn, progress, seconds, losses, average)
    if average is not None:
        average.load()
    private.module.eval()  # safe: nn.Module.eval() switches to inference mode
    return FitResult(tuple(seconds), tuple(losses))


class _WeightAverage:
    """An exponential moving average of a module's floating-point parameters, updated after each
    optimizer step and started from the first step's weights (no bias towards the random start)."""

    def __init__(self, module: torch.nn.Module, decay: float) -> None:
        self.module = module
        self.decay = decay
        self.average: list[torch.Tensor] | None = None

    def _params(self) -> list[torch.Tensor]:
        return [p for p in self.module.parameters() if p.dtype.is_floating_point]

    def update(self) -> None:
        import torch

        with torch.no_grad():
            params = self._params()
            if self.average is None:
                self.average = [p.detach().clone() for p in params]
                return
            for avg, param in zip(self.average, params):
                avg.lerp_(param.detach(), 1.0 - self.decay)

    def load(self) -> None:
        """Put the average into the module (nothing before the first step)."""
        import torch

        if self.average is None:
            return
        with torch.no_grad():
            for param, avg in zip(self._params(), self.average):
                param.copy_(avg)


def _epochs(
    private: PrivateTraining, epochs: int, loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    progress: Callable[[int, int], None] | None, seconds: list[float], losses: list[float],
    average: _WeightAverage | None,
) -> None:
    for epoch in range(epochs):
        start = time.perf_counter()
        total, count = 0.0, 0
        for batch in private.data_loader:
            x, y = _split(batch)
            private.optimizer.zero_grad(set_to_none=True)
            # An empty Poisson batch still takes its (noise-only) step: skipping it would reveal
            # that no record was drawn, and the accountant counts it.
            loss = loss_fn(private.module(x), y)
            loss.backward()  # type: ignore[no-untyped-call]
            private.optimizer.step()
            if average is not None:
                average.update()
            if len(x):
                total += float(loss.detach()) * len(x)
                count += len(x)
        seconds.append(time.perf_counter() - start)
        losses.append(total / max(count, 1))
        if progress is not None:
            progress(epoch + 1, epochs)


def _split(batch: Sequence[Any]) -> tuple[Any, Any]:
    if not isinstance(batch, (list, tuple)) or len(batch) != 2:
        raise ConfigError("fit: each batch must be (inputs, targets); write your own loop for other layouts")
    return batch[0], batch[1]


__all__ += ["PrivacyAccountingWarning"]
