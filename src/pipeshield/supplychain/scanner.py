"""Scan files and folders for model files that execute code when loaded.

    >>> result = scan_path("models/")                     # doctest: +SKIP
    >>> [(f.path, f.verdict.value) for f in result.files]
    [('models/legacy_forest.pkl', 'malicious'), ('models/digits.safetensors', 'clean')]

Each file is memory-mapped, its format detected from its content (:mod:`.formats`), and scanned by
that format's handler; archive members are scanned the same way, recursively. Nothing is ever
imported, unpickled or executed. A file the scanner cannot finish is ``inconclusive``.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from pipeshield.errors import ArtifactError
from pipeshield.supplychain.formats import Context, scan_buffer
from pipeshield.supplychain.limits import ScanLimits
from pipeshield.supplychain.results import FileResult, ScanFinding, ScanResult

__all__ = ["scan_bytes", "scan_file", "scan_path"]

#: Formats whose loading runs pickled code.
PICKLE_FORMATS = frozenset({"pickle", "torch-legacy", "joblib", "torch-zip", "torchscript", "npy-object"})
#: Extensions that promise a format without code: a pickle behind one of them is disguised.
_SAFE_SUFFIXES = frozenset({".safetensors", ".onnx", ".gguf", ".h5", ".hdf5", ".keras", ".json",
                            ".txt", ".csv", ".parquet", ".tflite", ".pb", ".msgpack"})


def scan_bytes(data: bytes | memoryview, name: str = "<bytes>", limits: ScanLimits | None = None) -> FileResult:
    """Scan an in-memory buffer as if it were a file called ``name``."""
    ctx = Context(limits or ScanLimits())
    try:
        scanned = scan_buffer(memoryview(data), ctx)
        fmt, findings = scanned.format, scanned.findings
    except Exception as err:  # noqa: BLE001  (a file that breaks the scanner is itself a finding)
        fmt, findings = "unknown", [_crash(err)]
    return FileResult.build(name, fmt, findings + _disguise(name, fmt), len(data))


def scan_file(path: Path | str, limits: ScanLimits | None = None) -> FileResult:
    """Scan one file (memory-mapped: large tensor data is never read)."""
    path = Path(path)
    shown = path.as_posix()
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            if size == 0:
                return scan_bytes(b"", shown, limits)
            mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as err:
        return FileResult.build(shown, "unreadable", [ScanFinding("PS-FMT-READ-ERROR", f"{err.strerror or err}")])
    view = memoryview(mapped)
    try:
        ctx = Context(limits or ScanLimits(), path=path)
        try:
            scanned = scan_buffer(view, ctx)
            fmt, findings = scanned.format, scanned.findings
        except Exception as err:  # noqa: BLE001  (as in scan_bytes)
            fmt, findings = "unknown", [_crash(err)]
        return FileResult.build(shown, fmt, findings + _disguise(shown, fmt), size)
    finally:
        view.release()
        try:
            mapped.close()
        except BufferError:  # a slice is still referenced somewhere; the GC closes it later
            pass


def _iter_files(paths: Iterable[Path | str]) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise ArtifactError(f"{path}: no such file or directory")
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    yield Path(root) / name
        else:
            yield path


def scan_path(*paths: Path | str, limits: ScanLimits | None = None) -> ScanResult:
    """Scan files and folders (walked recursively); raise ArtifactError for a missing path."""
    files = list(_iter_files(paths))
    return ScanResult(tuple(scan_file(p, limits) for p in files))


def _disguise(name: str, fmt: str) -> list[ScanFinding]:
    suffix = Path(name).suffix.lower()
    if fmt in PICKLE_FORMATS and suffix in _SAFE_SUFFIXES:
        return [ScanFinding("PS-FMT-DISGUISED", f"named {suffix} but its content is a {fmt} file")]
    return []


def _crash(err: BaseException) -> ScanFinding:
    return ScanFinding("PS-SCANNER-ERROR", f"scanner error: {type(err).__name__}: {err}")
