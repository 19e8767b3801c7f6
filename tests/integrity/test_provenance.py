"""Training provenance: what is recorded, and every broken link in the chain of custody."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from pipeshield.errors import VerificationError
from pipeshield.integrity.keys import KeyPairPaths
from pipeshield.integrity.provenance import PREDICATE_TYPE, attest, verify_provenance
from pipeshield.integrity.signing import sign


@pytest.fixture
def run(tmp_path: Path, keypair: KeyPairPaths) -> dict[str, Path]:
    """A signed training set, a signed model trained on it, and the attestation."""
    data = tmp_path / "train.csv"
    data.write_text("x,y\n1,0\n2,1\n")
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"weights" * 100)
    lock = tmp_path / "requirements.lock"
    lock.write_text("torch==2.13.0\n")
    sign(data, keypair.private)
    sign(model, keypair.private)
    attest(model, key=keypair.private, datasets=[data], params={"epochs": 3, "lr": 0.1}, lock=lock)
    return {"data": data, "model": model, "lock": lock, "att": tmp_path / "model.safetensors.provenance.sig"}


def statement_of(att: Path) -> dict:  # type: ignore[type-arg]
    import base64

    bundle = json.loads(att.read_text())
    return json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))


def test_what_is_recorded(run: dict[str, Path], keypair: KeyPairPaths) -> None:
    st = statement_of(run["att"])
    assert st["predicateType"] == PREDICATE_TYPE
    assert st["subject"] == [{"name": "model.safetensors", "digest": {"sha256": hashlib.sha256(run["model"].read_bytes()).hexdigest()}}]
    build = st["predicate"]["buildDefinition"]
    assert build["externalParameters"]["hyperparameters"] == {"epochs": 3, "lr": 0.1}
    (dep,) = build["resolvedDependencies"]
    assert dep["uri"] == "file:train.csv" and dep["annotations"]["role"] == "dataset"
    assert dep["digest"]["sha256"] == hashlib.sha256(run["data"].read_bytes()).hexdigest()
    env = build["internalParameters"]["environment"]
    assert env["python"] == platform.python_version()
    assert env["lock"]["sha256"] == hashlib.sha256(run["lock"].read_bytes()).hexdigest()
    assert "numpy" in env["packages"]
    result = verify_provenance(run["model"], None, [keypair.public])
    assert result.dependencies == ("file:train.csv",)


def test_git_commit_is_recorded(tmp_path: Path, keypair: KeyPairPaths) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    model = tmp_path / "m.bin"
    model.write_bytes(b"m")
    subprocess.run(["git", "-C", str(tmp_path), "add", "m.bin"], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "m"], check=True)
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    result = attest(model, key=keypair.private)
    assert result.statement["predicate"]["buildDefinition"]["internalParameters"]["environment"]["git"]["commit"] == head


def chain_problems(run: dict[str, Path], keys: list[Path]) -> list[str]:
    with pytest.raises(VerificationError) as info:
        verify_provenance(run["model"], None, keys)
    return info.value.problems


def test_training_data_changed_after_the_run(run: dict[str, Path], keypair: KeyPairPaths) -> None:
    run["data"].write_text("x,y\n1,1\n2,1\n")  # a flipped label
    problems = chain_problems(run, [keypair.public])
    assert f"dataset {run['data']}: changed since the training run (digest differs from the attestation)" in problems
    assert f"dataset {run['data']}: changed since it was signed" in problems


def test_unsigned_or_missing_training_data(run: dict[str, Path], keypair: KeyPairPaths) -> None:
    Path(str(run["data"]) + ".sig").unlink()
    assert any(p.startswith("dataset unsigned: no signature at") for p in chain_problems(run, [keypair.public]))
    run["data"].unlink()
    assert f"dataset {run['data']}: named in the attestation but missing" in chain_problems(run, [keypair.public])


def test_swapped_model_resigned_by_an_insider(run: dict[str, Path], keypair: KeyPairPaths) -> None:
    """A model replaced and re-signed with a trusted key still fails: it is not the attested one."""
    run["model"].write_bytes(b"backdoored" * 100)
    sign(run["model"], keypair.private)
    (problem,) = chain_problems(run, [keypair.public])
    assert "is not the model this attestation describes" in problem


def test_attestation_by_an_untrusted_key(run: dict[str, Path], keypair: KeyPairPaths, other_keypair: KeyPairPaths) -> None:
    attest(run["model"], key=other_keypair.private, datasets=[run["data"]])
    with pytest.raises(VerificationError) as info:
        verify_provenance(run["model"], None, [keypair.public])
    assert "signed by a key that is not trusted" in info.value.problems[0]


def test_cli_attest_and_verify(run: dict[str, Path], keypair: KeyPairPaths) -> None:
    exe = str(Path(sys.executable).parent / "pipeshield")
    out = subprocess.run([exe, "attest", str(run["model"]), "--key", str(keypair.private), "-d", str(run["data"]),
                          "--param", "epochs=5", "--param", "name=resnet"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert statement_of(run["att"])["predicate"]["buildDefinition"]["externalParameters"]["hyperparameters"] == {"epochs": 5, "name": "resnet"}
    ok = subprocess.run([exe, "verify", str(run["model"]), "--key", str(keypair.public), "--provenance"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([exe, "attest", str(run["model"]), "--key", str(keypair.private), "--param", "oops"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--param: expected NAME=VALUE" in bad.stderr
