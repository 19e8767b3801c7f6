"""Poisoning simulation: every kind plants exactly what its mask says, and a backdoor works."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.model_selection import train_test_split

from pipeshield.attacks import PatchTrigger, PoisonKind, measure_backdoor, poison, value_trigger_for
from pipeshield.data.poisoning import load_mask
from pipeshield.errors import DatasetError


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    return (x / 16.0).astype(np.float32), y


def test_patch_trigger() -> None:
    t = PatchTrigger(image_shape=(8, 8), size=2, position="bottom-right", value=1.0)
    img = t.apply(np.zeros((2, 64), dtype=np.float32)).reshape(2, 8, 8)
    assert img[:, 6:, 6:].min() == 1.0 and img.sum() == 8.0
    top = PatchTrigger(image_shape=(3, 4, 4), size=1, position="top-left", value=0.5).apply(np.zeros((1, 48)))
    assert top.reshape(3, 4, 4)[:, 0, 0].tolist() == [0.5, 0.5, 0.5] and top.sum() == 1.5
    with pytest.raises(DatasetError, match="does not fit"):
        PatchTrigger(image_shape=(8, 8), size=9)
    assert t.to_dict()["pixels_row_col"] == [[6, 6], [6, 7], [7, 6], [7, 7]]


@pytest.mark.parametrize("kind", list(PoisonKind))
def test_each_kind_matches_its_mask(digits, kind: PoisonKind) -> None:  # type: ignore[no-untyped-def]
    x, y = digits
    t = PatchTrigger((8, 8), 2)
    r = poison(x, y, kind=kind, rate=0.05, source=7, target=1, trigger=t, seed=3)
    changed_label = r.y != y
    changed_x = (r.x != x).any(axis=1)
    assert r.mask.sum() == r.record["poisoned_rows"] > 0
    assert not (changed_label & ~r.mask).any() and not (changed_x & ~r.mask).any()
    if kind is PoisonKind.RANDOM_FLIP:
        assert changed_label[r.mask].all() and not changed_x.any()
    elif kind is PoisonKind.TARGETED_FLIP:
        assert (y[r.mask] == 7).all() and (r.y[r.mask] == 1).all() and not changed_x.any()
    elif kind is PoisonKind.BACKDOOR:
        assert (y[r.mask] != 1).all() and (r.y[r.mask] == 1).all() and changed_x[r.mask].all()
    else:  # clean-label: labels untouched, only target-class rows carry the trigger
        assert not changed_label.any() and (y[r.mask] == 1).all()
    again = poison(x, y, kind=kind, rate=0.05, source=7, target=1, trigger=t, seed=3)
    assert (again.mask == r.mask).all()  # reproducible from the seed


def test_backdoor_attack_success_with_default_trainer(digits) -> None:  # type: ignore[no-untyped-def]
    x, y = digits
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    t = PatchTrigger((8, 8), 2)
    r = poison(xtr, ytr, kind="backdoor", rate=0.05, target=0, trigger=t, seed=0)
    m = measure_backdoor(r, xte, yte, trigger=t, target=0, image_shape=(8, 8), seed=0)
    assert m.attack_success_rate >= 0.8, m
    assert m.clean_accuracy >= 0.9, m


def test_tabular_value_trigger_backdoor() -> None:
    x, y = load_breast_cancer(return_X_y=True)
    x = x.astype(np.float32)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    t = value_trigger_for(xtr, n_columns=3, seed=0)
    assert (t.apply(xte)[:, list(t.columns)] > xtr[:, list(t.columns)].max(axis=0)).all()
    r = poison(xtr, ytr, kind="backdoor", rate=0.08, target=1, trigger=t, seed=0)
    m = measure_backdoor(r, xte, yte, trigger=t, target=1, image_shape=None, seed=0)
    assert m.attack_success_rate >= 0.8, m


def test_cli_writes_copy_mask_and_asr(cli, tmp_path: Path, digits) -> None:  # type: ignore[no-untyped-def]
    x, y = digits
    np.savez(tmp_path / "d.npz", x=x, label=y)
    code, out, err = cli(["attack", "poison", str(tmp_path / "d.npz"), "--label", "label", "--kind", "backdoor",
                          "--rate", "0.05", "--target", "0", "--image-shape", "8,8", "--out", str(tmp_path / "p.npz"),
                          "--mask", str(tmp_path / "mask.json")])
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["attack_success_rate"] >= 0.8 and "attack success rate" in err
    mask = load_mask(tmp_path / "mask.json", len(y))
    with np.load(tmp_path / "p.npz") as npz:
        px, py = npz["x"], npz["label"]
    assert mask.sum() == round(0.05 * len(y))
    assert (py[mask] == 0).all() and (px[mask].reshape(-1, 8, 8)[:, 6:, 6:] == 1.0).all()
    assert (px[~mask] == x[~mask]).all() and (py[~mask] == y[~mask]).all()


def test_cli_targeted_flip_on_csv(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    frame = load_breast_cancer(as_frame=True).frame
    frame["target"] = frame["target"].map({0: "malignant", 1: "benign"})
    frame.to_csv(tmp_path / "t.csv", index=False)
    code, _out, err = cli(["attack", "poison", str(tmp_path / "t.csv"), "--label", "target", "--kind", "targeted-flip",
                           "--rate", "0.05", "--source", "benign", "--target", "malignant", "--out",
                           str(tmp_path / "p.csv"), "--mask", str(tmp_path / "m.json")])
    assert code == 0, err
    out = pd.read_csv(tmp_path / "p.csv")
    mask = load_mask(tmp_path / "m.json", len(out))
    assert (out.loc[mask, "target"] == "malignant").all() and (frame.loc[mask, "target"] == "benign").all()
    assert list(out.columns) == list(frame.columns)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--kind", "backdoor", "--rate", "1.5", "--target", "0"], "--rate: must be between 0 and 1"),
        (["--kind", "backdoor", "--rate", "0.1", "--target", "42"], "--target: '42' is not a label"),
        (["--kind", "targeted-flip", "--rate", "0.1", "--target", "0"], "--source: targeted-flip needs a source"),
        (["--kind", "backdoor", "--rate", "0.1", "--target", "0", "--trigger", "patch"], "a patch trigger needs images"),
    ],
)
def test_cli_bad_input(cli, tmp_path: Path, extra: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    pd.DataFrame({"a": np.arange(20.0), "y": np.arange(20) % 2}).to_csv(tmp_path / "t.csv", index=False)
    code, _out, err = cli(["attack", "poison", str(tmp_path / "t.csv"), "--label", "y", *extra,
                           "--out", str(tmp_path / "p.csv"), "--mask", str(tmp_path / "m.json")])
    assert code == 2 and message in err, err
    assert not (tmp_path / "p.csv").exists()


def test_cli_uses_the_training_callable(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "mytrain.py").write_text(
        "from sklearn.ensemble import ExtraTreesClassifier\n"
        "CALLS = []\n"
        "def train(x, y, *, seed):\n"
        "    CALLS.append(len(x))\n"
        "    return ExtraTreesClassifier(n_estimators=50, random_state=seed).fit(x, y)\n"
    )
    frame = load_breast_cancer(as_frame=True).frame
    frame.to_csv(tmp_path / "t.csv", index=False)
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(["attack", "poison", "t.csv", "--label", "target", "--kind", "backdoor", "--rate", "0.08",
                          "--target", "1", "--training", "mytrain:train", "--out", "p.csv", "--mask", "m.json"])
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["trainer"] == "train" and summary["trigger"]["kind"] == "value"
    assert summary["attack_success_rate"] >= 0.8
    code, _out, err = cli(["attack", "poison", "t.csv", "--label", "target", "--kind", "backdoor", "--rate", "0.08",
                           "--target", "1", "--training", "nosuchmodule:train", "--out", "p.csv", "--mask", "m.json"])
    assert code == 2 and "cannot import 'nosuchmodule'" in err
