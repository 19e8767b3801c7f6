"""The pipeline file, ``pipeshield.toml``: what pipeshield audits and defends.

It names the datasets (CSV, Parquet, NPZ, each with a role), the models (with a loader format, an
optional builder and training callable), an optional served endpoint, the trusted public keys,
other artifacts worth inventorying, and the policy (``fail_on`` and per-check thresholds).

Every error names the file, the key and what was expected::

    pipeshield.toml: models.digits_cnn.format: expected one of 'safetensors', 'torch', ... (got 'h5')

Relative paths are relative to the pipeline file. Callables (``module:function``) are the user's
own code and are imported from the pipeline's folder: they are trusted like a Makefile is; model
and data *files* never are.

    >>> pipeline = load_pipeline("pipeshield.toml")          # doctest: +SKIP
    >>> pipeline.datasets["digits_train"].role
    'train'
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeshield.core.findings import Severity
from pipeshield.errors import ArtifactError, ConfigError

__all__ = [
    "ArtifactSpec",
    "DatasetSpec",
    "DomainSpec",
    "EndpointSpec",
    "GatewayDetectorSpec",
    "GatewaySpec",
    "KeysSpec",
    "ModelSpec",
    "Pipeline",
    "PolicySpec",
    "PrivacyClaim",
    "load_pipeline",
    "parse_pipeline",
    "redact_url",
    "resolve_callable",
]

DATASET_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".npz": "npz"}
MODEL_FORMATS = {
    ".safetensors": "safetensors",
    ".pt": "torch",
    ".pth": "torch",
    ".ts": "torchscript",
    ".torchscript": "torchscript",
    ".skops": "skops",
    ".onnx": "onnx",
}
_CALLABLE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_callable(value: str | None) -> str | None:
    if value is not None and not _CALLABLE.match(value):
        raise ValueError(f"expected 'module:function' (got {value!r})")
    return value


class DomainSpec(_Spec):
    """What a valid input of a dataset looks like, so that attacks only make inputs it could hold.

    ``clip`` bounds every feature; ``bounds`` narrows single features (by column name, ``x0``,
    ``x1``... for NPZ arrays); ``integer`` features stay whole numbers; ``categorical`` and
    ``immutable`` features are never changed (a category code has no small perturbation, and
    some features an attacker cannot touch).
    """

    clip: tuple[float, float] | None = Field(None, description="[lo, hi] for every feature")
    bounds: dict[str, tuple[float, float]] = Field(default_factory=dict, description="per-feature [lo, hi]")
    integer: list[str] = Field(default_factory=list, description="features kept whole numbers")
    categorical: list[str] = Field(default_factory=list, description="category codes: never changed")
    immutable: list[str] = Field(default_factory=list, description="features an attacker cannot change")

    @model_validator(mode="after")
    def _ordered(self) -> DomainSpec:
        ranges = ([("clip", self.clip)] if self.clip is not None else []) + [
            (f"bounds.{k}", v) for k, v in self.bounds.items()
        ]
        for where, (lo, hi) in ranges:
            if not lo <= hi:
                raise ValueError(f"{where}: lower bound {lo} is above upper bound {hi}")
        return self


class DatasetSpec(_Spec):
    """A table (CSV, Parquet) or arrays (NPZ) with a role in the pipeline."""

    path: Path
    role: Literal["train", "test", "reference", "incoming"]
    format: Literal["csv", "parquet", "npz"] | None = None
    label: str | None = Field(None, description="label column (CSV/Parquet) or array name (NPZ)")
    features: list[str] | None = Field(None, description="feature columns; default: all but label")
    x_key: str = Field("x", description="NPZ array holding the features")
    signature: Path | None = Field(None, description="its OMS signature; default: PATH.sig")
    domain: DomainSpec | None = Field(None, description="valid inputs: clip range, bounds, integer/categorical features")
    description: str = ""

    @model_validator(mode="after")
    def _infer_format(self) -> DatasetSpec:
        if self.format is None:
            fmt = DATASET_FORMATS.get(self.path.suffix.lower())
            if fmt is None:
                raise ValueError(
                    f"cannot tell the format of {self.path.name!r} from its extension: "
                    "set format = 'csv', 'parquet' or 'npz'"
                )
            object.__setattr__(self, "format", fmt)
        return self


class PrivacyClaim(_Spec):
    """The differential-privacy guarantee a model's training claims; audits test it."""

    epsilon: float = Field(gt=0, description="the claimed epsilon")
    delta: float = Field(1e-5, ge=0, lt=1, description="the claimed delta")
    accountant: str = Field("", description="how the claim was computed (rdp, prv, gdp...)")


class ModelSpec(_Spec):
    """A model file and how to load it; ``builder`` rebuilds a torch module for a state_dict."""

    path: Path
    format: Literal["safetensors", "torch", "torchscript", "skops", "onnx"] | None = None
    builder: str | None = Field(None, description="module:function returning an nn.Module")
    builder_args: dict[str, Any] = Field(default_factory=dict)
    training: str | None = Field(None, description="module:function(x, y, *, seed) -> model")
    train_data: str | None = None
    test_data: str | None = None
    input_shape: list[int] | None = Field(None, description="reshape flat rows to this shape")
    trusted_types: list[str] = Field(default_factory=list, description="extra skops types")
    signature: Path | None = Field(None, description="its OMS signature; default: PATH.sig")
    provenance: Path | None = Field(None, description="its signed training provenance; default: PATH.provenance.sig")
    privacy: PrivacyClaim | None = Field(None, description="the (epsilon, delta) its training claims")
    description: str = ""

    _v_builder = field_validator("builder", "training")(_check_callable)

    @model_validator(mode="after")
    def _infer_format(self) -> ModelSpec:
        if self.format is None:
            fmt = MODEL_FORMATS.get(self.path.suffix.lower())
            if fmt is None:
                raise ValueError(
                    f"cannot tell the format of {self.path.name!r} from its extension: set format "
                    "= 'safetensors', 'torch', 'torchscript', 'skops' or 'onnx'"
                )
            object.__setattr__(self, "format", fmt)
        if self.format in ("safetensors", "torch") and not self.builder:
            raise ValueError(
                f"a {self.format} state_dict needs builder = 'module:function' that returns the "
                "nn.Module to load it into"
            )
        if self.input_shape is not None and any(d <= 0 for d in self.input_shape):
            raise ValueError("input_shape: every dimension must be positive")
        return self


class EndpointSpec(_Spec):
    """A served model, queried as JSON: ``{input_field: rows}`` -> ``{output_field: probs}``."""

    url: str
    model: str | None = Field(None, description="the model in [models] that it serves")
    batch_size: int = Field(64, ge=1, le=100_000)
    timeout_s: float = Field(30.0, gt=0, le=600)
    max_retries: int = Field(3, ge=0, le=20)
    headers: dict[str, str] = Field(default_factory=dict)
    input_field: str = "inputs"
    output_field: str = "probabilities"

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"expected an http:// or https:// URL (got {value!r})")
        return value

    @property
    def redacted_url(self) -> str:
        """The URL as reports and logs may show it (no ``user:password@``)."""
        return redact_url(self.url)

    def resolved_headers(self) -> dict[str, str]:
        """Headers with ``${VAR}`` taken from the environment, so secrets stay out of the file."""

        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise ConfigError(
                    f"endpoint.headers: environment variable {name} is not set",
                    hint=f"export {name}=... before running pipeshield",
                )
            return os.environ[name]

        return {k: _ENV.sub(sub, v) for k, v in self.headers.items()}


class KeysSpec(_Spec):
    """Public keys whose signatures the pipeline trusts."""

    trusted: list[Path] = Field(default_factory=list)


class GatewayAlertsSpec(_Spec):
    """What the gateway does on an extraction alert, and where it reports it."""

    on_alert: Literal["log", "throttle", "deny", "label-only"] = "log"
    webhook: str | None = Field(None, description="POST each alert here (JSON)")
    webhook_timeout_s: float = Field(2.0, gt=0, le=60)
    throttle_rate: str = Field("1/s", description="a throttled key's request rate")
    throttle_inputs_rate: str = Field("10/s", description="a throttled key's input rate")

    @field_validator("webhook")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"expected an http:// or https:// URL (got {value!r})")
        return value

    @field_validator("throttle_rate", "throttle_inputs_rate")
    @classmethod
    def _rate(cls, value: str) -> str:
        # imported here: the gateway imports this module, so core must not import it at load time
        from pipeshield.gateway.limits import parse_rate

        try:
            parse_rate(value)
        except ConfigError as err:
            raise ValueError(err.message) from None
        return value


class GatewayMonitorSpec(_Spec):
    """The extraction monitor's PRADA and coverage settings (see ``MonitorSettings``)."""

    delta: float = Field(0.9, gt=0, le=1)
    min_samples: int = Field(100, ge=3)
    outlier_sigma: float = Field(3.0, gt=0)
    max_set_per_class: int = Field(500, ge=1)
    window: int = Field(2000, ge=3)
    max_keys: int = Field(1000, ge=1)
    bins: int = Field(10, ge=1)
    max_cell_fraction: float | None = Field(None, gt=0, le=1)
    test_every: int = Field(8, ge=1, le=1000, description="run Shapiro-Wilk every N new distances (1: every query)")


class GatewayDetectorSpec(_Spec):
    """An adversarial/out-of-distribution detector in front of one model (``[gateway.detectors.MODEL]``).

    Fitted at gateway start on the model's ``train_data``; its threshold is the score that
    ``fpr`` of held-out clean training rows exceed. ``action``: ``log`` (the audit log only),
    ``flag`` (the response lists the flagged inputs) or ``deny`` (422 naming the input).
    """

    method: Literal["squeezing", "mahalanobis", "isolation-forest"]
    action: Literal["log", "flag", "deny"] = "log"
    fpr: float = Field(0.01, gt=0, lt=0.5, description="target false-positive rate on clean inputs")
    holdout: float = Field(0.25, ge=0.05, le=0.9, description="fraction of train_data kept to calibrate")
    seed: int = 0
    bits: int = Field(4, ge=1, le=16, description="squeezing: bit depth of the reduced copy")
    median: int = Field(0, ge=0, le=5, description="squeezing: median filter size (0: none; 2 for 28x28+ images)")
    features: Literal["input", "logits"] = Field("input", description="mahalanobis: fit on inputs or logits")
    n_estimators: int = Field(200, ge=10, le=5000, description="isolation-forest: number of trees")


class GatewayTLSSpec(_Spec):
    """The server's certificate and key; ``client_ca`` turns on mutual TLS."""

    certfile: Path
    keyfile: Path
    client_ca: Path | None = None


class GatewaySpec(_Spec):
    """``pipeshield serve``'s settings (flags and ``PIPESHIELD_*`` variables override them).

    ``keys_db``/``log_db`` are SQLite paths (relative to the pipeline file) or SQLAlchemy URLs;
    ``output`` maps a model (``"*"``: every model) to an output policy.
    """

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    keys_db: str | None = None
    log_db: str | None = None
    redis: str | None = Field(None, description="redis:// URL shared by replicas")
    intel: list[Path] = Field(default_factory=list, description="blocklists: plain lists or STIX 2.1 bundles")
    models: list[str] | None = Field(None, description="serve only these models")
    max_body_bytes: int = Field(1024 * 1024, ge=64)
    max_batch: int = Field(1024, ge=1)
    range_tolerance: float = Field(0.05, ge=0, le=10)
    output: dict[str, str] = Field(default_factory=dict)
    log_inputs: bool = False
    trust_forwarded_for: bool = False
    key_cache_s: float = Field(1.0, ge=0, le=3600)
    alerts: GatewayAlertsSpec = Field(default_factory=GatewayAlertsSpec)  # type: ignore[arg-type]
    monitor: GatewayMonitorSpec = Field(default_factory=GatewayMonitorSpec)  # type: ignore[arg-type]
    detectors: dict[str, GatewayDetectorSpec] = Field(default_factory=dict, description="per model")
    tls: GatewayTLSSpec | None = None

    @field_validator("redis")
    @classmethod
    def _redis(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^rediss?://", value):
            raise ValueError(f"expected a redis:// or rediss:// URL (got {value!r})")
        return value

    @field_validator("output")
    @classmethod
    def _policies(cls, value: dict[str, str]) -> dict[str, str]:
        from pipeshield.gateway.keys import parse_output_policy  # imported here, as above

        for model, policy in value.items():
            try:
                parse_output_policy(policy)
            except ConfigError as err:
                raise ValueError(_Located(f"gateway.output.{model}", err.message)) from None
        return value


class ArtifactSpec(_Spec):
    """A file that belongs to the pipeline but that pipeshield never loads (checkpoints, code)."""

    path: Path
    kind: Literal["model", "data", "code", "config", "other"] = "other"
    signature: Path | None = Field(None, description="its OMS signature; default: PATH.sig")
    description: str = ""


class PolicySpec(_Spec):
    """``fail_on``: the lowest severity that fails the audit; ``checks``: per-check settings."""

    fail_on: Severity = Severity.HIGH
    seed: int = 0
    checks: dict[str, dict[str, Any]] = Field(default_factory=dict)


class PipelineMeta(_Spec):
    name: str = "pipeline"
    description: str = ""


class Pipeline(_Spec):
    """A validated pipeline. ``source`` is the file it came from; paths resolve against it."""

    pipeline: PipelineMeta = Field(default_factory=PipelineMeta)
    datasets: dict[str, DatasetSpec] = Field(default_factory=dict)
    models: dict[str, ModelSpec] = Field(default_factory=dict)
    endpoint: EndpointSpec | None = None
    keys: KeysSpec = Field(default_factory=KeysSpec)
    artifacts: dict[str, ArtifactSpec] = Field(default_factory=dict)
    policy: PolicySpec = Field(default_factory=PolicySpec)
    gateway: GatewaySpec | None = None
    source: Path = Field(Path("pipeshield.toml"), exclude=True)

    @model_validator(mode="after")
    def _cross_references(self) -> Pipeline:
        for name, model in self.models.items():
            for key in ("train_data", "test_data"):
                ref = getattr(model, key)
                if ref is not None and ref not in self.datasets:
                    raise ValueError(_Located(f"models.{name}.{key}", _unknown("dataset", ref, self.datasets)))
        if self.endpoint and self.endpoint.model and self.endpoint.model not in self.models:
            raise ValueError(_Located("endpoint.model", _unknown("model", self.endpoint.model, self.models)))
        if self.gateway is not None:
            for name in self.gateway.models or []:
                if name not in self.models:
                    raise ValueError(_Located("gateway.models", _unknown("model", name, self.models)))
            for name in self.gateway.output:
                if name != "*" and name not in self.models:
                    raise ValueError(_Located(f"gateway.output.{name}", _unknown("model", name, self.models)))
            for name in self.gateway.detectors:
                if name not in self.models:
                    raise ValueError(_Located(f"gateway.detectors.{name}", _unknown("model", name, self.models)))
        return self

    @property
    def name(self) -> str:
        return self.pipeline.name

    @property
    def base_dir(self) -> Path:
        return self.source.parent

    def resolve(self, path: Path | str) -> Path:
        """An absolute path for a path written in the pipeline file."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)

    def display(self, path: Path | str) -> str:
        """A path as the user wrote it, relative to the pipeline folder where possible."""
        p = self.resolve(path)
        for base in (self.base_dir, self.base_dir.resolve()):
            try:
                return p.relative_to(base).as_posix()
            except ValueError:
                continue
        return p.as_posix()

    def referenced_files(self) -> list[tuple[str, str, Path]]:
        """Every file the pipeline names, as ``(key, kind, absolute path)``."""
        files: list[tuple[str, str, Path]] = []
        for name, ds in self.datasets.items():
            files.append((f"datasets.{name}.path", "dataset", self.resolve(ds.path)))
        for name, model in self.models.items():
            files.append((f"models.{name}.path", "model", self.resolve(model.path)))
        for i, key in enumerate(self.keys.trusted):
            files.append((f"keys.trusted[{i}]", "key", self.resolve(key)))
        for name, art in self.artifacts.items():
            files.append((f"artifacts.{name}.path", art.kind, self.resolve(art.path)))
        return files

    def check_settings(self, check_id: str) -> dict[str, Any]:
        return dict(self.policy.checks.get(check_id, {}))


class _Located(str):
    """A validation message that carries its own key path (for cross-reference errors)."""

    loc: str

    def __new__(cls, loc: str, message: str) -> _Located:
        obj = super().__new__(cls, message)
        obj.loc = loc
        return obj


def redact_url(url: str) -> str:
    """``url`` with any ``user:password@`` replaced by ``***@``: never echo credentials."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = f"***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _unknown(kind: str, ref: str, known: dict[str, Any]) -> str:
    names = ", ".join(repr(k) for k in known) or "none defined"
    return f"no {kind} named {ref!r} (known: {names})"


def _format_validation(path: Path | str, err: ValidationError) -> ConfigError:
    first = err.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in first["loc"] if p not in ("function-after[_infer_format()]",))
    msg = first["msg"]
    ctx = first.get("ctx") or {}
    inner = ctx.get("error")
    located = inner.args[0] if isinstance(inner, ValueError) and inner.args else None
    if isinstance(located, _Located):
        loc, msg = located.loc, str(located)
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if first["type"] == "extra_forbidden":
        msg = "unknown key (check the spelling; see docs/guide.md for the pipeline file reference)"
    elif first["type"] == "missing":
        msg = "required key is missing"
    elif first["type"] in ("literal_error", "enum"):
        got = first.get("input")
        msg = f"{msg} (got {got!r})"
    more = len(err.errors()) - 1
    suffix = f" (and {more} more error{'s' if more > 1 else ''})" if more > 0 else ""
    where = f"{path}: {loc}: " if loc else f"{path}: "
    return ConfigError(where + msg + suffix)


def parse_pipeline(data: dict[str, Any], source: Path | str = "pipeshield.toml") -> Pipeline:
    """Validate an already-parsed pipeline mapping (the library's entry point for tests and APIs)."""
    try:
        return Pipeline.model_validate({**data, "source": Path(source)})
    except ValidationError as err:
        raise _format_validation(source, err) from None


def load_pipeline(path: Path | str = "pipeshield.toml", *, check_files: bool = True) -> Pipeline:
    """Read, validate and (by default) check that every referenced file exists."""
    path = Path(path)
    if path.is_dir():
        path = path / "pipeshield.toml"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: pipeline file not found", hint="create one with `pipeshield init DIR`"
        ) from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the pipeline file ({err.strerror})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: invalid TOML: {err}") from None
    pipeline = parse_pipeline(data, path.absolute())
    if check_files:
        for key, _kind, file in pipeline.referenced_files():
            if not file.is_file():
                what = "is a directory, expected a file" if file.is_dir() else "file not found"
                raise ArtifactError(f"{path}: {key}: {what}: {pipeline.display(file)}")
    return pipeline


def resolve_callable(ref: str, pipeline: Pipeline, key: str) -> Callable[..., Any]:
    """Import ``module:function``, looking in the pipeline's folder first."""
    module_name, _, attr = ref.partition(":")
    base = str(pipeline.base_dir.resolve())
    added = base not in sys.path
    if added:  # only while importing: the pipeline folder must not shadow modules imported later
        sys.path.insert(0, base)
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(f"{pipeline.source}: {key}: cannot import {module_name!r} ({err})") from None
    except Exception as err:  # the user's module raised while importing (a SyntaxError, say)
        raise ConfigError(
            f"{pipeline.source}: {key}: importing {module_name!r} failed: {type(err).__name__}: {err}"
        ) from None
    finally:
        if added and base in sys.path:
            sys.path.remove(base)
    fn: Any = getattr(module, attr, None)
    if not callable(fn):
        raise ConfigError(f"{pipeline.source}: {key}: {module_name!r} has no callable {attr!r}")
    return fn  # type: ignore[no-any-return]
