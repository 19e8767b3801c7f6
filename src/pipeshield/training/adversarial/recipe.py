"""The adversarial training loop on the user's own module and data: PGD (Madry et al.) or TRADES.

One loop serves both methods and plain training (the baseline its cost is measured against):
shuffle, make the batch's adversarial examples with the evasion engine, take an optimiser step on
the method's loss. Inputs stay inside the data domain during training too (``clip`` scalars or
per-feature bounds, or a :class:`~pipeshield.attacks.evasion.domain.Domain` whose frozen features
stay pinned), so the model learns the same threat model the evasion assessment measures.

    >>> model, history = adversarial_train(build(), x, y, method="pgd", eps=0.1, clip=(0.0, 1.0))  # doctest: +SKIP
    >>> history.seconds_per_epoch  # doctest: +SKIP
    0.41

The module is trained in place and returned in eval mode. A high
training accuracy under attack is not the guarantee: evaluate on held-out data with the full
evasion assessment (:func:`pipeshield.attacks.evasion.evaluate`, or
:func:`~pipeshield.training.adversarial.pipeline.train_pipeline_model` for a pipeline model).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from pipeshield.attacks.evasion.domain import Domain
from pipeshield.attacks.evasion.projections import NORMS
from pipeshield.errors import ConfigError
from pipeshield.training.adversarial.pgd import pgd_examples, pgd_loss
from pipeshield.training.adversarial.trades import trades_examples, trades_loss

__all__ = [
    "METHODS",
    "AdversarialConfig",
    "EpochStats",
    "Method",
    "TrainingHistory",
    "TrainingResult",
    "adversarial_train",
    "check_eps",
    "plain_train",
]

Method = Literal["pgd", "trades", "plain"]
METHODS: tuple[str, ...] = ("pgd", "trades")
RECIPE_NAMES = {"pgd": "pgd-adversarial", "trades": "trades"}


@dataclass(frozen=True)
class AdversarialConfig:
    """The hyperparameters, validated on construction (errors name the option)."""

    method: str = "pgd"
    norm: str = "linf"
    eps: float = 0.1
    steps: int = 10
    step_size: float | None = None  # None: the engine's 2.5 * eps / steps
    epochs: int = 20
    batch_size: int = 64
    lr: float = 2e-3
    beta: float = 6.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in (*METHODS, "plain"):
            raise ConfigError(f"--method: unknown method {self.method!r} (choose {' or '.join(METHODS)})")
        if self.norm not in NORMS:
            raise ConfigError(f"--norm: unknown norm {self.norm!r} (choose {' or '.join(NORMS)})")
        if self.method != "plain" and not (math.isfinite(self.eps) and self.eps > 0):
            raise ConfigError(f"--eps: must be a positive number, got {self.eps:g}",
                              hint="the perturbation the attacker may make, e.g. 0.1 for pixels in [0, 1]")
        if self.steps < 1:
            raise ConfigError(f"--steps: the attack needs at least 1 step, got {self.steps}")
        if self.step_size is not None and not self.step_size > 0:
            raise ConfigError(f"--step-size: must be positive, got {self.step_size:g}")
        if self.epochs < 1:
            raise ConfigError(f"--epochs: must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size: must be at least 1, got {self.batch_size}")
        if not self.lr > 0:
            raise ConfigError(f"--lr: must be positive, got {self.lr:g}")
        if self.method == "trades" and not self.beta >= 0:
            raise ConfigError(f"--beta: TRADES' trade-off must be >= 0, got {self.beta:g}")

    @property
    def recipe(self) -> str:
        """The provenance recipe name (``pgd-adversarial`` or ``trades``)."""
        return RECIPE_NAMES.get(self.method, self.method)

    def to_dict(self) -> dict[str, Any]:
        step = self.step_size if self.step_size is not None else 2.5 * self.eps / self.steps
        out: dict[str, Any] = {"method": self.method, "norm": self.norm, "eps": self.eps, "steps": self.steps,
                               "step_size": step, "epochs": self.epochs, "batch_size": self.batch_size,
                               "lr": self.lr, "optimizer": "adam", "seed": self.seed}
        if self.method == "trades":
            out["beta"] = self.beta
        return out


@dataclass(frozen=True)
class EpochStats:
    """One epoch: mean training loss, accuracy on the inputs trained on (adversarial for PGD,
    clean for TRADES and plain; from each step's forward pass, before the update), wall seconds
    and the part of them spent making adversarial examples."""

    epoch: int
    loss: float
    train_accuracy: float
    seconds: float
    attack_seconds: float


@dataclass(frozen=True)
class TrainingHistory:
    config: AdversarialConfig
    epochs: tuple[EpochStats, ...] = field(default_factory=tuple)

    @property
    def seconds_per_epoch(self) -> float:
        """Median wall seconds per epoch (the median resists a slow first epoch)."""
        return statistics.median(e.seconds for e in self.epochs) if self.epochs else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config.to_dict(), "seconds_per_epoch": round(self.seconds_per_epoch, 4),
                "epochs": [{"epoch": e.epoch, "loss": round(e.loss, 6), "train_accuracy": round(e.train_accuracy, 6),
                            "seconds": round(e.seconds, 4), "attack_seconds": round(e.attack_seconds, 4)}
                           for e in self.epochs]}


class TrainingResult(NamedTuple):
    """The trained module (the one passed in, in eval mode) and what each epoch did."""

    module: torch.nn.Module
    history: TrainingHistory


Bounds = tuple[Any, Any] | None


def check_eps(eps: float, norm: str, lo: Any, hi: Any) -> None:
    """Refuse an epsilon at which every input of the domain is reachable: no model can be robust
    there, so training for it only destroys clean accuracy. Unbounded features allow any eps."""
    lo_a, hi_a = np.asarray(lo, dtype=np.float64).reshape(-1), np.asarray(hi, dtype=np.float64).reshape(-1)
    width = np.broadcast_to(hi_a - lo_a, np.broadcast_shapes(lo_a.shape, hi_a.shape))
    if not len(width) or not np.all(np.isfinite(width)):
        return
    limit = float(width.max()) if norm == "linf" else float(np.sqrt(np.sum(width**2)))
    if eps >= limit:
        raise ConfigError(
            f"--eps: {eps:g} ({norm}) reaches every input of the domain (at most {limit:g} there): "
            "no model can be robust at it",
            hint="epsilon is the perturbation an attacker may make, a fraction of the input range (e.g. 0.1)",
        )


def _bounds_for(clip: Bounds, domain: Domain | None) -> Callable[[torch.Tensor], Bounds]:
    """Per batch ``(lo, hi)`` for the attack: the clip range (scalars or per-feature), or the
    domain's per-input box when it pins frozen features to each input's clean value."""
    if domain is not None:
        if clip is not None:
            raise ConfigError("adversarial_train: pass clip or domain, not both")
        if domain.is_box:  # nothing pinned: one box for every input
            clip = domain.scalar_clip() or (domain.lo, domain.hi)
        else:
            def from_domain(xb: torch.Tensor) -> Bounds:
                lo, hi = domain.clip_for(xb.detach().cpu().numpy())
                return (torch.as_tensor(lo, dtype=xb.dtype, device=xb.device),
                        torch.as_tensor(hi, dtype=xb.dtype, device=xb.device))

            return from_domain
    if clip is None:
        return lambda xb: None
    lo, hi = clip

    def fixed(xb: torch.Tensor) -> Bounds:
        def cast(b: Any) -> Any:
            if b is None or np.ndim(b) == 0:
                return None if b is None else float(b)
            return torch.as_tensor(np.asarray(b), dtype=xb.dtype, device=xb.device).reshape(xb.shape[1:])
        return cast(lo), cast(hi)

    return fixed


def _batches(x: Any, y: Any, cfg: AdversarialConfig, epoch: int, device: torch.device) -> Iterator[
        tuple[torch.Tensor, torch.Tensor]]:
    """Shuffled minibatches of arrays/tensors (seeded per epoch), or a DataLoader's own batches."""
    if y is None:
        for batch in x:
            xb, yb = batch[0], batch[1]
            yield torch.as_tensor(xb, device=device).float(), torch.as_tensor(yb, device=device).long()
        return
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(cfg.seed * 100_003 + epoch))
    for i in range(0, len(x), cfg.batch_size):
        idx = order[i : i + cfg.batch_size]
        yield x[idx].to(device), y[idx].to(device)


def _as_data(x: Any, y: Any) -> tuple[Any, Any]:
    if y is None:
        if isinstance(x, (np.ndarray, torch.Tensor)):
            raise ConfigError("adversarial_train: labels y are required with array inputs (or pass a DataLoader)")
        if not isinstance(x, Iterable):
            raise ConfigError(
                f"adversarial_train: x must be an array, a tensor or a DataLoader, got {type(x).__name__}")
        return x, None
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32)) if not isinstance(x, torch.Tensor) else x.float()
    yt = torch.as_tensor(np.asarray(y)).long() if not isinstance(y, torch.Tensor) else y.long()
    if len(xt) != len(yt):
        raise ConfigError(f"adversarial_train: {len(xt)} inputs but {len(yt)} labels")
    if not len(xt):
        raise ConfigError("adversarial_train: no training data")
    return xt.cpu(), yt.cpu()


def _device(module: torch.nn.Module) -> torch.device:
    p = next(iter(module.parameters()), None)
    if p is None:
        raise ConfigError("adversarial_train: the module has no parameters to train")
    return p.device


def _train(
    module: torch.nn.Module,
    x: Any,
    y: Any,
    cfg: AdversarialConfig,
    *,
    clip: Bounds,
    domain: Domain | None,
    optimizer: torch.optim.Optimizer | None,
    on_epoch: Callable[[EpochStats], None] | None,
) -> TrainingResult:
    xs, ys = _as_data(x, y)
    device = _device(module)
    bounds = _bounds_for(clip, domain)
    opt = optimizer if optimizer is not None else torch.optim.Adam(module.parameters(), lr=cfg.lr)
    torch.manual_seed(cfg.seed)
    stats: list[EpochStats] = []
    batch_no = 0
    for epoch in range(cfg.epochs):
        start = time.perf_counter()
        attack_s, loss_sum, correct, seen = 0.0, 0.0, 0, 0
        for xb, yb in _batches(xs, ys, cfg, epoch, device):
            batch_no += 1
            if cfg.method != "plain":
                t0 = time.perf_counter()
                make = pgd_examples if cfg.method == "pgd" else trades_examples
                x_adv = make(module, xb, yb, norm=cfg.norm, eps=cfg.eps, steps=cfg.steps, step_size=cfg.step_size,
                             clip=bounds(xb), seed=cfg.seed * 1_000_003 + batch_no)
                attack_s += time.perf_counter() - t0
            module.train()
            opt.zero_grad(set_to_none=True)
            if cfg.method == "trades":
                loss, logits = trades_loss(module, xb, yb, x_adv, beta=cfg.beta)
            elif cfg.method == "pgd":
                loss, logits = pgd_loss(module, xb, yb, x_adv)
            else:
                logits = module(xb)
                loss = F.cross_entropy(logits, yb)
            if not bool(torch.isfinite(loss.detach())):
                raise ConfigError(f"training diverged at epoch {epoch + 1} (loss {float(loss.detach())})",
                                  hint="lower --lr, or a smaller --eps")
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            correct += int((logits.detach().argmax(dim=1) == yb).sum())
            loss_sum += float(loss.detach()) * len(yb)
            seen += len(yb)
        if not seen:
            raise ConfigError("adversarial_train: the data yielded no batches")
        e = EpochStats(epoch + 1, loss_sum / seen, correct / seen, time.perf_counter() - start, attack_s)
        stats.append(e)
        if on_epoch is not None:
            on_epoch(e)
    module.eval()  # safe: nn.Module.eval() switches to inference mode
    return TrainingResult(module, TrainingHistory(cfg, tuple(stats)))


def adversarial_train(
    module: torch.nn.Module,
    x: Any,
    y: Any = None,
    *,
    method: str = "pgd",
    norm: str = "linf",
    eps: float,
    steps: int = 10,
    step_size: float | None = None,
    epochs: int = 20,
    batch_size: int = 64,
    lr: float = 2e-3,
    beta: float = 6.0,
    seed: int = 0,
    clip: Bounds = None,
    domain: Domain | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    on_epoch: Callable[[EpochStats], None] | None = None,
) -> TrainingResult:
    """Train ``module`` in place against ``norm``-ball attacks of radius ``eps``.

    ``method="pgd"`` trains on PGD examples only (Madry et al.); ``"trades"`` minimises
    ``CE(f(x), y) + beta * KL(f(x) || f(x'))`` (Zhang et al.; ``beta`` 6 in the paper). ``x``, ``y``
    are arrays or tensors shaped as the module takes them (labels are class indices), or ``x`` is
    a DataLoader of ``(inputs, labels)`` batches and ``y`` is None. ``clip=(lo, hi)`` (scalars or
    per-feature arrays) or ``domain`` keep the adversarial inputs legal; give the same domain the
    evaluation uses. ``optimizer`` defaults to Adam(``lr``). Deterministic for a given ``seed`` on
    CPU. Returns ``(module, history)``.
    """
    cfg = AdversarialConfig(method, norm, eps, steps, step_size, epochs, batch_size, lr, beta, seed)
    if cfg.method == "plain":
        raise ConfigError("adversarial_train: method must be 'pgd' or 'trades' (plain_train trains without attacks)")
    if domain is not None:
        check_eps(eps, norm, domain.lo, domain.hi)
    elif clip is not None:
        check_eps(eps, norm, -np.inf if clip[0] is None else clip[0], np.inf if clip[1] is None else clip[1])
    return _train(module, x, y, cfg, clip=clip, domain=domain, optimizer=optimizer, on_epoch=on_epoch)


def plain_train(
    module: torch.nn.Module,
    x: Any,
    y: Any = None,
    *,
    epochs: int = 20,
    batch_size: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
    optimizer: torch.optim.Optimizer | None = None,
    on_epoch: Callable[[EpochStats], None] | None = None,
) -> TrainingResult:
    """The same loop without attacks: the undefended baseline and the cost reference."""
    cfg = AdversarialConfig("plain", "linf", 0.0, 1, None, epochs, batch_size, lr, 0.0, seed)
    return _train(module, x, y, cfg, clip=None, domain=None, optimizer=optimizer, on_epoch=on_epoch)
