"""Training provenance: a signed in-toto Statement with a SLSA provenance v1 predicate.

``attest`` records what went into a training run — datasets and base models with their digests
(``resolvedDependencies``), hyperparameters (``externalParameters``), the environment (Python,
package versions, a lock file's digest, the git commit) — and names the produced model, with its
digest, as the subject. ``verify_provenance`` checks the chain of custody: the model's own
signature, the attestation's signature, that the model is the one attested, and that every
input named in it is itself signed by a trusted key and unchanged.

    >>> attest("models/cnn.safetensors", key="keys/ci.key", datasets=["data/train.npz"],
    ...        params={"epochs": 40})                                      # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from pipeshield.core.files import atomic_write_bytes
from pipeshield.errors import ArtifactError, VerificationError
from pipeshield.integrity.digests import digest_file
from pipeshield.integrity.envelope import open_sealed, seal, trusted_keys, verification_failed
from pipeshield.integrity.keys import load_private_key
from pipeshield.integrity.manifest import Serialization, build_manifest
from pipeshield.integrity.oms import STATEMENT_TYPE, root_digest
from pipeshield.integrity.signing import verify

__all__ = ["PREDICATE_TYPE", "AttestResult", "ProvenanceResult", "attest", "default_attestation_path", "verify_provenance"]

PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "urn:pipeshield:buildtype:training:v1"
ROLES = ("dataset", "base_model")
_PACKAGES = ("pipeshield", "torch", "scikit-learn", "numpy", "pandas", "onnxruntime", "skops", "safetensors")


@dataclass(frozen=True)
class AttestResult:
    path: Path
    statement: dict[str, Any]


@dataclass(frozen=True)
class ProvenanceResult:
    attestation: Path
    model_digest: str
    dependencies: tuple[str, ...]


def default_attestation_path(model: Path) -> Path:
    return model.with_name(model.name + ".provenance.sig")


def artifact_digest(path: Path) -> str:
    """SHA-256 of a file, or the OMS root digest of a folder (what its signature's subject holds)."""
    if path.is_dir():
        return root_digest(build_manifest(path, Serialization(ignore_paths=(".git", "model.sig"))))
    return digest_file(path, "sha256")


def _relative_uri(path: Path, base: Path) -> str:
    """``file:`` + the path relative to the attestation, so the pipeline can move as a whole."""
    return "file:" + Path(os.path.relpath(path.resolve(), base.resolve())).as_posix()


def _environment(cwd: Path, lock: Path | None) -> dict[str, Any]:
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": {},
    }
    for name in _PACKAGES:
        try:
            env["packages"][name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    if lock is not None:
        env["lock"] = {"path": lock.name, "sha256": digest_file(lock)}
    git = _git(cwd)
    if git:
        env["git"] = git
    return env


def _git(cwd: Path) -> dict[str, Any] | None:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


def attest(
    model: Path | str,
    *,
    key: Path | str,
    datasets: Sequence[Path | str] = (),
    base_models: Sequence[Path | str] = (),
    params: Mapping[str, Any] | None = None,
    lock: Path | str | None = None,
    out: Path | str | None = None,
    passphrase: str | None = None,
    builder_id: str = "urn:pipeshield:builder:local",
    started: dt.datetime | None = None,
    recipe: str | None = None,
    guarantee: Mapping[str, Any] | None = None,
) -> AttestResult:
    """Write a signed SLSA provenance statement for ``model`` (atomically).

    ``recipe`` and ``guarantee`` (training recipes: what was run and what it claims, e.g.
    ``{"epsilon": 3.0, "delta": 1e-5, "accountant": "prv"}``) join the hyperparameters in
    ``externalParameters``."""
    model = Path(model)
    if not model.exists():
        raise ArtifactError(f"{model}: no such file or folder")
    out_path = Path(out) if out else default_attestation_path(model)
    base = out_path.parent
    deps: list[dict[str, Any]] = []
    for role, paths in (("dataset", datasets), ("base_model", base_models)):
        for p in map(Path, paths):
            if not p.exists():
                raise ArtifactError(f"{p}: no such file or folder (named as a {role.replace('_', ' ')})")
            deps.append({
                "name": p.name,
                "uri": _relative_uri(p, base),
                "digest": {"sha256": artifact_digest(p)},
                "annotations": {"role": role},
            })
    signing_key = load_private_key(key, passphrase)
    lock_path = Path(lock) if lock else None
    if lock_path is not None and not lock_path.is_file():
        raise ArtifactError(f"{lock_path}: lock file not found")
    now = dt.datetime.now(dt.UTC)
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": model.name, "digest": {"sha256": artifact_digest(model)}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "hyperparameters": dict(params or {}),
                    **({"recipe": recipe} if recipe else {}),
                    **({"guarantee": dict(guarantee)} if guarantee is not None else {}),
                },
                "internalParameters": {"environment": _environment(model.resolve().parent, lock_path)},
                "resolvedDependencies": deps,
            },
            "runDetails": {
                "builder": {"id": builder_id},
                "metadata": {
                    "invocationId": str(uuid.uuid4()),
                    "startedOn": (started or now).isoformat(timespec="seconds"),
                    "finishedOn": now.isoformat(timespec="seconds"),
                },
            },
        },
    }
    atomic_write_bytes(out_path, seal(statement, signing_key))
    return AttestResult(out_path, statement)


def _dependencies(statement: dict[str, Any], where: Path) -> list[dict[str, Any]]:
    try:
        deps = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
        if not isinstance(deps, list):
            raise TypeError
        return deps
    except (KeyError, TypeError):
        raise verification_failed(where, [f"{where}: the attestation has no predicate.buildDefinition.resolvedDependencies"]) from None


def _dep_path(uri: str, base: Path) -> Path | None:
    if uri.startswith("file://"):
        return Path(uri[len("file://") :])
    if uri.startswith("file:"):
        return base / uri[len("file:") :]
    return None


def verify_provenance(
    model: Path | str,
    attestation: Path | str | None,
    public_keys: Sequence[Path | str],
    *,
    model_signature: Path | str | None = None,
) -> ProvenanceResult:
    """Check the chain of custody; raises VerificationError listing every broken link."""
    model = Path(model)
    att = Path(attestation) if attestation else default_attestation_path(model)
    problems: list[str] = []
    try:
        verify(model, public_keys, signature=model_signature)
    except VerificationError as err:
        problems += [f"model signature: {p}" for p in err.problems]
    opened = open_sealed(model, att, trusted_keys(public_keys))
    statement = opened.statement
    if statement.get("predicateType") != PREDICATE_TYPE:
        raise verification_failed(model, [f"{att}: predicateType is {statement.get('predicateType')!r}, not SLSA provenance v1"])
    digest = artifact_digest(model)
    subjects = statement.get("subject") or []
    attested = {s.get("digest", {}).get("sha256") for s in subjects if isinstance(s, dict)}
    if digest not in attested:
        problems.append(f"{model}: is not the model this attestation describes (digest {digest[:16]}... not among its subjects)")
    names = []
    for dep in _dependencies(statement, att):
        uri = str(dep.get("uri", ""))
        role = (dep.get("annotations") or {}).get("role", "dependency")
        path = _dep_path(uri, att.parent)
        names.append(uri)
        if path is None:
            problems.append(f"{role} {uri}: not a local file: URI, cannot be checked")
            continue
        if not path.exists():
            problems.append(f"{role} {path}: named in the attestation but missing")
            continue
        expected = (dep.get("digest") or {}).get("sha256")
        if artifact_digest(path) != expected:
            problems.append(f"{role} {path}: changed since the training run (digest differs from the attestation)")
        try:
            verify(path, public_keys)
        except VerificationError as err:
            problems += [f"{role} {p}" for p in err.problems]
    if problems:
        raise verification_failed(model, problems)
    return ProvenanceResult(att, digest, tuple(names))

