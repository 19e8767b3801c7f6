"""Interoperability with the OpenSSF ``model_signing`` CLI, both ways, on the same files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeshield.errors import VerificationError
from pipeshield.integrity.keys import KeyPairPaths
from pipeshield.integrity.signing import sign, verify

MODEL_SIGNING = Path(sys.executable).parent / "model_signing"


@pytest.fixture(autouse=True)
def _need_model_signing() -> None:
    if not MODEL_SIGNING.exists() and shutil.which("model_signing") is None:
        if os.environ.get("CI", "").lower() in ("1", "true"):
            pytest.fail("model_signing is a test dependency and must be installed on CI")
        pytest.skip("model_signing CLI not installed (pip install model-signing==1.1.1)")


def ms(*args: str) -> subprocess.CompletedProcess[str]:
    exe = str(MODEL_SIGNING) if MODEL_SIGNING.exists() else "model_signing"
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120)


def test_model_signing_verifies_pipeshield_signatures(model_dir: Path, keypair: KeyPairPaths, tmp_path: Path) -> None:
    sig = tmp_path / "model.sig"
    sign(model_dir, keypair.private, signature=sig)
    out = ms("verify", "key", str(model_dir), "--public_key", str(keypair.public), "--signature", str(sig))
    assert "Verification succeeded" in out.stdout + out.stderr, out.stderr
    (model_dir / "config.json").write_text('{"layers": 99}')
    out = ms("verify", "key", str(model_dir), "--public_key", str(keypair.public), "--signature", str(sig))
    assert "Verification succeeded" not in out.stdout + out.stderr  # a negative control


def test_pipeshield_verifies_model_signing_signatures(model_dir: Path, keypair: KeyPairPaths, tmp_path: Path) -> None:
    sig = tmp_path / "model.sig"
    out = ms("sign", "key", str(model_dir), "--private_key", str(keypair.private), "--signature", str(sig))
    assert out.returncode == 0 and "Signing succeeded" in out.stdout + out.stderr, out.stderr
    result = verify(model_dir, [keypair.public], signature=sig)
    assert set(result.manifest.resources) == {"config.json", "weights/part-0.bin", "weights/part-1.bin"}
    (model_dir / "weights" / "part-1.bin").write_bytes(b"swapped")
    with pytest.raises(VerificationError) as info:
        verify(model_dir, [keypair.public], signature=sig)
    assert info.value.problems == [f"{model_dir / 'weights' / 'part-1.bin'}: changed since it was signed"]


def test_single_file_both_ways(tmp_path: Path, keypair: KeyPairPaths) -> None:
    data = tmp_path / "train.npz"
    data.write_bytes(os.urandom(5000))
    ours = tmp_path / "ours.sig"
    sign(data, keypair.private, signature=ours)
    out = ms("verify", "key", str(data), "--public_key", str(keypair.public), "--signature", str(ours))
    assert "Verification succeeded" in out.stdout + out.stderr, out.stderr
    theirs = tmp_path / "theirs.sig"
    ms("sign", "key", str(data), "--private_key", str(keypair.private), "--signature", str(theirs))
    verify(data, [keypair.public], signature=theirs)
