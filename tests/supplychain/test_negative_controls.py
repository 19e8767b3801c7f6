"""Negative controls: the hostile files really execute when loaded unsafely.

Each control loads a test-built pickle in a *subprocess* with the real unpickler; the payload
creates a temp file. Without these, a test that says "the scanner flags it" could pass on bytes
that never did anything.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pipeshield.supplychain import Verdict, scan_bytes

from .builders import dumps_call
from .test_pickle_techniques import frame_trick

_LOADER = (
    "import io, pickle, sys\n"
    "data = open(sys.argv[1], 'rb').read()\n"
    "try:\n"
    "    pickle.load(io.BytesIO(data))  # safe: test control\n"
    "except Exception:\n"
    "    pass\n"
)


def _load_unsafely(data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "hostile.bin"
    path.write_bytes(data)
    subprocess.run([sys.executable, "-c", _LOADER, str(path)], check=True, timeout=60, cwd=tmp_path)


def test_reduce_payload_executes(tmp_path: Path) -> None:
    marker = tmp_path / "ran-reduce"
    data = dumps_call(open, str(marker), "w")
    assert scan_bytes(data).verdict is Verdict.MALICIOUS
    _load_unsafely(data, tmp_path)
    assert marker.exists()


def test_nullifai_payload_runs_before_the_broken_tail(tmp_path: Path) -> None:
    marker = tmp_path / "ran-nullifai"
    data = dumps_call(open, str(marker), "w")[:-1] + b"\x00\xff broken"
    assert scan_bytes(data).verdict is Verdict.MALICIOUS
    _load_unsafely(data, tmp_path)
    assert marker.exists()


def test_frame_trick_executes_through_a_bytesio_reader(tmp_path: Path) -> None:
    data = frame_trick("ran-frame")  # relative: the loader runs in tmp_path
    assert scan_bytes(data).verdict is Verdict.MALICIOUS
    _load_unsafely(data, tmp_path)
    assert (tmp_path / "ran-frame").exists()
