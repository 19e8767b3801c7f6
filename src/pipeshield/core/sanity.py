"""Configuration sanity: mistakes in the pipeline file that weaken every other control.

Each rule is a small function ``(pipeline) -> findings``; the check runs them all and reports one
``pass`` that lists the rules that found nothing, so a clean result says what it looked at.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from urllib.parse import urlparse

from pipeshield.core.checks import Check, CheckContext
from pipeshield.core.findings import Finding, Severity, Stage, Status, Threat
from pipeshield.core.pipeline import Pipeline

__all__ = ["ConfigSanity", "RULES"]

Rule = Callable[["ConfigSanity", Pipeline], Iterator[Finding]]
RULES: dict[str, Rule] = {}


def rule(name: str) -> Callable[[Rule], Rule]:
    def deco(fn: Rule) -> Rule:
        RULES[name] = fn
        return fn

    return deco


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ConfigSanity(Check):
    id = "core.config-sanity"
    title = "Pipeline configuration"
    stage = Stage.DEPLOYMENT
    threat = Threat.GOVERNANCE
    stages = tuple(Stage)
    cost = "cheap"
    description = "Settings in pipeshield.toml that leave a stage untested or exposed."

    def run(self, ctx: CheckContext, subject: str | None) -> Iterator[Finding]:
        clean = []
        for name, fn in RULES.items():
            found = list(fn(self, ctx.pipeline))
            yield from found
            if not found:
                clean.append(name)
        yield self.finding(
            Status.PASS,
            subject="pipeline",
            message=f"{len(clean)} of {len(RULES)} configuration rules found nothing",
            settings={"rules_clean": clean, "rules": list(RULES)},
            locations=(ctx.pipeline.source.name,),
        )

    def problem(self, status: Status, severity: Severity, subject: str, message: str, **kw: object) -> Finding:
        return self.finding(status, severity=severity, subject=subject, message=message, **kw)


@rule("models-have-test-data")
def _test_data(self: ConfigSanity, p: Pipeline) -> Iterator[Finding]:
    for name, model in p.models.items():
        if model.test_data is None:
            yield self.problem(
                Status.WARN, Severity.MEDIUM, f"models.{name}.test_data",
                f"models.{name} names no test_data: its accuracy and robustness cannot be measured",
                stage=Stage.VALIDATION, remediation="Add test_data = '<dataset>' with a held-out labelled set.",
                locations=(p.source.name,),
            )


@rule("test-is-not-train")
def _test_not_train(self: ConfigSanity, p: Pipeline) -> Iterator[Finding]:
    for name, model in p.models.items():
        if model.train_data and model.test_data:
            a, b = p.datasets[model.train_data], p.datasets[model.test_data]
            if model.train_data == model.test_data or p.resolve(a.path).resolve() == p.resolve(b.path).resolve():
                yield self.problem(
                    Status.FAIL, Severity.HIGH, f"models.{name}",
                    f"models.{name} is tested on its training data ({p.display(a.path)}): accuracy is inflated "
                    "and leakage is invisible",
                    stage=Stage.VALIDATION, threat=Threat.DATA_LEAKAGE,
                    remediation="Hold out a test set that shares no rows with the training set.",
                    locations=(p.source.name,),
                )


@rule("dataset-roles")
def _roles(self: ConfigSanity, p: Pipeline) -> Iterator[Finding]:
    roles = {d.role for d in p.datasets.values()}
    if p.models and "test" not in roles:
        yield self.problem(
            Status.WARN, Severity.MEDIUM, "datasets", "no dataset has role = 'test'",
            stage=Stage.VALIDATION, locations=(p.source.name,),
        )
    if "incoming" in roles and "reference" not in roles and "train" not in roles:
        yield self.problem(
            Status.WARN, Severity.LOW, "datasets",
            "incoming data has no reference or train dataset to be validated against",
            stage=Stage.PREPROCESSING, threat=Threat.FEATURE_INJECTION, locations=(p.source.name,),
        )


@rule("endpoint-transport")
def _endpoint(self: ConfigSanity, p: Pipeline) -> Iterator[Finding]:
    if p.endpoint is None:
        return
    url = urlparse(p.endpoint.url)
    if url.username or url.password:
        yield self.problem(
            Status.FAIL, Severity.HIGH, "endpoint.url.credentials",
            "endpoint.url embeds a user name or password: it ends up in logs and reports",
            threat=Threat.MODEL_THEFT,
            remediation='Pass credentials in endpoint.headers with "${ENV_VAR}" instead.',
            locations=(p.source.name,),
        )
    if url.scheme == "http" and not _is_loopback(url.hostname or ""):
        yield self.problem(
            Status.FAIL, Severity.MEDIUM, "endpoint.url",
            f"endpoint {p.endpoint.url} is plain HTTP: queries, answers and API keys cross the network unencrypted",
            threat=Threat.MODEL_THEFT, remediation="Serve the model over HTTPS (TLS) only.",
            locations=(p.source.name,),
        )
    for header, value in p.endpoint.headers.items():
        secretish = header.lower() in ("authorization", "x-api-key", "api-key", "cookie")
        if secretish and "${" not in value:
            yield self.problem(
                Status.FAIL, Severity.HIGH, f"endpoint.headers.{header}",
                f"endpoint.headers.{header} holds a literal credential in the pipeline file",
                threat=Threat.MODEL_THEFT,
                remediation=f'Write {header} = "... ${{ENV_VAR}}" and keep the secret in the environment.',
                locations=(p.source.name,),
            )


@rule("trusted-keys")
def _keys(self: ConfigSanity, p: Pipeline) -> Iterator[Finding]:
    from cryptography.hazmat.primitives.serialization import (
        load_pem_public_key,
        load_ssh_public_key,
    )

    if not p.keys.trusted:
        yield self.problem(
            Status.WARN, Severity.MEDIUM, "keys.trusted",
            "no trusted public keys: signatures on data and models cannot be verified",
            stage=Stage.TRAINING, threat=Threat.SUPPLY_CHAIN,
            remediation="Sign datasets and models and list the signer's public key under [keys] trusted.",
            locations=(p.source.name,),
        )
    for i, key in enumerate(p.keys.trusted):
        raw = p.resolve(key).read_bytes()
        if b"PRIVATE KEY" in raw:
            yield self.problem(
                Status.FAIL, Severity.CRITICAL, f"keys.trusted[{i}]",
                f"{p.display(key)} holds a PRIVATE key: anyone who reads the pipeline can sign as you",
                stage=Stage.TRAINING, threat=Threat.SUPPLY_CHAIN,
                remediation="Remove the private key from the repository, rotate it, list only the public key.",
                locations=(p.display(key),),
            )
            continue
        try:
            if raw.startswith(b"-----BEGIN"):
                load_pem_public_key(raw)
            else:
                load_ssh_public_key(raw)
        except (ValueError, TypeError) as err:
            yield self.problem(
                Status.FAIL, Severity.HIGH, f"keys.trusted[{i}]",
                f"{p.display(key)} is not a public key ({err})",
                stage=Stage.TRAINING, threat=Threat.SUPPLY_CHAIN,
                remediation="List the PEM public key of each signer; never a private key.",
                locations=(p.display(key),),
            )


@rule("model-formats")
def _formats(self: ConfigSanity, p: Pipeline) -> Iterator[Finding]:
    for name, model in p.models.items():
        if model.format == "torch":
            yield self.problem(
                Status.WARN, Severity.LOW, f"models.{name}.format",
                f"models.{name} is a pickle-based torch file; pipeshield loads it with weights_only=True, "
                "but any other consumer may not",
                stage=Stage.TRAINING, threat=Threat.SUPPLY_CHAIN,
                remediation="Save the state_dict as safetensors.", locations=(p.display(model.path),),
            )
        elif model.format == "torchscript":
            yield self.problem(
                Status.WARN, Severity.MEDIUM, f"models.{name}.format",
                f"models.{name} is TorchScript: loading it runs the archive's TorchScript code "
                "(no arbitrary Python, but code chosen by whoever wrote the file)",
                stage=Stage.TRAINING, threat=Threat.SUPPLY_CHAIN,
                remediation="Prefer a safetensors state_dict with a builder, or ONNX.",
                locations=(p.display(model.path),),
            )


@rule("training-callables")
def _training(self: ConfigSanity, p: Pipeline) -> Iterator[Finding]:
    for name, model in p.models.items():
        if model.training is None:
            yield self.problem(
                Status.WARN, Severity.INFO, f"models.{name}.training",
                f"models.{name} has no training callable: checks that train reference or hardened models "
                "(membership inference, poisoning-robust training) will be skipped for it",
                stage=Stage.TRAINING, locations=(p.source.name,),
            )


@rule("files-inside-pipeline")
def _inside(self: ConfigSanity, p: Pipeline) -> Iterator[Finding]:
    base = p.base_dir.resolve()
    for key, _kind, path in p.referenced_files():
        if not path.resolve().is_relative_to(base):
            yield self.problem(
                Status.WARN, Severity.LOW, key.removesuffix(".path"),
                f"{key} points outside the pipeline folder ({path}): reports will show an absolute path, "
                "and code scanning cannot map it to the repository",
                remediation="Keep the pipeline's files inside its folder (or a sub-folder).",
                locations=(p.source.name,),
            )
