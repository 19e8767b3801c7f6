"""Checks: small units that declare a stage and a threat and yield Findings.

A check subclasses :class:`Check` and is registered by defining ``id``. It says which subjects it
runs on (each model, each dataset, or the pipeline as a whole), why it cannot run when it cannot
(``skip_reason``: the audit turns that into a ``skipped`` finding instead of silence), and takes
its thresholds from a pydantic ``Settings`` model that the pipeline's ``[policy.checks."<id>"]``
table overrides, validated like the rest of the file.

    class CleanAccuracy(Check):
        id = "validation.clean-accuracy"
        title = "Clean accuracy"
        stage, threat = Stage.VALIDATION, Threat.GOVERNANCE

        def subjects(self, pipeline):
            return list(pipeline.models)

        def run(self, ctx, subject):
            yield self.finding(Status.PASS, subject=subject, metrics={"accuracy": 0.98})

Checks run in worker processes: ``run`` must rely only on the context it is given.
"""

from __future__ import annotations

import abc
import importlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from pipeshield.core.findings import Finding, Stage, Status, Threat
from pipeshield.errors import CheckError, ConfigError

if TYPE_CHECKING:
    from pipeshield.core.datasets import Dataset
    from pipeshield.core.pipeline import Pipeline
    from pipeshield.core.targets import Target

__all__ = [
    "Check",
    "CheckContext",
    "NoSettings",
    "all_checks",
    "check_settings",
    "get_check",
    "iter_checks",
    "validate_policy",
]

#: Modules whose checks ship with pipeshield; plug-ins add theirs under the
#: ``pipeshield.checks`` entry-point group.
BUILTIN_CHECK_MODULES: tuple[str, ...] = (
    "pipeshield.core.sanity",
    "pipeshield.integrity.inventory",
    "pipeshield.supplychain.check",
    "pipeshield.supplychain.deps.check",
    "pipeshield.integrity.check",
    "pipeshield.integrity.provenance_check",
    "pipeshield.validation.accuracy",
    "pipeshield.data.validate.check",
    "pipeshield.data.leakage.check",
    "pipeshield.data.poisoning.check",
    "pipeshield.attacks.evasion.check",
    "pipeshield.attacks.inversion.check",
    "pipeshield.attacks.membership.check",
    "pipeshield.attacks.extraction.check",
    "pipeshield.attacks.membership.dp_audit_check",
    "pipeshield.training.check",
)

_REGISTRY: dict[str, type[Check]] = {}


class NoSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Check(abc.ABC):
    """Base of every check; subclasses set the class attributes and implement ``run``."""

    id: ClassVar[str]
    title: ClassVar[str]
    stage: ClassVar[Stage]
    threat: ClassVar[Threat]
    description: ClassVar[str] = ""
    remediation: ClassVar[str] = ""
    Settings: ClassVar[type[BaseModel]] = NoSettings
    #: Stages this check can report on; defaults to ``(stage,)``. ``--only`` filters on it.
    stages: ClassVar[tuple[Stage, ...]] = ()
    #: ``cheap`` items run in the audit's own process; ``heavy`` ones (loading models, attacks)
    #: go to the executor's workers.
    cost: ClassVar[str] = "heavy"
    #: Rough seconds per subject on the demo (only the order matters): the audit starts the longest
    #: heavy items first, so that one long check does not start last and finish alone.
    expected_seconds: ClassVar[float] = 1.0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "id" in cls.__dict__:
            if cls.id in _REGISTRY and _REGISTRY[cls.id].__qualname__ != cls.__qualname__:
                raise RuntimeError(f"two checks share the id {cls.id!r}")
            _REGISTRY[cls.id] = cls
            if not cls.__dict__.get("stages"):
                cls.stages = (cls.stage,)

    def subjects(self, pipeline: Pipeline) -> list[str | None]:
        """What the check runs on, one work item each; ``None`` means the whole pipeline."""
        return [None]

    def skip_reason(self, pipeline: Pipeline, subject: str | None) -> str | None:
        """Why the check cannot run on this subject, or ``None`` when it can. Must be cheap."""
        return None

    @abc.abstractmethod
    def run(self, ctx: CheckContext, subject: str | None) -> Iterable[Finding]:
        """Yield the findings for one subject."""

    def finding(self, status: Status, **fields: Any) -> Finding:
        """A Finding with this check's id, title, stage and threat filled in (overridable)."""
        base: dict[str, Any] = {
            "check": self.id,
            "title": self.title,
            "stage": self.stage,
            "threat": self.threat,
            "remediation": self.remediation,
        }
        base.update(fields)
        return Finding(status=status, **base)

    def skipped(self, subject: str | None, reason: str) -> Finding:
        return self.finding(Status.SKIPPED, subject=subject, message=reason)


@dataclass
class CheckContext:
    """What a running check may use: the pipeline, its settings, a seed and cached loaders."""

    pipeline: Pipeline
    settings: Any
    seed: int = 0
    _datasets: dict[str, Dataset] = field(default_factory=dict, repr=False)
    _targets: dict[str, Target] = field(default_factory=dict, repr=False)

    def dataset(self, name: str) -> Dataset:
        from pipeshield.core.datasets import load_dataset

        if name not in self._datasets:
            self._datasets[name] = load_dataset(self.pipeline, name)
        return self._datasets[name]

    def target(self, model: str) -> Target:
        from pipeshield.core.targets import load_target

        if model not in self._targets:
            self._targets[model] = load_target(self.pipeline, model)
        return self._targets[model]


def _load_builtin() -> None:
    for module in BUILTIN_CHECK_MODULES:
        importlib.import_module(module)
    for ep in entry_points(group="pipeshield.checks"):
        ep.load()


def all_checks() -> dict[str, type[Check]]:
    """Every registered check, by id (built-ins and plug-ins)."""
    _load_builtin()
    return dict(sorted(_REGISTRY.items()))


def get_check(check_id: str) -> Check:
    checks = all_checks()
    if check_id not in checks:
        raise CheckError(f"no check named {check_id!r} (known: {', '.join(checks)})")
    return checks[check_id]()


def check_settings(check: Check, pipeline: Pipeline) -> BaseModel:
    """The check's settings with the pipeline's overrides, or a ConfigError naming the key."""
    raw = pipeline.check_settings(check.id)
    try:
        return check.Settings.model_validate(raw)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        key = ".".join(str(p) for p in first["loc"])
        msg = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            known = ", ".join(check.Settings.model_fields) or "none"
            msg = f"unknown setting (settings of this check: {known})"
        raise ConfigError(f'{pipeline.source}: policy.checks."{check.id}".{key}: {msg}') from None


def validate_policy(pipeline: Pipeline) -> None:
    """Every ``[policy.checks.X]`` names a real check, with valid settings."""
    checks = all_checks()
    for check_id in pipeline.policy.checks:
        if check_id not in checks:
            raise ConfigError(
                f'{pipeline.source}: policy.checks."{check_id}": no such check',
                hint="`pipeshield checks` lists them",
            )
        check_settings(checks[check_id](), pipeline)


def iter_checks(stages: Iterable[Stage] | None = None) -> Iterator[Check]:
    wanted = set(stages) if stages else None
    for cls in all_checks().values():
        if wanted is None or wanted.intersection(cls.stages):
            yield cls()
