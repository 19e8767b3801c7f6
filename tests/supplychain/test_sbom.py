"""``pipeshield sbom``: a CycloneDX 1.6 ML-BOM of the demo, checked against the official schema."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from pipeshield.cli import main
from pipeshield.core.pipeline import load_pipeline
from pipeshield.supplychain.sbom import build_sbom


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def _validate(text: str) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, str(error)


def _refs(node: Any) -> list[str]:
    """Every value of a ``ref``/``dependsOn`` anywhere in the document."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "ref" and isinstance(value, str):
                found.append(value)
            elif key == "dependsOn":
                found += value
            else:
                found += _refs(value)
    elif isinstance(node, list):
        for item in node:
            found += _refs(item)
    return found


def _bom_refs(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        if isinstance(node.get("bom-ref"), str):
            found.append(node["bom-ref"])
        for value in node.values():
            found += _bom_refs(value)
    elif isinstance(node, list):
        for item in node:
            found += _bom_refs(item)
    return found


@pytest.fixture(scope="module")
def sbom_doc(demo_pipeline: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    out = tmp_path_factory.mktemp("sbom") / "nested" / "bom.cdx.json"
    with pytest.raises(SystemExit) as exit_info:
        main(["sbom", "--pipeline", str(demo_pipeline), "--out", str(out)])
    assert exit_info.value.code in (0, None)
    text = out.read_text()
    assert not list(out.parent.glob(".*.tmp"))  # written atomically, nothing left behind
    return text, json.loads(text)


def test_validates_against_the_official_1_6_schema(sbom_doc: tuple[str, dict[str, Any]]) -> None:
    text, doc = sbom_doc
    _validate(text)
    assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.6"
    assert doc["metadata"]["component"]["name"] == "pipeshield-demo"
    assert doc["metadata"]["tools"]["components"][0]["name"] == "pipeshield"
    assert doc["metadata"]["timestamp"].endswith("Z")


def test_models_are_ml_components_with_digests_and_dataset_refs(sbom_doc: tuple[str, dict[str, Any]],
                                                              demo_pipeline: Path) -> None:
    _, doc = sbom_doc
    pipeline = load_pipeline(demo_pipeline)
    models = {c["name"]: c for c in doc["components"] if c["type"] == "machine-learning-model"}
    assert set(models) == {"digits_cnn", "tabular_forest"}
    for name, component in models.items():
        expected = hashlib.sha256(pipeline.resolve(pipeline.models[name].path).read_bytes()).hexdigest()
        assert component["hashes"] == [{"alg": "SHA-256", "content": expected}]
        params = component["modelCard"]["modelParameters"]
        spec = pipeline.models[name]
        assert params["datasets"] == [{"ref": f"dataset:{spec.train_data}"}, {"ref": f"dataset:{spec.test_data}"}]
        assert params["task"] == "classification" and params["approach"] == {"type": "supervised"}
    assert models["digits_cnn"]["modelCard"]["modelParameters"]["architectureFamily"] == "neural network (PyTorch)"
    assert models["tabular_forest"]["modelCard"]["modelParameters"]["architectureFamily"] == "scikit-learn estimator"


def test_datasets_are_data_components(sbom_doc: tuple[str, dict[str, Any]], demo_pipeline: Path) -> None:
    _, doc = sbom_doc
    pipeline = load_pipeline(demo_pipeline)
    data = {c["name"]: c for c in doc["components"] if c["type"] == "data"}
    assert set(data) == set(pipeline.datasets)
    train = data["digits_train"]
    assert train["data"] == [{"type": "dataset", "name": "digits_train", "contents": {"url": "data/digits_train.npz"}}]
    expected = hashlib.sha256(pipeline.resolve("data/digits_train.npz").read_bytes()).hexdigest()
    assert train["hashes"][0]["content"] == expected
    assert {"name": "pipeshield:role", "value": "train"} in train["properties"]


def test_every_ref_resolves_and_bom_refs_are_unique(sbom_doc: tuple[str, dict[str, Any]]) -> None:
    _, doc = sbom_doc
    bom_refs = _bom_refs(doc)
    assert len(bom_refs) == len(set(bom_refs))
    refs = _refs(doc)
    assert refs and set(refs) <= set(bom_refs)
    deps = {d["ref"]: d["dependsOn"] for d in doc["dependencies"]}
    assert deps["model:digits_cnn"] == ["dataset:digits_train", "dataset:digits_test"]
    assert "model:tabular_forest" in deps["pipeline:pipeshield-demo"]


def test_environment_components(sbom_doc: tuple[str, dict[str, Any]]) -> None:
    _, doc = sbom_doc
    libs = {c["name"].lower(): c for c in doc["components"] if c["type"] == "library"}
    assert {"numpy", "torch", "pipeshield"} <= set(libs)
    numpy = libs["numpy"]
    assert numpy["purl"] == f"pkg:pypi/numpy@{numpy['version']}" == numpy["bom-ref"]
    assert any("licenses" in c for c in libs.values())
    artifacts = {c["name"] for c in doc["components"] if c["type"] == "file"}
    assert artifacts == {"legacy_forest", "forest_v2"}


def test_stdout_and_no_environment(capsys: pytest.CaptureFixture[str], demo_pipeline: Path) -> None:
    code, out, _ = _run(capsys, "sbom", "-p", str(demo_pipeline.parent), "--no-environment")
    assert code == 0
    _validate(out)
    assert not [c for c in json.loads(out)["components"] if c["type"] == "library"]


def test_build_sbom_accepts_a_loaded_pipeline(demo_pipeline: Path) -> None:
    doc = build_sbom(load_pipeline(demo_pipeline), environment=False)
    _validate(json.dumps(doc))


def test_bad_input_is_one_line_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path, demo_pipeline: Path) -> None:
    code, _, err = _run(capsys, "sbom", "--pipeline", str(tmp_path / "missing.toml"))
    assert code == 2 and err.startswith("error: ") and "missing.toml" in err and "Traceback" not in err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = _run(capsys, "sbom", "--pipeline", str(demo_pipeline), "--out", str(blocker / "bom.json"))
    assert code == 2 and "cannot write the SBOM" in err
