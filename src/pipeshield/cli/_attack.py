"""What every ``pipeshield attack ...`` command shares: the output and budget choices, and the
check context for one pipeline model with the command line's overrides on the policy's settings."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeshield.core.checks import Check, CheckContext

__all__ = ["AttackBudget", "OutputFormat", "attack_context"]


class OutputFormat(enum.StrEnum):
    text = "text"
    json = "json"


class AttackBudget(enum.StrEnum):
    quick = "quick"
    standard = "standard"
    thorough = "thorough"


def attack_context(
    pipeline: Path, check: Check, model: str | None, update: Mapping[str, Any], seed: int
) -> CheckContext:
    """The check's settings from the pipeline's policy with ``update`` applied (enum values
    unwrapped), for ``model`` (``None``: no model, e.g. an endpoint); a model that is not in the
    pipeline or that the check cannot attack is a usage error naming why."""
    from pipeshield.core.checks import CheckContext, check_settings
    from pipeshield.core.pipeline import load_pipeline
    from pipeshield.errors import ConfigError

    pipe = load_pipeline(pipeline)
    if model is not None:
        if model not in pipe.models:
            known = ", ".join(pipe.models) or "none"
            raise ConfigError(f"--model: no model named {model!r} in {pipeline} (models: {known})")
        reason = check.skip_reason(pipe, model)
        if reason:
            raise ConfigError(reason)
    values = {k: (v.value if isinstance(v, enum.Enum) else v) for k, v in update.items()}
    settings = check_settings(check, pipe).model_copy(update=values)
    return CheckContext(pipe, settings, seed=seed)
