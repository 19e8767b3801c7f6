"""keygen, sign and verify through the real entry point: exit codes and messages."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent / "pipeshield"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_keygen_sign_verify_tamper(tmp_path: Path) -> None:
    out = run("keygen", "--out", str(tmp_path / "team"))
    assert out.returncode == 0, out.stderr
    assert stat.S_IMODE((tmp_path / "team.key").stat().st_mode) == 0o600
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"\x00" * 1000)
    out = run("sign", str(model), "--key", str(tmp_path / "team.key"))
    assert out.returncode == 0 and (model / "model.sig").exists(), out.stderr
    out = run("verify", str(model), "--key", str(tmp_path / "team.pub"))
    assert out.returncode == 0 and "verified" in out.stderr
    (model / "weights.bin").write_bytes(b"\x01" * 1000)
    out = run("verify", str(model), "--key", str(tmp_path / "team.pub"))
    assert out.returncode == 1
    assert f"{model / 'weights.bin'}: changed since it was signed" in out.stderr.replace("\n", "")


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    out = run("sign", str(tmp_path / "missing"), "--key", str(tmp_path / "nokey.key"))
    assert out.returncode == 2 and "no such file or folder" in out.stderr and "Traceback" not in out.stderr
    (tmp_path / "f.txt").write_text("x")
    out = run("sign", str(tmp_path / "f.txt"), "--key", str(tmp_path / "nokey.key"))
    assert out.returncode == 2 and "private key not found" in out.stderr
    out = run("keygen", "--out", str(tmp_path / "k"), "--curve", "P-999")
    assert out.returncode == 2 and "unknown curve" in out.stderr


def test_verify_uses_the_pipelines_trusted_keys(demo_pipeline: Path) -> None:
    root = demo_pipeline.parent
    out = run("verify", "data/digits_train.npz", cwd=root)
    assert out.returncode == 0, out.stderr
    out = run("verify", "data/incoming.csv", cwd=root)
    assert out.returncode == 1 and "unsigned" in out.stderr


def test_sign_fast_path_and_typer_path_agree(tmp_path: Path) -> None:
    """Plain `sign PATH --key K` skips typer; other options go through it; both verify the same."""
    from pipeshield.cli._sign import fast

    run("keygen", "--out", str(tmp_path / "k"))
    model = tmp_path / "m.bin"
    model.write_bytes(b"\x02" * 4096)
    assert fast([str(model), "--key", str(tmp_path / "k.key"), "--signature", str(tmp_path / "fast.sig")]) == 0
    assert fast([str(model), "--key", str(tmp_path / "k.key"), "--ignore", "x"]) is None  # typer's job
    assert fast(["--help"]) is None
    out = run("sign", str(model), "--key", str(tmp_path / "k.key"), "--signature", str(tmp_path / "typer.sig"), "--allow-symlinks")
    assert out.returncode == 0, out.stderr
    for sig in ("fast.sig", "typer.sig"):
        ok = run("verify", str(model), "--key", str(tmp_path / "k.pub"), "--signature", str(tmp_path / sig))
        assert ok.returncode == 0, ok.stderr
    bad = run("sign", str(model), "--key", str(tmp_path / "k.key"), "--hash", "md5")
    assert bad.returncode == 2 and "unknown hash_type 'md5'" in bad.stderr and "Traceback" not in bad.stderr
