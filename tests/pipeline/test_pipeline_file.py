"""The pipeline file: valid files load; every invalid one names the file, the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeshield.core.findings import Severity
from pipeshield.core.pipeline import load_pipeline, parse_pipeline
from pipeshield.errors import ArtifactError, ConfigError

MINIMAL = """
[pipeline]
name = "t"
[datasets.train]
path = "train.csv"
role = "train"
label = "y"
[datasets.test]
path = "test.parquet"
role = "test"
label = "y"
[models.m]
path = "m.skops"
train_data = "train"
test_data = "test"
"""


def write(tmp_path: Path, text: str, files: tuple[str, ...] = ("train.csv", "test.parquet", "m.skops")) -> Path:
    for name in files:
        (tmp_path / name).write_bytes(b"x")
    path = tmp_path / "pipeshield.toml"
    path.write_text(text)
    return path


def test_minimal_file_loads_with_inferred_formats(tmp_path: Path) -> None:
    p = load_pipeline(write(tmp_path, MINIMAL))
    assert p.name == "t"
    assert p.datasets["train"].format == "csv"
    assert p.datasets["test"].format == "parquet"
    assert p.models["m"].format == "skops"
    assert p.policy.fail_on is Severity.HIGH
    assert p.resolve("train.csv") == tmp_path / "train.csv"
    assert p.display(tmp_path / "train.csv") == "train.csv"


def test_folder_argument_finds_pipeshield_toml(tmp_path: Path) -> None:
    write(tmp_path, MINIMAL)
    assert load_pipeline(tmp_path).name == "t"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (('role = "train"', 'role = "training"'), "datasets.train.role"),
        (('label = "y"\n[models', 'lable = "y"\n[models'), "datasets.test.lable: unknown key"),
        (('train_data = "train"', 'train_data = "nope"'), "models.m.train_data: no dataset named 'nope'"),
        (('path = "m.skops"', 'path = "m.h5"'), "models.m: cannot tell the format of 'm.h5'"),
        (('name = "t"', 'name = 3'), "pipeline.name"),
    ],
)
def test_invalid_values_name_the_key(tmp_path: Path, edit: tuple[str, str], expected: str) -> None:
    text = MINIMAL.replace(*edit, 1)
    assert text != MINIMAL
    with pytest.raises(ConfigError) as info:
        load_pipeline(write(tmp_path, text, ("train.csv", "test.parquet", "m.skops", "m.h5")))
    message = info.value.diagnostics()
    assert str(tmp_path / "pipeshield.toml") in message
    assert expected in message


def test_state_dict_without_builder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"models\.m: a safetensors state_dict needs builder"):
        parse_pipeline({"models": {"m": {"path": "m.safetensors"}}})


def test_bad_callable_syntax(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"models\.m\.builder: expected 'module:function'"):
        parse_pipeline({"models": {"m": {"path": "m.safetensors", "builder": "not a ref"}}})


def test_endpoint_url_and_model_reference() -> None:
    with pytest.raises(ConfigError, match=r"endpoint\.url: expected an http:// or https:// URL"):
        parse_pipeline({"endpoint": {"url": "ftp://x"}})
    with pytest.raises(ConfigError, match=r"endpoint\.model: no model named 'ghost'"):
        parse_pipeline({"endpoint": {"url": "http://127.0.0.1:1/p", "model": "ghost"}})


def test_invalid_toml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"invalid TOML: .*line 2"):
        load_pipeline(write(tmp_path, '[pipeline]\nname = "unterminated\n'))


def test_missing_pipeline_file_has_a_hint(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_pipeline(tmp_path / "nope.toml")
    assert "pipeline file not found" in str(info.value)
    assert "pipeshield init" in info.value.diagnostics()


def test_missing_referenced_file_names_key_and_path(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL, ("train.csv", "m.skops"))
    with pytest.raises(ArtifactError, match=r"datasets\.test\.path: file not found: test\.parquet"):
        load_pipeline(path)
    assert load_pipeline(path, check_files=False).name == "t"


def test_unknown_policy_severity(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"policy\.fail_on"):
        load_pipeline(write(tmp_path, MINIMAL + '\n[policy]\nfail_on = "severe"\n'))


def test_env_headers_resolve_and_missing_env_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    p = parse_pipeline({"endpoint": {"url": "https://api.example/p", "headers": {"Authorization": "Bearer ${PS_TOKEN}"}}})
    assert p.endpoint is not None
    monkeypatch.delenv("PS_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="PS_TOKEN is not set"):
        p.endpoint.resolved_headers()
    monkeypatch.setenv("PS_TOKEN", "s3cret")
    assert p.endpoint.resolved_headers() == {"Authorization": "Bearer s3cret"}
