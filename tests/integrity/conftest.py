"""Keys and signed trees for the integrity tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeshield.integrity.keys import KeyPairPaths, generate_keypair


@pytest.fixture(scope="session")
def keypair(tmp_path_factory: pytest.TempPathFactory) -> KeyPairPaths:
    return generate_keypair(tmp_path_factory.mktemp("keys") / "signer")


@pytest.fixture(scope="session")
def other_keypair(tmp_path_factory: pytest.TempPathFactory) -> KeyPairPaths:
    return generate_keypair(tmp_path_factory.mktemp("keys2") / "stranger", curve="P-384")


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    root = tmp_path / "classifier"
    (root / "weights").mkdir(parents=True)
    (root / "config.json").write_text('{"layers": 3}')
    (root / "weights" / "part-0.bin").write_bytes(os.urandom(300_000))
    (root / "weights" / "part-1.bin").write_bytes(os.urandom(10_000))
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main")
    return root
