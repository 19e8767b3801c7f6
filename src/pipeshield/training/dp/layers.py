"""Layers DP-SGD cannot train as they are, found by name and fixed only when asked.

Per-sample gradient clipping needs every sample's gradient on its own. BatchNorm mixes the samples
of a batch (each output depends on its batch mates), so no per-sample gradient exists and its
running statistics are themselves unprotected aggregates; Opacus' ``ModuleValidator`` knows the
layers with this problem (BatchNorm, and LSTM/GRU/MultiheadAttention that need Opacus' DP
replacements) and how to swap them (BatchNorm -> GroupNorm). Swapping changes the architecture, so
it is never silent: :func:`prepare_module` refuses by default, naming each layer and the fix, and
with ``fix=True`` swaps and reports every swap. In-place activations (``ReLU(inplace=True)``) are
the one harmless fix made always: they overwrite the tensors the per-sample hooks read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeshield.errors import ConfigError

if TYPE_CHECKING:
    import torch.nn as nn

__all__ = ["LayerCheck", "prepare_module", "unsupported_layers"]


@dataclass(frozen=True)
class LayerCheck:
    """The module to train and every change made to it (``"features.1: BatchNorm2d -> GroupNorm"``)."""

    module: nn.Module
    changes: tuple[str, ...]


def unsupported_layers(module: nn.Module) -> list[tuple[str, str, str]]:
    """``(name, layer type, Opacus' reason)`` for each layer DP-SGD cannot train as it is."""
    from opacus.utils.module_utils import trainable_modules
    from opacus.validators import ModuleValidator

    found = []
    for name, sub in trainable_modules(module):
        validator = ModuleValidator.VALIDATORS.get(type(sub))
        if validator is None:
            continue
        for err in validator(sub):
            reason = str(err).split(". ")[0]
            found.append((name or "(root)", type(sub).__name__, reason))
    return found


def _relax_inplace(module: nn.Module) -> list[str]:
    changes = []
    for name, sub in module.named_modules():
        if getattr(sub, "inplace", False) is True:
            sub.inplace = False
            changes.append(f"{name or '(root)'}: {type(sub).__name__}(inplace=True) -> inplace=False")
    return changes


def prepare_module(module: nn.Module, *, fix: bool = False) -> LayerCheck:
    """The module DP-SGD can train, or ConfigError naming each unsupported layer and the fix.

    ``fix=True`` swaps what Opacus can swap (BatchNorm -> GroupNorm, LSTM -> DPLSTM, ...) on a
    copy; the caller must train (and save) the returned module, whose architecture differs.
    """
    from opacus.validators import ModuleValidator

    changes = _relax_inplace(module)
    bad = unsupported_layers(module)
    if not bad:
        return LayerCheck(module, tuple(changes))
    listing = "; ".join(f"{name} ({kind})" for name, kind, _ in bad)
    if not fix:
        why = bad[0][2]
        raise ConfigError(
            f"the model has layers DP-SGD cannot train: {listing}. {why}",
            hint="pass fix=True (CLI: --fix-layers) to swap BatchNorm for GroupNorm (and LSTM/GRU/attention for "
            "Opacus' DP versions) -- this changes the architecture, so the pipeline's builder must build the "
            "fixed model to load the result -- or change the model yourself",
        )
    fixed = ModuleValidator.fix(module)
    still = unsupported_layers(fixed)
    if still:
        raise ConfigError(
            "after fixing, the model still has layers DP-SGD cannot train: "
            + "; ".join(f"{n} ({k}): {r}" for n, k, r in still),
            hint="replace these layers in the model yourself",
        )
    before = dict(module.named_modules())
    after = dict(fixed.named_modules())
    for name, _, _ in bad:
        key = "" if name == "(root)" else name
        new = type(after[key]).__name__ if key in after else "?"
        changes.append(f"{name}: {type(before[key]).__name__} -> {new}")
    return LayerCheck(fixed, tuple(changes))
