"""Keras model configs (``config.json`` in ``.keras``, ``model_config`` in ``.h5``).

A Lambda layer carries Python bytecode that runs on load (CVE-2024-3660); a config can also name
an arbitrary ``module`` + ``class_name`` that Keras imports and calls (CVE-2025-1550). Names are
judged with the same allowlist-first policy as pickles.
"""

from __future__ import annotations

from typing import Any

from pipeshield.supplychain.pickle.policy import judge
from pipeshield.supplychain.results import ScanFinding

__all__ = ["check_keras_config", "looks_like_keras_config"]

_KERAS_MODULES = ("keras", "tf_keras", "tensorflow.keras", "tensorflow.python.keras", "keras_hub", "keras_nlp", "keras_cv")
_CRITICAL_RULES = {"PS-PKL-RESOLVE-NAME", "PS-PKL-EXEC-CODE", "PS-PKL-EXEC-PROCESS",
                   "PS-PKL-FILE-NETWORK", "PS-PKL-INSTALL", "PS-PKL-NESTED-LOAD"}


def looks_like_keras_config(value: Any) -> bool:
    return isinstance(value, dict) and "class_name" in value and "config" in value


def check_keras_config(value: Any, max_nodes: int = 1_000_000) -> list[ScanFinding]:
    findings: list[ScanFinding] = []
    stack = [value]
    seen = 0
    while stack and seen < max_nodes:
        node = stack.pop()
        seen += 1
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        stack.extend(node.values())
        cls = node.get("class_name")
        if cls in ("Lambda", "TFOpLambda", "__lambda__"):
            findings.append(ScanFinding("PS-KERAS-LAMBDA", f"{cls} layer {_layer_name(node)} carries Python code",
                                        callable=str(cls)))
        module = node.get("module")
        if isinstance(module, str) and isinstance(cls, str) and not module.startswith(_KERAS_MODULES):
            name = node.get("config") if cls == "function" and isinstance(node.get("config"), str) else cls
            verdict = judge(module, str(name))
            qual = f"{module}.{name}"
            if verdict is not None and verdict.rule in _CRITICAL_RULES:
                findings.append(ScanFinding("PS-KERAS-UNSAFE-CALL", f"config deserialises {qual}", callable=qual))
            elif verdict is not None:
                findings.append(ScanFinding("PS-KERAS-MODULE", f"config imports {qual} from outside Keras",
                                            callable=qual))
        registered = node.get("registered_name")
        if isinstance(registered, str) and ">" in registered:
            findings.append(ScanFinding("PS-KERAS-MODULE", f"custom registered object {registered!r}",
                                        callable=registered))
    return findings


def _layer_name(node: dict[str, Any]) -> str:
    config = node.get("config")
    name = config.get("name") if isinstance(config, dict) else None
    return repr(name) if name else ""
