"""Raw pickle streams: plain pickles, legacy ``torch.save`` files, joblib dumps.

A protocol 2+ pickle announces itself with PROTO; protocols 0 and 1 do not, so a stream whose
first byte is an opcode is emulated on trial and counted as a pickle only if the emulator gets
somewhere (a complete pickle or a named global): text files that happen to start with ``(`` or
``c`` are not reported as broken pickles.
"""

from __future__ import annotations

from pipeshield.supplychain.formats.base import Context, Scanned, register
from pipeshield.supplychain.pickle.analyze import analyse_pickle
from pipeshield.supplychain.pickle.opcodes import OPCODES

__all__ = ["PickleHandler", "WeakPickleHandler"]


def _format_name(analysis_legacy: bool, joblib: bool) -> str:
    if analysis_legacy:
        return "torch-legacy"
    return "joblib" if joblib else "pickle"


def _scan(data: memoryview, ctx: Context) -> Scanned:
    analysis = analyse_pickle(data, limits=ctx.limits, deadline=ctx.deadline)
    trace = analysis.trace
    joblib = bool(trace and any(g.module.startswith("joblib.") for g in trace.globals))
    return Scanned(_format_name(bool(trace and trace.legacy_torch), joblib), analysis.findings)


@register(priority=10)
class PickleHandler:
    """Protocol 2-5 pickles: PROTO first."""

    name = "pickle"

    def sniff(self, data: memoryview) -> bool:
        return len(data) >= 2 and data[0] == 0x80 and data[1] <= 5

    def scan(self, data: memoryview, ctx: Context) -> Scanned:
        return _scan(data, ctx)


#: Opcodes a protocol 0/1 pickle can start with (MARK, GLOBAL, constants, containers).
_FIRST = frozenset(b"(c]})NIJKLMFGSTUVXdlti")


@register(priority=90)
class WeakPickleHandler:
    """Protocol 0/1 pickles (no PROTO opcode), recognised by emulating them."""

    name = "pickle"

    def sniff(self, data: memoryview) -> bool:
        if not data or data[0] not in _FIRST or data[0] not in OPCODES:
            return False
        probe = analyse_pickle(data)
        trace = probe.trace
        return bool(trace and (trace.pickles or trace.globals or trace.anomalies))

    def scan(self, data: memoryview, ctx: Context) -> Scanned:
        return _scan(data, ctx)
