"""Which models the gateway serves: each one verified, scanned, loaded, and given an input schema.

A model is served only when (1) its OMS signature verifies against the pipeline's trusted keys
(:func:`pipeshield.integrity.signing.verify`, the function the audit's signature check uses), (2)
the supply-chain scanner gives its file a ``clean`` verdict
(:func:`pipeshield.supplychain.scanner.scan_path`), (3) its safe loader accepts it
(:func:`pipeshield.core.targets.load_target`) and (4) an input schema can be learned from its
training data. Otherwise it is listed in ``failed`` with the reason ``/readyz`` shows.

Caveat: the signature check hashes the file and the loader then reads it again; someone able to
write the model file between the two could swap it. Keep model files read-only to the gateway.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeshield.core.pipeline import Pipeline
from pipeshield.errors import PipeshieldError, VerificationError
from pipeshield.gateway.input_policy import InputSchema, schema_for_model

__all__ = ["ServedModel", "load_models"]

log = logging.getLogger("pipeshield.gateway")


@dataclass(frozen=True)
class ServedModel:
    name: str
    target: Any
    schema: InputSchema
    classes: tuple[Any, ...] | None

    def labels(self, probs: np.ndarray) -> list[Any]:
        idx = probs.argmax(axis=1)
        if self.classes:
            return [self.classes[int(i)] for i in idx]
        return [int(i) for i in idx]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _refusal(pipeline: Pipeline, name: str) -> str | None:
    """Why ``name`` must not be served (signature, then scan), or None."""
    from pipeshield.integrity.signing import default_signature_path, verify
    from pipeshield.supplychain.results import Verdict
    from pipeshield.supplychain.scanner import scan_path

    spec = pipeline.models[name]
    path = pipeline.resolve(spec.path)
    if not pipeline.keys.trusted:
        return "signature: no trusted keys under [keys] trusted, so the model cannot be verified"
    sig = pipeline.resolve(spec.signature) if spec.signature else default_signature_path(path)
    if not sig.exists():
        return f"signature: {pipeline.display(path)} is not signed (no {pipeline.display(sig)})"
    try:
        verify(path, [pipeline.resolve(k) for k in pipeline.keys.trusted], signature=sig)
    except VerificationError as err:
        return "signature: " + (err.problems[0] if err.problems else err.message)
    except PipeshieldError as err:
        return f"signature: {err.message}"
    result = scan_path(path)
    if result.verdict is not Verdict.CLEAN:
        found = "; ".join(f"{f.rule}: {f.message}" for fr in result.files for f in fr.findings)[:500]
        return f"scan: {pipeline.display(path)} is {result.verdict.value}" + (f" ({found})" if found else "")
    return None


def load_models(
    pipeline: Pipeline, names: tuple[str, ...] | None = None, *, tolerance: float = 0.05
) -> tuple[dict[str, ServedModel], dict[str, str]]:
    """``(served, failed)``: the models that passed every check, and why each other one did not."""
    from pipeshield.core.targets import load_target

    served: dict[str, ServedModel] = {}
    failed: dict[str, str] = {}
    for name in names if names is not None else tuple(pipeline.models):
        if name not in pipeline.models:
            failed[name] = "config: no such model in the pipeline file"
            continue
        reason = _refusal(pipeline, name)
        if reason is None:
            try:
                target = load_target(pipeline, name)
                schema = schema_for_model(pipeline, name, tolerance=tolerance)
            except PipeshieldError as err:
                reason = f"load: {err.message}"
            else:
                classes = getattr(target, "classes", None)
                plain = tuple(_plain(c) for c in classes) if classes is not None and len(classes) else None
                served[name] = ServedModel(name, target, schema, plain)
        if reason is not None:
            failed[name] = reason
            log.error("model %s is not served: %s", name, reason)
    return served, failed
