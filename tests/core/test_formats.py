"""detect_format on real files written by the libraries that make them, never by hand-made headers
(except for the deliberately odd inputs: empty files, random bytes, renamed files).
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeshield.core.formats import EXECUTABLE_FORMATS, detect_format


class _MakeDirs:
    """A payload that would create ``path`` if unpickled; detection must never unpickle it."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (os.makedirs, (self.path,))


@pytest.mark.parametrize("protocol", range(6))
@pytest.mark.parametrize("payload", ["data", "reduce"])
def test_pickle_every_protocol(tmp_path: Path, protocol: int, payload: str) -> None:
    sentinel = tmp_path / "payload-ran"
    obj = {"weights": [0.5, 1.5], "name": "m"} if payload == "data" else _MakeDirs(sentinel)
    path = tmp_path / "model.bin"
    path.write_bytes(pickle.dumps(obj, protocol=protocol))

    fmt = detect_format(path)

    assert fmt.name == "pickle", fmt
    assert fmt.can_execute_code is True
    assert not sentinel.exists()


@pytest.mark.parametrize("protocol", [0, 1])
def test_protocol_0_and_1_pickles_larger_than_the_header_window(
    tmp_path: Path, protocol: int
) -> None:
    # Regression: these pickles start with MARK/EMPTY_LIST and end with STOP, but the STOP was only
    # looked for in the first 4 KiB, so a pickle over 4 KiB passed for "text" or "binary".
    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps(["w" * 6000, _MakeDirs(tmp_path / "x")], protocol=protocol))
    assert path.stat().st_size > 4096

    fmt = detect_format(path)

    assert fmt.name == "pickle", fmt
    assert fmt.can_execute_code is True


def test_pickle_renamed_safetensors_is_detected_as_pickle(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps(_MakeDirs(tmp_path / "ran"), protocol=4))
    fmt = detect_format(path)
    assert fmt.name == "pickle" and fmt.detail == "protocol 4"
    assert fmt.can_execute_code is True
    assert not (tmp_path / "ran").exists()


def _torch_files(tmp_path: Path) -> dict[str, Path]:
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3))
    files = {"torch-zip": tmp_path / "m.pt", "safetensors": tmp_path / "m.safetensors"}
    torch.save(model.state_dict(), files["torch-zip"])
    save_file(model.state_dict(), str(files["safetensors"]))
    with warnings.catch_warnings(), contextlib.suppress(Exception):  # TorchScript may be gone
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(model), str(tmp_path / "m.ts"))
        files["torchscript"] = tmp_path / "m.ts"
    return files


def test_torch_formats(tmp_path: Path) -> None:
    files = _torch_files(tmp_path)
    for expected, path in files.items():
        fmt = detect_format(path)
        assert fmt.name == expected, (path.name, fmt)
    assert detect_format(files["torch-zip"]).can_execute_code is True
    assert detect_format(files["safetensors"]).can_execute_code is False
    if "torchscript" not in files:
        pytest.skip("TorchScript save unavailable in this torch build; other torch formats checked")


def test_torch_zip_under_another_name(tmp_path: Path) -> None:
    files = _torch_files(tmp_path)
    renamed = tmp_path / "weights.safetensors"
    renamed.write_bytes(files["torch-zip"].read_bytes())
    assert detect_format(renamed).name == "torch-zip"


def test_skops(tmp_path: Path) -> None:
    sio = pytest.importorskip("skops.io")
    from sklearn.linear_model import LogisticRegression

    est = LogisticRegression().fit(np.eye(4), [0, 1, 0, 1])
    sio.dump(est, tmp_path / "m.skops")
    fmt = detect_format(tmp_path / "m.skops")
    assert fmt.name == "skops" and fmt.can_execute_code is False


def test_onnx(tmp_path: Path) -> None:
    skl2onnx = pytest.importorskip("skl2onnx")
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LogisticRegression

    est = LogisticRegression().fit(np.eye(4, dtype=np.float32), [0, 1, 0, 1])
    onx = skl2onnx.convert_sklearn(est, initial_types=[("x", FloatTensorType([None, 4]))])
    (tmp_path / "m.onnx").write_bytes(onx.SerializeToString())
    assert detect_format(tmp_path / "m.onnx").name == "onnx"


def _write_npz(p: Path) -> None:
    np.savez(p, x=np.zeros((2, 3)), y=np.array([0, 1]))


def _write_npy(p: Path) -> None:
    np.save(p, np.arange(10))


def _write_parquet(p: Path) -> None:
    pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5]}).to_parquet(p)


def _write_csv(p: Path) -> None:
    pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5]}).to_csv(p, index=False)


def _write_json(p: Path) -> None:
    p.write_text(json.dumps({"classes": [0, 1], "threshold": 0.5}))


def _write_public_key(p: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate().public_key()
    p.write_bytes(
        key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def _write_empty(p: Path) -> None:
    p.write_bytes(b"")


def _write_random(p: Path) -> None:
    p.write_bytes(np.random.default_rng(1234).bytes(2048))


@pytest.mark.parametrize(
    ("writer", "filename", "expected"),
    [
        (_write_npz, "d.npz", "npz"),
        (_write_npy, "d.npy", "npy"),
        (_write_parquet, "d.parquet", "parquet"),
        (_write_csv, "d.csv", "csv"),
        (_write_json, "d.json", "json"),
        (_write_public_key, "signer.pub", "public-key"),
        (_write_empty, "empty.bin", "empty"),
        (_write_random, "noise.safetensors", "binary"),
    ],
    ids=["npz", "npy", "parquet", "csv", "json", "public-key", "empty", "random-bytes"],
)
def test_data_and_other_files(
    tmp_path: Path, writer: Callable[[Path], None], filename: str, expected: str
) -> None:
    path = tmp_path / filename
    writer(path)
    fmt = detect_format(path)
    assert fmt.name == expected, fmt
    assert fmt.can_execute_code is False


def test_npz_with_object_array_is_still_npz(tmp_path: Path) -> None:
    # Detection names the container; refusing the object array is the dataset loader's job.
    np.savez(tmp_path / "d.npz", y=np.array([{"a": 1}], dtype=object))
    assert detect_format(tmp_path / "d.npz").name == "npz"


def test_detection_reads_content_not_extension(tmp_path: Path) -> None:
    path = tmp_path / "looks-like.onnx"
    _write_csv(path)
    assert detect_format(path).name == "csv"


def test_executable_formats_are_the_pickle_family() -> None:
    assert {"pickle", "torch-zip"} <= EXECUTABLE_FORMATS
    assert (
        not {"safetensors", "onnx", "skops", "npz", "npy", "parquet", "csv", "json"}
        & EXECUTABLE_FORMATS
    )
