"""From bytes to findings: emulate the stream, judge every global, report every anomaly.

When frames lie, the stream is replayed under the other framing (see :mod:`.reader`) and the
findings of both readings are reported: whichever unpickler the victim uses, its payload is seen.

    >>> result = analyse_pickle(b"cposix\\nsystem\\n(S'id'\\ntR.")
    >>> result.findings[0].rule, result.findings[0].callable
    ('PS-PKL-EXEC-PROCESS', 'posix.system')
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from pipeshield.supplychain.limits import ScanLimits
from pipeshield.supplychain.pickle import inline as _inline  # noqa: F401  (registers BUILD hooks)
from pipeshield.supplychain.pickle.policy import judge
from pipeshield.supplychain.pickle.reader import Framing
from pipeshield.supplychain.pickle.vm import StreamTrace, run_stream
from pipeshield.supplychain.results import ScanFinding

__all__ = ["PickleAnalysis", "analyse_pickle"]

_ANOMALY_RULES = {
    "indirect-call": "PS-PKL-INDIRECT-CALL",
    "dynamic-global": "PS-PKL-DYNAMIC-GLOBAL",
    "mutate-global": "PS-PKL-MUTATE-GLOBAL",
    "extension": "PS-PKL-EXTENSION",
}
_WHAT = {
    "PS-PKL-RESOLVE-NAME": "resolves names at load time",
    "PS-PKL-EXEC-CODE": "builds or runs code",
    "PS-PKL-EXEC-PROCESS": "runs a process or native code",
    "PS-PKL-FILE-NETWORK": "touches files or the network",
    "PS-PKL-INSTALL": "installs packages",
    "PS-PKL-NESTED-LOAD": "loads another pickle",
    "PS-PKL-NOT-ALLOWLISTED": "is not in the allowlist; review what it does",
    "PS-PKL-REVIEW-CLASS": "is a scikit-learn class; its __setstate__ runs on load",
}


@dataclass
class PickleAnalysis:
    findings: list[ScanFinding] = field(default_factory=list)
    trace: StreamTrace | None = None

    @property
    def persistent_ids(self) -> list[Any]:
        return self.trace.persistent_ids if self.trace else []


def analyse_pickle(data: bytes | memoryview, *, start: int = 0, end: int | None = None,
                   limits: ScanLimits | None = None, deadline: float | None = None) -> PickleAnalysis:
    """Findings for every pickle in ``data[start:end]``; never raises for hostile input."""
    limits = limits or ScanLimits()
    deadline = deadline if deadline is not None else time.monotonic() + limits.max_seconds
    trace = run_stream(data, start=start, end=end, limits=limits, deadline=deadline)
    findings = _findings(trace)
    if trace.frame_violations:
        offset, message = trace.frame_violations[0]
        findings.append(ScanFinding(
            "PS-PKL-FRAME-MISMATCH",
            f"{message}; unpicklers disagree on these bytes, so both readings were analysed",
            offset=offset))
        other = run_stream(data, start=start, end=end, limits=limits, deadline=deadline,
                           framing=Framing.DISCARD)
        findings += _findings(other)
    return PickleAnalysis(findings, trace)


def _findings(trace: StreamTrace) -> list[ScanFinding]:
    out: list[ScanFinding] = []
    for use in trace.all_globals():
        verdict = judge(use.module, use.name)
        if verdict is None:
            continue
        name = use.qualname
        alias = f" ({verdict.matched})" if verdict.matched != name else ""
        if use.calls:
            opcode, offset = use.calls[0]
            how = f"called via {opcode} at offset {offset}"
        else:
            how = f"imported via {use.via} at offset {use.offset}"
        note = f"; {verdict.note}" if verdict.note else ""
        out.append(ScanFinding(
            verdict.rule, f"{name}{alias} {_WHAT[verdict.rule]}: {how}{note}",
            callable=name, offset=use.calls[0][1] if use.calls else use.offset))
    for anomaly in trace.anomalies:
        out.append(ScanFinding(_ANOMALY_RULES[anomaly.kind], anomaly.message,
                               callable=anomaly.callable, offset=anomaly.offset))
    if trace.error is not None:
        err = trace.error
        rule = "PS-PKL-LIMIT" if trace.limited else "PS-PKL-PARSE-ERROR"
        out.append(ScanFinding(
            rule, f"{err} (offset {err.offset}); {trace.opcodes} opcodes before it were analysed, "
            "the rest of the stream was not", offset=err.offset))
    elif trace.pickles == 0:
        out.append(ScanFinding("PS-PKL-PARSE-ERROR", "no complete pickle in the stream", offset=0))
    if trace.trailing_bytes:
        what = "tensor data of a legacy torch file" if trace.legacy_torch else "not a pickle"
        out.append(ScanFinding("PS-PKL-TRAILING-DATA",
                               f"{trace.trailing_bytes} bytes after the last pickle ({what})",
                               offset=trace.end))
    return out
