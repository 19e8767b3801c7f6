"""The rule catalogue: one id per technique, its default severity and what it does to a verdict.

A rule id names the technique (``PS-PKL-EXEC-PROCESS``, ``PS-ZIP-MISMATCH``), so a SARIF dashboard
groups findings by what the attacker did. ``effect`` is how a finding moves the file's verdict:
``malicious`` (we saw the dangerous thing), ``inconclusive`` (we could not finish, or cannot tell
without a human), or ``none`` (worth reading, but it does not change the verdict). References are
CVE/GHSA identifiers of the vulnerability or scanner bypass the rule covers, where one exists.

    >>> RULES["PS-PKL-EXEC-PROCESS"].severity
    <Severity.CRITICAL: 'critical'>
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pipeshield.core.findings import Severity

__all__ = ["RULES", "Effect", "Rule"]


class Effect(enum.StrEnum):
    MALICIOUS = "malicious"
    INCONCLUSIVE = "inconclusive"
    NONE = "none"


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: Severity
    effect: Effect
    help: str
    references: tuple[str, ...] = ()


_C, _H, _M, _L, _I = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO
_MAL, _INC, _NO = Effect.MALICIOUS, Effect.INCONCLUSIVE, Effect.NONE
_PICKLE_FIX = "Do not load this file. Ask for safetensors (tensors), ONNX or skops instead of a pickle."

_ROWS: tuple[Rule, ...] = (
    Rule("PS-PKL-RESOLVE-NAME", "Pickle resolves names at load time", _C, _MAL,
         "getattr, importlib, pkgutil.resolve_name, pydoc.locate, operator getters and partial turn "
         "strings into arbitrary callables. " + _PICKLE_FIX, ("GHSA-655q-fx9r-782v",)),
    Rule("PS-PKL-EXEC-CODE", "Pickle builds or runs Python code", _C, _MAL,
         "eval/exec/compile, code objects, profilers and debuggers execute code. " + _PICKLE_FIX),
    Rule("PS-PKL-EXEC-PROCESS", "Pickle runs a process or native code", _C, _MAL,
         "os/subprocess/pty/ctypes and helpers that spawn commands. " + _PICKLE_FIX),
    Rule("PS-PKL-FILE-NETWORK", "Pickle touches files or the network", _C, _MAL,
         "open, io, shutil, pathlib, sockets, HTTP clients, logging handlers. " + _PICKLE_FIX),
    Rule("PS-PKL-INSTALL", "Pickle installs packages", _C, _MAL, "pip and friends. " + _PICKLE_FIX),
    Rule("PS-PKL-NESTED-LOAD", "Pickle loads another pickle", _C, _MAL,
         "pickle.loads, torch.load, numpy.load, joblib.load, dill, marshal hide a second payload "
         "from scanners. " + _PICKLE_FIX),
    Rule("PS-PKL-DYNAMIC-GLOBAL", "Pickle imports a name computed at load time", _C, _MAL,
         "STACK_GLOBAL operands that are not constant strings: no static reader can know what is "
         "imported. " + _PICKLE_FIX),
    Rule("PS-PKL-MUTATE-GLOBAL", "Pickle modifies a class, function or module", _C, _MAL,
         "BUILD or SETITEM on a global rewrites attributes of live code (protectai/modelscan#85). "
         + _PICKLE_FIX),
    Rule("PS-PKL-NOT-ALLOWLISTED", "Pickle uses a callable outside the allowlist", _H, _INC,
         "Deny by default: this name is not one ordinary torch/numpy/scikit-learn files use. Review "
         "what it does before loading; prefer a non-pickle format.", ("GHSA-655q-fx9r-782v",)),
    Rule("PS-PKL-REVIEW-CLASS", "Pickle instantiates a scikit-learn class", _L, _NO,
         "scikit-learn estimators are pickled by class; loading still runs their __setstate__. "
         "Prefer skops with a reviewed trusted-types list."),
    Rule("PS-PKL-INDIRECT-CALL", "Pickle calls something that is not a named global", _H, _INC,
         "A call on the result of another call or on an unresolved name (attrgetter chains, EXT "
         "codes). " + _PICKLE_FIX),
    Rule("PS-PKL-EXTENSION", "Pickle uses the copyreg extension registry", _H, _INC,
         "EXT1/EXT2/EXT4 name callables by number, invisible to name-based scanners."),
    Rule("PS-PKL-FRAME-MISMATCH", "Pickle frames disagree with their contents", _H, _INC,
         "An argument straddles a FRAME boundary: CPython's C and Python unpicklers and pickletools "
         "read different opcodes from the same bytes (python/cpython#154848). Both readings were "
         "analysed."),
    Rule("PS-PKL-PARSE-ERROR", "Pickle could not be parsed to the end", _M, _INC,
         "The stream breaks before its end. Opcodes before the break still run when a real "
         "unpickler loads it (nullifAI), so they were analysed; what follows was not."),
    Rule("PS-PKL-LIMIT", "Pickle exceeds a scanner limit", _M, _INC,
         "Too many opcodes, too deep, too large a memo or string, or too slow: analysis stopped."),
    Rule("PS-PKL-TRAILING-DATA", "Bytes after the last pickle", _I, _NO,
         "Data after the final STOP that does not form a pickle (legacy torch tensor bytes)."),
    Rule("PS-FMT-DISGUISED", "File content does not match its extension", _M, _NO,
         "A pickle named like a safe format is a classic way past extension-based scanners.",
         ("GHSA-769v-p64c-89pr",)),
    Rule("PS-FMT-UNKNOWN", "Unrecognised binary file", _M, _INC,
         "The content matches no format the scanner knows: it was not analysed."),
    Rule("PS-SCANNER-ERROR", "The scanner failed on this file", _M, _INC,
         "An internal error stopped the analysis; a file that breaks the scanner is suspect."),
    Rule("PS-FMT-READ-ERROR", "File cannot be read", _M, _INC, "Permissions or I/O error."),
    Rule("PS-ZIP-MISMATCH", "Zip local and central names differ", _H, _INC,
         "Python's zipfile refuses such archives while torch loads them; both names were scanned."),
    Rule("PS-ZIP-FLAGS", "Zip entry has unusual flag bits", _M, _NO,
         "Encryption/patch flags (0x1, 0x20, 0x40) make Python's zipfile refuse a member that torch "
         "reads; the bytes were analysed as torch reads them.", ("GHSA-w8jq-xcqf-f792",)),
    Rule("PS-ZIP-CRC", "Zip entry fails its CRC check", _M, _NO,
         "zipfile raises on a bad CRC while torch ignores it; the bytes were analysed anyway.",
         ("GHSA-7q5r-7gvp-wc82",)),
    Rule("PS-ZIP-CORRUPT", "Archive structure is damaged", _M, _INC,
         "The archive could not be read completely; members may be missing from the analysis."),
    Rule("PS-ARCHIVE-BOMB", "Decompression bomb", _M, _INC,
         "The member expands beyond the scanner's size or ratio limit; analysis stopped."),
    Rule("PS-ARCHIVE-DEPTH", "Archives nested too deep", _M, _INC,
         "Archive inside archive beyond the depth limit (or a self-including archive)."),
    Rule("PS-ARCHIVE-UNSUPPORTED", "Archive format cannot be opened", _M, _INC,
         "The container is recognised but cannot be opened here."),
    Rule("PS-NPY-HEADER", "NumPy header is invalid", _M, _INC, "The .npy header cannot be parsed."),
    Rule("PS-SAFETENSORS-HEADER", "safetensors header is invalid", _H, _INC,
         "The JSON header is malformed, too large or has unexpected fields: loaders disagree."),
    Rule("PS-SAFETENSORS-OFFSETS", "safetensors offsets are inconsistent", _H, _INC,
         "Tensor offsets overlap, leave gaps, run past the file or disagree with dtype and shape."),
    Rule("PS-ONNX-EXTERNAL-PATH", "ONNX external data escapes the model folder", _C, _MAL,
         "An absolute path or '..' in external_data reads (or with some runtimes writes) files "
         "outside the model.", ("CVE-2024-27318", "CVE-2022-25882")),
    Rule("PS-ONNX-CUSTOM-OP", "ONNX model uses a custom operator domain", _H, _INC,
         "Custom domains need native code registered by the runtime: review where it comes from."),
    Rule("PS-ONNX-PARSE", "ONNX model cannot be parsed", _M, _INC, "The protobuf does not parse."),
    Rule("PS-GGUF-TEMPLATE", "GGUF chat template can execute code", _C, _MAL,
         "A Jinja chat template that reaches Python internals runs code in llama-cpp-python "
         "< 0.2.72.", ("CVE-2024-34359",)),
    Rule("PS-GGUF-HEADER", "GGUF header is invalid", _M, _INC, "Counts or lengths are implausible."),
    Rule("PS-TF-PYFUNC", "TensorFlow graph calls Python (PyFunc)", _C, _MAL,
         "PyFunc, PyFuncStateless and EagerPyFunc nodes run a Python function of the loading process "
         "when the graph executes. Do not serve this graph; rebuild it without tf.py_function."),
    Rule("PS-TF-FILE-OP", "TensorFlow graph reads or writes files", _C, _MAL,
         "ReadFile, WriteFile, MatchingFiles and WholeFileReader nodes touch arbitrary paths when the "
         "graph runs (read secrets, drop files). Review why a model needs file access."),
    Rule("PS-TF-PARSE", "TensorFlow graph cannot be decoded", _M, _INC,
         "The protobuf is truncated or malformed, or too large to finish: ops were not all analysed."),
    Rule("PS-KERAS-LAMBDA", "Keras model contains a Lambda layer", _C, _MAL,
         "Lambda layers carry marshalled Python bytecode that runs when the model loads.",
         ("CVE-2024-3660", "CVE-2025-1550")),
    Rule("PS-KERAS-UNSAFE-CALL", "Keras config names a dangerous Python callable", _C, _MAL,
         "The config deserialises a function from os, subprocess, builtins and the like (the "
         "safe_mode bypass).", ("CVE-2025-1550",)),
    Rule("PS-KERAS-MODULE", "Keras config names modules outside Keras", _H, _INC,
         "A layer or object from an arbitrary module is imported when the model loads.",
         ("CVE-2025-1550",)),
)

#: Rule id -> rule.
RULES: dict[str, Rule] = {r.id: r for r in _ROWS}
