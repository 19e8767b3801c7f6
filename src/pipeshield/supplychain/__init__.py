"""Supply-chain security: a model-file scanner that never loads what it scans.

    >>> from pipeshield.supplychain import scan_path
    >>> result = scan_path("models/")                     # doctest: +SKIP
    >>> result.verdict
    <Verdict.MALICIOUS: 'malicious'>

The layout is the architecture: :mod:`.pickle` emulates the pickle VM (``opcodes`` -> ``reader``
-> ``vm`` -> ``policy`` -> ``analyze``), :mod:`.containers` reads archives the way loaders do,
:mod:`.formats` registers one handler per file format, :mod:`.scanner` walks paths and
:mod:`.check` plugs it all into ``pipeshield audit``.
"""

from pipeshield.supplychain.limits import ScanLimits
from pipeshield.supplychain.results import (
    CLEAN_CAVEAT,
    FileResult,
    ScanFinding,
    ScanResult,
    Verdict,
)
from pipeshield.supplychain.rules import RULES, Rule
from pipeshield.supplychain.scanner import scan_bytes, scan_file, scan_path

__all__ = [
    "CLEAN_CAVEAT",
    "RULES",
    "FileResult",
    "Rule",
    "ScanFinding",
    "ScanLimits",
    "ScanResult",
    "Verdict",
    "scan_bytes",
    "scan_file",
    "scan_path",
]
