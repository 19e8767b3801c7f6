"""Which models the gateway serves: each one verified, scanned, loaded, and given an input schema.

A model is served only when (1) its OMS signature verifies against the pipeline's trusted keys
(:func:`pipeshield.integrity.signing.verify`, the function the audit's signature check uses), (2)
the supply-chain scanner gives its file a ``clean`` verdict
(:func:`pipeshield.supplychain.scanner.scan_path`), (3) its safe loader accepts it
(:func:`pipeshield.core.targets.load_target`) and (4) an input schema can be learned from its
training data. Otherwise it is listed in ``failed`` with the reason ``/readyz`` shows.

The file is read ONCE: the signature digest, the scan and the loader all see those same bytes
(:func:`_verified_bytes`, then :func:`pipeshield.core.targets.base.load_target_bytes`), so swapping
the file after it was read cannot change what is served. (A folder-signed model cannot be served:
the loaders take one file.)
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeshield.core.pipeline import Pipeline
from pipeshield.errors import PipeshieldError, VerificationError
from pipeshield.gateway.input_policy import InputSchema, schema_for_model

if TYPE_CHECKING:
    from pipeshield.core.pipeline import GatewayDetectorSpec
    from pipeshield.gateway.detectors import GatewayDetector

__all__ = ["ServedModel", "load_models"]

log = logging.getLogger("pipeshield.gateway")


@dataclass(frozen=True)
class ServedModel:
    name: str
    target: Any
    schema: InputSchema
    classes: tuple[Any, ...] | None
    detector: GatewayDetector | None = None  # [gateway.detectors.NAME], fitted at start

    def labels(self, probs: np.ndarray) -> list[Any]:
        idx = probs.argmax(axis=1)
        if self.classes:
            return [self.classes[int(i)] for i in idx]
        return [int(i) for i in idx]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _digest(data: bytes | memoryview, algorithm: str) -> str:
    if algorithm == "sha256":
        return hashlib.sha256(data).hexdigest()
    if algorithm == "blake3":
        import blake3

        return str(blake3.blake3(data).hexdigest())
    raise ValueError(f"unknown hash algorithm {algorithm!r}")


def _verified_bytes(path: Path, data: bytes, keys: list[Path], sig: Path) -> None:
    """Check the OMS signature ``sig`` against ``data`` (the bytes read from ``path``), not against
    the file again: the same checks as :func:`pipeshield.integrity.signing.verify` for one file
    (trusted key, signature, then every signed digest, ``files`` or ``shards``); raises
    VerificationError naming what differs."""
    from pipeshield.integrity import oms
    from pipeshield.integrity.envelope import open_sealed, trusted_keys, verification_failed
    from pipeshield.integrity.manifest import Manifest, diff_manifests

    opened = open_sealed(path, sig, trusted_keys(keys), unsigned_hint=f"sign it with `pipeshield sign {path}`")
    try:
        signed = oms.manifest_from_statement(opened.payload)
    except oms.FormatError as err:
        raise verification_failed(path, [f"{sig}: {err}"]) from None
    ser = signed.serialization
    view = memoryview(data)
    try:
        if ser.method == "shards":
            assert ser.shard_size is not None
            spans = [(a, min(a + ser.shard_size, len(data))) for a in range(0, len(data), ser.shard_size)] or [(0, 0)]
            actual = {f".:{a}:{b}": _digest(view[a:b], ser.hash_type) for a, b in spans}
        else:
            actual = {".": _digest(view, ser.hash_type)}
    except ValueError as err:
        raise verification_failed(path, [f"{sig}: {err}"]) from None
    if any(n != "." and not n.startswith(".:") for n in signed.resources):
        raise verification_failed(path, [f"{sig} signs a folder, but {path} is a file"])
    problems = diff_manifests(signed, Manifest(signed.model_name, actual, ser)).problems(path)
    if problems:
        raise verification_failed(path, problems)


def _refusal(pipeline: Pipeline, name: str, data: bytes) -> str | None:
    """Why ``name`` must not be served (signature, then scan, both on ``data``), or None."""
    from pipeshield.integrity.signing import default_signature_path
    from pipeshield.supplychain.results import Verdict
    from pipeshield.supplychain.scanner import scan_bytes

    spec = pipeline.models[name]
    path = pipeline.resolve(spec.path)
    if not pipeline.keys.trusted:
        return "signature: no trusted keys under [keys] trusted, so the model cannot be verified"
    sig = pipeline.resolve(spec.signature) if spec.signature else default_signature_path(path)
    if not sig.exists():
        return f"signature: {pipeline.display(path)} is not signed (no {pipeline.display(sig)})"
    try:
        _verified_bytes(path, data, [pipeline.resolve(k) for k in pipeline.keys.trusted], sig)
    except VerificationError as err:
        return "signature: " + (err.problems[0] if err.problems else err.message)
    except PipeshieldError as err:
        return f"signature: {err.message}"
    result = scan_bytes(data, pipeline.display(path))
    if result.verdict is not Verdict.CLEAN:
        found = "; ".join(f"{f.rule}: {f.message}" for f in result.findings)[:500]
        return f"scan: {pipeline.display(path)} is {result.verdict.value}" + (f" ({found})" if found else "")
    return None


def _read_model(pipeline: Pipeline, name: str) -> tuple[bytes | None, str | None]:
    """The model file's bytes, read once (None and the reason when it cannot be read)."""
    path = pipeline.resolve(pipeline.models[name].path)
    if path.is_dir():
        return None, f"load: {pipeline.display(path)} is a folder; the gateway serves single-file models"
    try:
        return path.read_bytes(), None
    except OSError as err:
        return None, f"load: {pipeline.display(path)}: cannot read: {err.strerror or err}"


def _fit_detector(pipeline: Pipeline, name: str, target: Any, spec: GatewayDetectorSpec | None,
                  ) -> tuple[GatewayDetector | None, str | None]:
    """The model's fitted detector (None without one), or why it could not be fitted."""
    if spec is None:
        return None, None
    from pipeshield.gateway.detectors import detector_for_model

    try:
        return detector_for_model(pipeline, name, target, spec), None
    except PipeshieldError as err:
        return None, f"detector: {err.message}"


def load_models(
    pipeline: Pipeline, names: tuple[str, ...] | None = None, *, tolerance: float = 0.05,
    detectors: Mapping[str, GatewayDetectorSpec] | None = None,
) -> tuple[dict[str, ServedModel], dict[str, str]]:
    """``(served, failed)``: the models that passed every check, and why each other one did not."""
    from pipeshield.core.targets.base import load_target_bytes

    served: dict[str, ServedModel] = {}
    failed: dict[str, str] = {}
    for name in names if names is not None else tuple(pipeline.models):
        if name not in pipeline.models:
            failed[name] = "config: no such model in the pipeline file"
            continue
        data, reason = _read_model(pipeline, name)  # read once: verified, scanned and loaded from these bytes
        if data is not None:
            reason = _refusal(pipeline, name, data)
        if data is not None and reason is None:
            try:
                target = load_target_bytes(pipeline, name, data)
                schema = schema_for_model(pipeline, name, tolerance=tolerance)
            except PipeshieldError as err:
                reason = f"load: {err.message}"
            else:
                classes = getattr(target, "classes", None)
                plain = tuple(_plain(c) for c in classes) if classes is not None and len(classes) else None
                detector, reason = _fit_detector(pipeline, name, target, (detectors or {}).get(name))
                if reason is None:
                    served[name] = ServedModel(name, target, schema, plain, detector)
        if reason is not None:
            failed[name] = reason
            log.error("model %s is not served: %s", name, reason)
    return served, failed
