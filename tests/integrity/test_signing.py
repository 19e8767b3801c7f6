"""Signing and verification against planted tampering: every problem is caught and named."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from pipeshield.errors import ArtifactError, KeyFileError, VerificationError
from pipeshield.integrity.keys import KeyPairPaths, generate_keypair, load_private_key
from pipeshield.integrity.signing import sign, verify


def problems_of(path: Path, keys: list[Path], **kw: object) -> list[str]:
    with pytest.raises(VerificationError) as info:
        verify(path, keys, **kw)  # type: ignore[arg-type]
    return info.value.problems


def test_folder_round_trip_ignores_git_and_the_signature(model_dir: Path, keypair: KeyPairPaths) -> None:
    result = sign(model_dir, keypair.private)
    assert result.signature == model_dir / "model.sig"
    assert set(result.manifest.resources) == {"config.json", "weights/part-0.bin", "weights/part-1.bin"}
    ok = verify(model_dir, [keypair.public])
    assert ok.key_path == keypair.public
    (model_dir / ".git" / "HEAD").write_text("changed")  # git metadata is not part of the model
    verify(model_dir, [keypair.public])


def test_single_file_round_trip(tmp_path: Path, keypair: KeyPairPaths) -> None:
    data = tmp_path / "train.csv"
    data.write_text("a,b\n1,2\n")
    result = sign(data, keypair.private)
    assert result.signature == tmp_path / "train.csv.sig"
    assert list(result.manifest.resources) == ["."]
    verify(data, [keypair.public])
    data.write_text("a,b\n1,3\n")
    assert problems_of(data, [keypair.public]) == [f"{data}: changed since it was signed"]


@pytest.mark.parametrize("change", ["modify", "add", "remove"])
def test_tampering_names_the_file(model_dir: Path, keypair: KeyPairPaths, change: str) -> None:
    sign(model_dir, keypair.private)
    target = model_dir / "weights" / "part-1.bin"
    if change == "modify":
        data = bytearray(target.read_bytes())
        data[5000] ^= 1
        target.write_bytes(bytes(data))
        expected = f"{target}: changed since it was signed"
    elif change == "add":
        (model_dir / "weights" / "backdoor.py").write_text("print('hi')")
        expected = f"{model_dir / 'weights' / 'backdoor.py'}: not covered by the signature (appeared after signing)"
    else:
        target.unlink()
        expected = f"{target}: signed but missing now"
    assert problems_of(model_dir, [keypair.public]) == [expected]


def test_ignore_unsigned_files_allows_additions_only(model_dir: Path, keypair: KeyPairPaths) -> None:
    sign(model_dir, keypair.private)
    (model_dir / "README.md").write_text("notes")
    verify(model_dir, [keypair.public], ignore_unsigned_files=True)
    (model_dir / "config.json").write_text('{"layers": 4}')
    assert len(problems_of(model_dir, [keypair.public], ignore_unsigned_files=True)) == 1


def test_symlink_is_refused(model_dir: Path, keypair: KeyPairPaths, tmp_path: Path) -> None:
    sign(model_dir, keypair.private)
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"x")
    os.symlink(outside, model_dir / "weights" / "link.bin")
    (problem,) = problems_of(model_dir, [keypair.public])
    assert "link.bin is a symlink" in problem
    with pytest.raises(ArtifactError, match="is a symlink"):
        sign(model_dir, keypair.private)


def test_untrusted_key_and_wrong_key(model_dir: Path, keypair: KeyPairPaths, other_keypair: KeyPairPaths) -> None:
    sign(model_dir, keypair.private)
    (problem,) = problems_of(model_dir, [other_keypair.public])
    assert "signed by a key that is not trusted" in problem
    verify(model_dir, [other_keypair.public, keypair.public])  # any trusted key may match


def test_signature_of_another_folder(model_dir: Path, keypair: KeyPairPaths, tmp_path: Path) -> None:
    sign(model_dir, keypair.private)
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text("{}")
    problems = problems_of(other, [keypair.public], signature=model_dir / "model.sig")
    assert f"{other / 'config.json'}: changed since it was signed" in problems
    assert f"{other / 'weights' / 'part-0.bin'}: signed but missing now" in problems
    single = tmp_path / "single.txt"
    single.write_text("x")
    sign(single, keypair.private)
    (problem,) = problems_of(model_dir, [keypair.public], signature=tmp_path / "single.txt.sig")
    assert "signs a single file" in problem


def _rewrite_bundle(sig: Path, edit) -> None:  # type: ignore[no-untyped-def]
    bundle = json.loads(sig.read_text())
    edit(bundle)
    sig.write_text(json.dumps(bundle))


def test_altered_statement_is_caught(model_dir: Path, keypair: KeyPairPaths) -> None:
    sign(model_dir, keypair.private)
    sig = model_dir / "model.sig"

    def swap_digest(bundle: dict) -> None:  # type: ignore[type-arg]
        statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
        statement["predicate"]["resources"][0]["digest"] = "00" * 32
        bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()

    _rewrite_bundle(sig, swap_digest)
    (problem,) = problems_of(model_dir, [keypair.public])
    assert "signature does not match the signed statement" in problem


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"not json", "not a JSON signature bundle"),
        (b'{"mediaType": "application/x-other"}', "bundle.mediaType is 'application/x-other'"),
        (b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}', "bundle.dsseEnvelope is missing"),
        (
            b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "dsseEnvelope": '
            b'{"payload": "%%%", "payloadType": "x", "signatures": []}}',
            "dsseEnvelope.payload is not valid base64",
        ),
    ],
)
def test_corrupt_bundles(model_dir: Path, keypair: KeyPairPaths, content: bytes, needle: str) -> None:
    (model_dir / "model.sig").write_bytes(content)
    (problem,) = problems_of(model_dir, [keypair.public])
    assert "malformed signature" in problem and needle in problem


def test_unsigned_says_so(model_dir: Path, keypair: KeyPairPaths) -> None:
    (problem,) = problems_of(model_dir, [keypair.public])
    assert problem.startswith("unsigned: no signature at")


def test_shards_and_blake3(model_dir: Path, keypair: KeyPairPaths) -> None:
    result = sign(model_dir, keypair.private, method="shards", shard_size=100_000, hash_type="blake3")
    assert "weights/part-0.bin:200000:300000" in result.manifest.resources
    verify(model_dir, [keypair.public])
    target = model_dir / "weights" / "part-0.bin"
    data = bytearray(target.read_bytes())
    data[250_000] ^= 0xFF
    target.write_bytes(bytes(data))
    assert problems_of(model_dir, [keypair.public]) == [f"{target} (bytes 200000-300000): changed since it was signed"]


def test_keys(tmp_path: Path) -> None:
    pair = generate_keypair(tmp_path / "k", curve="P-384", passphrase="correct horse")
    assert stat.S_IMODE(pair.private.stat().st_mode) == 0o600
    assert b"ENCRYPTED" in pair.private.read_bytes()
    load_private_key(pair.private, "correct horse")
    with pytest.raises(KeyFileError, match="is encrypted"):
        load_private_key(pair.private)
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        load_private_key(pair.private, "wrong")
    with pytest.raises(KeyFileError, match="already exists"):
        generate_keypair(tmp_path / "k")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "rsa.key").write_bytes(
        rsa_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    with pytest.raises(KeyFileError, match="RSAPrivateKey key; signing needs an ECDSA"):
        sign(tmp_path / "k.pub", tmp_path / "rsa.key")
    assert not (tmp_path / "k.pub.sig").exists()  # nothing half-written
    with pytest.raises(KeyFileError, match="is a PRIVATE key"):
        verify(tmp_path / "k.pub", [pair.private])


def test_unreadable_file_is_one_clear_error(model_dir: Path, keypair: KeyPairPaths, monkeypatch: pytest.MonkeyPatch) -> None:
    import pipeshield.integrity.digests as digests

    def denied(path: Path, algorithm: str = "sha256") -> str:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(digests, "digest_file", denied)
    with pytest.raises(ArtifactError, match=r"cannot read: Permission denied"):
        sign(model_dir, keypair.private)
    assert not (model_dir / "model.sig").exists()
