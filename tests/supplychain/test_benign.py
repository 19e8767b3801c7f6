"""Real files made by torch, numpy, scikit-learn (joblib, skops), safetensors and ONNX: clean."""

from __future__ import annotations

import collections
import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeshield.supplychain import CLEAN_CAVEAT, Verdict, scan_file, scan_path


def _clean(path: Path) -> None:
    result = scan_file(path)
    problems = [f for f in result.findings if f.rule != "PS-PKL-REVIEW-CLASS" and f.effect.value != "none"]
    assert result.verdict is Verdict.CLEAN, (result.format, result.findings)
    assert not problems
    assert result.note == CLEAN_CAVEAT


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(), torch.nn.Linear(4, 2))


def test_torch_state_dict(tmp_path: Path) -> None:
    torch.save(_net().state_dict(), tmp_path / "sd.pt")
    _clean(tmp_path / "sd.pt")
    assert scan_file(tmp_path / "sd.pt").format == "torch-zip"


def test_torch_tensor_and_legacy_format(tmp_path: Path) -> None:
    torch.save(torch.randn(3, 3), tmp_path / "t.pt")
    torch.save(_net().state_dict(), tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    _clean(tmp_path / "t.pt")
    _clean(tmp_path / "legacy.pt")
    assert scan_file(tmp_path / "legacy.pt").format == "torch-legacy"


def test_hf_trainer_rng_state(tmp_path: Path) -> None:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "cpu": torch.get_rng_state()}
    torch.save(state, tmp_path / "rng_state.pth")
    _clean(tmp_path / "rng_state.pth")


def test_numpy_files(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.arange(12.0).reshape(3, 4))
    np.save(tmp_path / "s.npy", np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]))
    np.savez(tmp_path / "z.npz", a=np.arange(3), b=np.ones((2, 2)))
    np.savez_compressed(tmp_path / "c.npz", a=np.arange(30))
    for name in ("a.npy", "s.npy", "z.npz", "c.npz"):
        _clean(tmp_path / name)


def test_pickled_ordered_dict_of_arrays(tmp_path: Path) -> None:
    value = collections.OrderedDict(w=np.random.rand(3, 3), b=np.float32(1.5), n=np.int64(3))
    for protocol in range(6):
        path = tmp_path / f"od{protocol}.pkl"
        path.write_bytes(pickle.dumps(value, protocol=protocol))  # safe: dumping builds bytes
        _clean(path)


def test_joblib_sklearn(tmp_path: Path) -> None:
    joblib = pytest.importorskip("joblib")
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = np.random.RandomState(0).rand(40, 4), np.arange(40) % 2
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(x, y)
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
    joblib.dump(forest, tmp_path / "forest.joblib")
    joblib.dump(pipe, tmp_path / "pipe.joblib", compress=3)
    for name in ("forest.joblib", "pipe.joblib"):
        _clean(tmp_path / name)
    review = scan_file(tmp_path / "forest.joblib").findings
    assert any(f.rule == "PS-PKL-REVIEW-CLASS" and "RandomForestClassifier" in (f.callable or "") for f in review)


def test_safetensors(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    save_file(_net().state_dict(), tmp_path / "m.safetensors", metadata={"format": "pt"})
    _clean(tmp_path / "m.safetensors")


def test_skops(tmp_path: Path) -> None:
    from sklearn.tree import DecisionTreeClassifier
    from skops.io import dump

    model = DecisionTreeClassifier(random_state=0).fit(np.random.rand(20, 3), np.arange(20) % 2)
    dump(model, tmp_path / "m.skops")
    _clean(tmp_path / "m.skops")


def test_onnx(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((4, 2), dtype=np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], [w])
    onnx.save(helper.make_model(graph, producer_name="pytorch"), tmp_path / "m.onnx")
    _clean(tmp_path / "m.onnx")


def test_directory_walk(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    np.save(tmp_path / "sub" / "a.npy", np.arange(3))
    (tmp_path / "README.md").write_text("# model card\n")
    result = scan_path(tmp_path)
    assert [f.verdict for f in result.files] == [Verdict.CLEAN, Verdict.CLEAN]
