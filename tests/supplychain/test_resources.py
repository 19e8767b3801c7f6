"""Hostile resource use: every case ends fast with an inconclusive finding, never a crash."""

from __future__ import annotations

import gzip
import io
import struct
import time
import zipfile

from pipeshield.supplychain import Verdict, scan_bytes

from .builders import zip_bytes


def _bounded(data: bytes, rule: str) -> None:
    start = time.monotonic()
    result = scan_bytes(data, "hostile.bin")
    # A guard against a hang, not a speed target: the slowest case (1.2 million pushes) takes 2 s
    # on a quiet 2-core machine and took 5.8 s on a loaded CI run.
    assert time.monotonic() - start < 30.0
    assert result.verdict is Verdict.INCONCLUSIVE, result.findings
    assert any(f.rule == rule for f in result.findings), result.findings


def test_deeply_nested_marks() -> None:
    _bounded(b"\x80\x04" + b"(" * 500_000 + b".", "PS-PKL-LIMIT")


def test_deeply_nested_lists() -> None:
    # a million pushes: the stack limit stops it
    _bounded(b"\x80\x04" + b"]" * 1_200_000 + b".", "PS-PKL-LIMIT")


def test_huge_memo() -> None:
    puts = b"".join(b"r" + struct.pack("<I", i) for i in range(1_100_000))
    _bounded(b"\x80\x04]" + puts + b".", "PS-PKL-LIMIT")


def test_huge_declared_string() -> None:
    _bounded(b"\x80\x04\x8d" + struct.pack("<Q", 1 << 40) + b"abc", "PS-PKL-LIMIT")


def test_zip_bomb() -> None:
    member = gzip.compress(b"\x00" * (64 << 20), 9)
    _bounded(member * 24, "PS-ARCHIVE-BOMB")


def test_deflate_bomb_inside_zip() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("data.pkl", b"\x80" + b"\x00" * (128 << 20))
    _bounded(buf.getvalue(), "PS-ARCHIVE-BOMB")


def test_recursive_archive() -> None:
    data = b"\x80\x04K\x01."
    for level in range(12):
        data = zip_bytes({f"level{level}.zip": data})
    _bounded(data, "PS-ARCHIVE-DEPTH")


def test_many_opcodes_hit_the_time_or_opcode_limit() -> None:
    from pipeshield.supplychain import ScanLimits

    start = time.monotonic()
    result = scan_bytes(b"\x80\x04" + b"N0" * 200_000 + b"N.", limits=ScanLimits(max_opcodes=100_000))
    assert time.monotonic() - start < 5.0
    assert result.verdict is Verdict.INCONCLUSIVE
