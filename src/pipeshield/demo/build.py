"""Builds the demo pipeline folder (see the package docstring for what it contains)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeshield.core.files import atomic_write_bytes, atomic_write_text
from pipeshield.demo import planted
from pipeshield.demo.pipeline_file import PIPELINE_TOML
from pipeshield.errors import ConfigError

__all__ = ["DemoResult", "build_demo"]

MARKER = "planted.json"


@dataclass(frozen=True)
class DemoResult:
    root: Path
    pipeline_file: Path
    planted: dict[str, Any]


def _prepare(root: Path, force: bool) -> None:
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{root}: exists and is not a folder")
    if root.is_dir() and any(root.iterdir()) and not (root / MARKER).exists() and not force:
        raise ConfigError(
            f"{root}: folder is not empty and is not a pipeshield demo",
            hint="pick a new folder, or pass --force to write into it anyway",
        )
    for sub in ("data", "models", "keys", ".private"):
        (root / sub).mkdir(parents=True, exist_ok=True)


def _save_npz(path: Path, x: np.ndarray, label: np.ndarray) -> None:
    import io

    buf = io.BytesIO()
    np.savez_compressed(buf, x=x, label=label)
    atomic_write_bytes(path, buf.getvalue())


def _digits(root: Path, rng: np.random.Generator, seed: int) -> dict[str, Any]:
    import torch
    from safetensors.torch import save as save_safetensors
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from pipeshield.demo.models import train_digits_cnn

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.33, random_state=seed, stratify=y)
    y_train, flip = planted.flip_labels(y_train, source=7, target=1, count=40, rng=rng)
    x_train, y_train, backdoor = planted.add_backdoor(
        x_train, y_train, target=0, fraction=0.03, rng=rng, exclude=np.asarray(flip["indices"])
    )
    _save_npz(root / "data/digits_train.npz", x=x_train, label=y_train)
    _save_npz(root / "data/digits_test.npz", x=x_test, label=y_test)

    model = train_digits_cnn(x_train, y_train, seed=seed)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(root / "models/digits_cnn.safetensors", save_safetensors(state))

    with torch.inference_mode():
        def predict(a: np.ndarray) -> np.ndarray:
            return np.asarray(model(torch.as_tensor(a.reshape(-1, 1, 8, 8))).argmax(1).numpy())

        clean_acc = float((predict(x_test) == y_test).mean())
        victims = y_test != backdoor["target_class"]
        triggered = planted.apply_trigger(x_test[victims])
        asr = float((predict(triggered) == backdoor["target_class"]).mean())
    backdoor["attack_success_rate_on_test"] = round(asr, 4)
    backdoor["clean_test_accuracy"] = round(clean_acc, 4)
    flip["dataset"] = backdoor["dataset"] = "digits_train"
    return {"label_flip": flip, "backdoor": backdoor}


def _tabular(root: Path, rng: np.random.Generator, seed: int) -> dict[str, Any]:
    import pandas as pd
    import skops.io as sio
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    from pipeshield.demo.models import train_tabular_forest

    data = load_breast_cancer(as_frame=True)
    frame = data.frame.rename(columns={"target": "diagnosis"})
    features = [c for c in frame.columns if c != "diagnosis"]
    rest, incoming = train_test_split(frame, test_size=0.15, random_state=seed, stratify=frame["diagnosis"])
    train, test = train_test_split(rest, test_size=0.4, random_state=seed, stratify=rest["diagnosis"])
    train = train.reset_index(drop=True)
    test = test.reset_index(drop=True)
    x_train, y_train, overlap = planted.duplicate_test_rows(
        train[features].to_numpy(), train["diagnosis"].to_numpy(),
        test[features].to_numpy(), test["diagnosis"].to_numpy(), count=15, rng=rng,
    )
    train = pd.DataFrame(x_train, columns=features).assign(diagnosis=y_train)
    members = rng.permutation(len(train))
    train.to_csv(root / "data/tabular_train.csv", index=False)
    test.to_parquet(root / "data/tabular_test.parquet", index=False)
    incoming, corruption = planted.corrupt_incoming(incoming.drop(columns=["diagnosis"]).reset_index(drop=True), rng=rng)
    incoming.to_csv(root / "data/incoming.csv", index=False)

    model = train_tabular_forest(train[features].to_numpy(dtype=np.float32), y_train, seed=seed)
    atomic_write_bytes(root / "models/tabular_forest.skops", sio.dumps(model))
    overlap["dataset"] = "tabular_train"
    corruption["dataset"] = "incoming"
    leak = {
        "kind": "membership_leakage",
        "model": "tabular_forest",
        "members": "every row of data/tabular_train.csv",
        "non_members": "every row of data/tabular_test.parquet except the duplicated ones",
        "train_accuracy": round(float(model.score(x_train.astype(np.float32), y_train)), 4),
        "test_accuracy": round(float(model.score(test[features].to_numpy(dtype=np.float32), test["diagnosis"])), 4),
        "n_members": int(len(members)),
    }
    return {"train_test_overlap": overlap, "incoming": corruption, "membership": leak}


def _keys(root: Path) -> dict[str, Any]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    atomic_write_bytes(root / ".private/demo-signing.key", private, mode=0o600)
    atomic_write_bytes(root / "keys/demo-signing.pub", public)
    return {"public_key": "keys/demo-signing.pub", "private_key": ".private/demo-signing.key", "algorithm": "ECDSA P-256"}


SIGNED = (
    "data/digits_train.npz",
    "data/digits_test.npz",
    "data/tabular_train.csv",
    "data/tabular_test.parquet",
    "models/digits_cnn.safetensors",
    "models/tabular_forest.skops",
)


def _sign(root: Path) -> dict[str, Any]:
    """Sign every dataset and model with the demo key, except the incoming batch (planted)."""
    from pipeshield.integrity.provenance import attest
    from pipeshield.integrity.signing import sign

    for rel in SIGNED:
        sign(root / rel, root / ".private/demo-signing.key")
    attest(
        root / "models/digits_cnn.safetensors",
        key=root / ".private/demo-signing.key",
        datasets=[root / "data/digits_train.npz"],
        params={"optimizer": "adam", "lr": 0.002, "batch_size": 64, "epochs": 40, "seed": 0},
        builder_id="urn:pipeshield:builder:demo",
    )
    return {
        "kind": "unsigned_dataset",
        "files": ["data/incoming.csv"],
        "signed": list(SIGNED),
        "note": "every other dataset and model carries an OMS signature (FILE.sig) by keys/demo-signing.pub; "
        "digits_cnn also has a signed SLSA provenance (models/digits_cnn.safetensors.provenance.sig), "
        "tabular_forest has none (planted: an untraceable model)",
    }


def _pickles(root: Path) -> dict[str, Any]:
    data = planted.code_executing_pickle()
    atomic_write_bytes(root / "models/legacy_forest.pkl", data)
    atomic_write_bytes(root / "models/forest_v2.safetensors", data)
    return {
        "kind": "code_executing_pickle",
        "files": ["models/legacy_forest.pkl", "models/forest_v2.safetensors"],
        "callable": "posix.system (os.system)",
        "command": planted.PAYLOAD_COMMAND,
        "disguised": "models/forest_v2.safetensors holds the same pickle under a safetensors name",
    }


def build_demo(directory: Path | str = "pipeshield-demo", *, seed: int = 0, force: bool = False) -> DemoResult:
    """Write the demo pipeline into ``directory`` (deterministic for a given seed)."""
    root = Path(directory)
    _prepare(root, force)
    rng = np.random.default_rng(seed)
    record: dict[str, Any] = {
        "about": "Ground truth of the weaknesses the pipeshield demo planted. A real pipeline has no such file.",
        "seed": seed,
    }
    record.update(_digits(root, rng, seed))
    record.update(_tabular(root, rng, seed))
    record["keys"] = _keys(root)
    record["unsigned"] = _sign(root)
    record["malicious_pickle"] = _pickles(root)
    atomic_write_text(root / "pipeshield.toml", PIPELINE_TOML)
    atomic_write_text(root / MARKER, json.dumps(record, indent=2) + "\n")
    return DemoResult(root, root / "pipeshield.toml", record)
