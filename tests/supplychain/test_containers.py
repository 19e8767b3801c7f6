"""Container tricks: zips torch loads but zipfile refuses, wrappers, renamed files, npz, tar."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zipfile

import numpy as np
import pytest

from pipeshield.supplychain import Verdict, scan_bytes, scan_file

from .builders import call, patch_zip, torch_like_zip, zip_bytes

PAYLOAD = call("posix", "system", "id")


def _malicious_in(result, member_part: str) -> None:  # type: ignore[no-untyped-def]
    assert result.verdict is Verdict.MALICIOUS, result.findings
    hit = [f for f in result.findings if f.callable == "posix.system"]
    assert hit and member_part in (hit[0].member or "")


def test_pickle_inside_zip_under_a_non_pickle_name() -> None:
    _malicious_in(scan_bytes(torch_like_zip(PAYLOAD, "archive/weights.bin"), "model.pt"), "weights.bin")


def test_zip_local_and_central_names_differ() -> None:
    data = patch_zip(torch_like_zip(PAYLOAD), local_name=(b"archive/data.pkl", b"archive/data.pkX"))
    with pytest.raises((zipfile.BadZipFile, NotImplementedError, RuntimeError)):
        zipfile.ZipFile(io.BytesIO(data)).read("archive/data.pkl")
    result = scan_bytes(data, "model.pt")
    _malicious_in(result, "data.pkl")
    assert any(f.rule == "PS-ZIP-MISMATCH" for f in result.findings)


@pytest.mark.parametrize("flag", [0x1, 0x20, 0x40])
def test_zip_flag_bits(flag: int) -> None:
    data = patch_zip(torch_like_zip(PAYLOAD), flags=flag)
    with pytest.raises((zipfile.BadZipFile, NotImplementedError, RuntimeError)):
        zipfile.ZipFile(io.BytesIO(data)).read("archive/data.pkl")
    result = scan_bytes(data, "model.pt")
    _malicious_in(result, "data.pkl")
    assert any(f.rule == "PS-ZIP-FLAGS" and "GHSA-w8jq-xcqf-f792" in f.references for f in result.findings)


def test_zip_bad_crc() -> None:
    data = patch_zip(torch_like_zip(PAYLOAD), crc=0xDEADBEEF)
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(data)).read("archive/data.pkl")
    result = scan_bytes(data, "model.pt")
    _malicious_in(result, "data.pkl")
    assert any(f.rule == "PS-ZIP-CRC" for f in result.findings)


def test_zip_without_central_directory_falls_back_to_local_headers() -> None:
    data = torch_like_zip(PAYLOAD)
    data = data[: data.find(b"PK\x01\x02")]
    result = scan_bytes(data, "model.pt")
    _malicious_in(result, "data.pkl")
    assert any(f.rule == "PS-ZIP-CORRUPT" for f in result.findings)


def test_deflated_member_and_prefix_junk() -> None:
    data = b"JUNK" * 10 + zip_bytes({"x/data.pkl": PAYLOAD}, zipfile.ZIP_DEFLATED)
    _malicious_in(scan_bytes(data, "m.zip"), "data.pkl")


@pytest.mark.parametrize("name", ["model.safetensors", "model.bin", "model", "model.weights"])
def test_pickle_renamed(name: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_bytes(PAYLOAD)
    result = scan_file(path)
    assert result.verdict is Verdict.MALICIOUS
    assert result.findings[0].callable == "posix.system"
    if name.endswith(".safetensors"):
        assert any(f.rule == "PS-FMT-DISGUISED" for f in result.findings)


@pytest.mark.parametrize("wrap", [gzip.compress, bz2.compress, lzma.compress,
                                  lambda b: lzma.compress(b, format=lzma.FORMAT_ALONE)],
                         ids=["gzip", "bz2", "xz", "lzma"])
def test_compression_wrappers(wrap) -> None:  # type: ignore[no-untyped-def]
    _malicious_in(scan_bytes(wrap(PAYLOAD), "model.bin"), "<")


def test_object_npy_inside_npz() -> None:
    buf = io.BytesIO()
    np.save(buf, np.array([1.0]))
    plain = buf.getvalue()
    hostile = b"\x93NUMPY\x01\x00" + b"v\x00" + b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }".ljust(117) + b"\n"
    data = zip_bytes({"a.npy": plain, "b.npy": hostile + PAYLOAD})
    _malicious_in(scan_bytes(data, "arrays.npz"), "b.npy")


def test_tar_of_pickles() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("ckpt/model.pkl")
        info.size = len(PAYLOAD)
        tar.addfile(info, io.BytesIO(PAYLOAD))
    _malicious_in(scan_bytes(buf.getvalue(), "ckpt.tar"), "model.pkl")


def test_seven_zip_without_support_is_inconclusive() -> None:
    result = scan_bytes(b"7z\xbc\xaf\x27\x1c" + b"\x00" * 32, "m.7z")
    assert result.verdict is not Verdict.CLEAN
