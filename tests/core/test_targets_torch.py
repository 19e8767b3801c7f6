"""Torch targets: a real CNN trained on load_digits, loaded back from every format we accept.

Ground truth is the original in-memory model: loaded targets must answer its probabilities and its
autograd input gradients, and refused files must not have run their payloads.
"""

from __future__ import annotations

import copy
import io
import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from safetensors.torch import save as save_safetensors

from pipeshield.core.targets import WhiteBoxTarget, load_target
from pipeshield.errors import ConfigError, TargetError

pytestmark = pytest.mark.filterwarnings("ignore:.*(jit|TorchScript).*:DeprecationWarning")

FORMATS = ["safetensors", "torch", "torchscript-script", "torchscript-trace"]


@pytest.fixture
def load(torch_digits, make_pipeline):
    """``load(path, kind, **model_keys)``: load_target through a pipeline in the CNN's folder."""

    def _load(path: Path | str, kind: str, **extra: object):
        entry: dict[str, object] = {"path": str(path), "input_shape": [1, 8, 8], **extra}
        if kind.startswith("torchscript"):
            entry["format"] = "torchscript"
        elif "builder" not in entry:
            entry["builder"] = f"{torch_digits.builder_module}:build"
        pipeline = make_pipeline(torch_digits.folder, models={"cnn": entry})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.load in torch 2.13
            return load_target(pipeline, "cnn")

    return _load


@pytest.fixture
def loaded(torch_digits, load):
    """``loaded(kind)``: the fixture CNN loaded from its saved file of that kind (relative path)."""

    def _loaded(kind: str):
        if kind in torch_digits.torchscript_skip:
            pytest.skip(torch_digits.torchscript_skip[kind])
        return load(torch_digits.files[kind].name, kind)

    return _loaded


def _reference_proba(model, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return torch.softmax(model(torch.from_numpy(x.reshape(-1, 1, 8, 8))), dim=1).numpy()


def _reference_grad(model, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    model = copy.deepcopy(model)
    xt = torch.from_numpy(x.reshape(-1, 1, 8, 8).copy()).requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(model(xt), torch.from_numpy(y).long(), reduction="sum")
    loss.backward()
    return xt.grad.numpy().reshape(x.shape)


@pytest.mark.parametrize("kind", FORMATS)
def test_loaded_model_answers_the_original_probabilities(
    torch_digits, digits, loaded, kind: str
) -> None:
    target = loaded(kind)
    assert isinstance(target, WhiteBoxTarget)
    assert target.white_box is True

    proba = target.predict_proba(digits.x_test)

    assert proba.shape == (len(digits.x_test), 10)
    np.testing.assert_allclose(
        proba, _reference_proba(torch_digits.model, digits.x_test), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    assert (proba >= 0).all()
    accuracy = float((proba.argmax(axis=1) == digits.y_test).mean())
    assert accuracy > 0.9, f"held-out accuracy {accuracy:.3f}"
    np.testing.assert_array_equal(target.classes, np.arange(10))


@pytest.mark.parametrize("kind", FORMATS)
def test_input_gradient_matches_autograd_and_finite_differences(
    torch_digits, digits, loaded, kind: str
) -> None:
    target = loaded(kind)
    # Jitter the images: blank digit regions give max-pool ties, where the loss has a kink and
    # finite differences disagree with any gradient. Jittered points are in general position.
    jitter = np.random.default_rng(0).uniform(0.0, 0.05, size=(6, 64))
    x, y = (digits.x_test[:6] + jitter).astype(np.float32), digits.y_test[:6]

    grad = target.input_gradient(x, y)

    assert grad.shape == x.shape
    np.testing.assert_allclose(
        grad, _reference_grad(torch_digits.model, x, y), rtol=1e-4, atol=1e-6
    )

    # Central differences of the per-example loss, in float64 so rounding does not swamp them.
    model64 = copy.deepcopy(torch_digits.model).double()

    def loss(row: np.ndarray, label: int) -> float:
        with torch.no_grad():
            z = model64(torch.from_numpy(row.reshape(1, 1, 8, 8)))
            return float(torch.nn.functional.cross_entropy(z, torch.tensor([label])))

    eps = 1e-5
    rng = np.random.default_rng(0)
    for i in (0, 3):
        row = x[i].astype(np.float64)
        coords = list(np.argsort(-np.abs(grad[i]))[:2]) + [int(rng.integers(64))]
        for j in coords:
            up, down = row.copy(), row.copy()
            up[j] += eps
            down[j] -= eps
            fd = (loss(up, int(y[i])) - loss(down, int(y[i]))) / (2 * eps)
            assert grad[i, j] == pytest.approx(fd, rel=1e-3, abs=1e-5), (i, j)
    assert np.abs(grad).max() > 1e-3  # the check above compared something non-trivial


@pytest.mark.parametrize("kind", FORMATS)
def test_parameters_are_frozen_and_module_in_eval_mode(digits, kind: str, loaded) -> None:
    target = loaded(kind)
    params = list(target.module.parameters())
    assert len(params) == 4  # conv and linear, weight and bias each
    assert not any(p.requires_grad for p in params)
    assert target.module.training is False

    target.input_gradient(digits.x_test[:4], digits.y_test[:4])

    assert all(p.grad is None for p in params)


def test_builder_args_are_passed_to_the_builder(torch_digits, tmp_path: Path, load) -> None:
    # A 4-channel module cannot take the 8-channel weights: proves builder_args reached build().
    with pytest.raises(TargetError) as info:
        load(torch_digits.files["safetensors"], "safetensors", builder_args={"channels": 4})
    assert "size mismatch for 0.weight" in str(info.value)


# --- refusals -------------------------------------------------------------------------------------


class _MakeDirs:
    """A pickle payload: unpickling it calls os.makedirs(path). The path is our sentinel."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (os.makedirs, (self.path,))


def test_pickled_payload_in_pt_is_refused_and_does_not_run(tmp_path: Path, load) -> None:
    sentinel = tmp_path / "payload-ran"
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps(_MakeDirs(sentinel), protocol=2))

    with pytest.raises(TargetError) as info:
        load(evil, "torch")

    assert not sentinel.exists()
    assert "weights_only" in str(info.value)
    assert "os.makedirs" in str(info.value)  # the refused global, not torch's advice to disable
    assert "weights_only` set to `False`" not in str(info.value)
    assert "evil.pt" in str(info.value) and "models.cnn" in str(info.value)
    # Control: the payload is live, so its absence above proves the loader did not unpickle it.
    pickle.loads(evil.read_bytes())
    assert sentinel.is_dir()


def test_torch_save_zip_with_object_is_refused_and_does_not_run(tmp_path: Path, load) -> None:
    sentinel = tmp_path / "payload-ran"
    evil = tmp_path / "evil-zip.pt"
    torch.save({"0.weight": torch.zeros(1), "trap": _MakeDirs(sentinel)}, evil)

    with pytest.raises(TargetError) as info:
        load(evil, "torch")

    assert not sentinel.exists()
    assert "weights_only" in str(info.value)
    torch.load(evil, weights_only=False)  # control: a pickle loader would have run it
    assert sentinel.is_dir()


def _bad_state(torch_digits) -> dict:
    state = {k: v.clone() for k, v in torch_digits.model.state_dict().items()}
    state["classifier.weight"] = state.pop("4.weight")
    return state


@pytest.mark.parametrize("kind", ["safetensors", "torch"])
def test_state_dict_with_wrong_keys_names_them(
    torch_digits, tmp_path: Path, kind: str, load
) -> None:
    path = tmp_path / ("renamed.safetensors" if kind == "safetensors" else "renamed.pt")
    state = _bad_state(torch_digits)
    if kind == "safetensors":
        path.write_bytes(save_safetensors(state))
    else:
        torch.save(state, path)

    with pytest.raises(TargetError) as info:
        load(path, kind)

    message = str(info.value)
    assert "missing 4.weight" in message
    assert "unexpected classifier.weight" in message


@pytest.mark.parametrize("kind", ["safetensors", "torch"])
def test_state_dict_with_wrong_shape_names_the_tensor(
    torch_digits, tmp_path: Path, kind: str, load
) -> None:
    path = tmp_path / ("shape.safetensors" if kind == "safetensors" else "shape.pt")
    state = {k: v.clone() for k, v in torch_digits.model.state_dict().items()}
    state["4.weight"] = torch.zeros(10, 64)  # the module expects (10, 128)
    if kind == "safetensors":
        path.write_bytes(save_safetensors(state))
    else:
        torch.save(state, path)

    with pytest.raises(TargetError) as info:
        load(path, kind)

    message = str(info.value)
    assert "size mismatch for 4.weight" in message
    assert "\n" not in message  # one line, as diagnostics() promises


def test_pt_holding_plain_values_is_not_a_state_dict(tmp_path: Path, load) -> None:
    path = tmp_path / "values.pt"
    torch.save({"0.weight": [1.0, 2.0]}, path)
    with pytest.raises(TargetError, match="expected a state_dict"):
        load(path, "torch")


def test_builder_returning_non_module_is_refused(torch_digits, load) -> None:
    with pytest.raises(TargetError) as info:
        load(
            torch_digits.files["safetensors"],
            "safetensors",
            builder=f"{torch_digits.builder_module}:not_a_module",
        )
    assert "returned dict, not an nn.Module" in str(info.value)


def test_builder_that_raises_is_reported(torch_digits, load) -> None:
    with pytest.raises(TargetError) as info:
        load(torch_digits.files["torch"], "torch", builder=f"{torch_digits.builder_module}:explode")
    assert "RuntimeError: builder exploded on purpose" in str(info.value)


def test_builder_that_cannot_be_imported_is_a_config_error(torch_digits, load) -> None:
    with pytest.raises(ConfigError, match="ps_test_no_such_module"):
        load(
            torch_digits.files["safetensors"], "safetensors", builder="ps_test_no_such_module:build"
        )


def test_garbage_safetensors_is_refused(tmp_path: Path, load) -> None:
    path = tmp_path / "garbage.safetensors"
    path.write_bytes(np.random.default_rng(0).bytes(512))
    with pytest.raises(TargetError) as info:
        load(path, "safetensors")
    assert "not a valid safetensors file" in str(info.value)
    assert "garbage.safetensors" in str(info.value)


def test_garbage_torchscript_is_refused(tmp_path: Path, load) -> None:
    path = tmp_path / "garbage.ts"
    path.write_bytes(b"PK\x03\x04" + np.random.default_rng(1).bytes(256))
    with pytest.raises(TargetError, match="not a TorchScript archive"):
        load(path, "torchscript")


def test_input_shape_mismatch_is_a_target_error(digits, loaded) -> None:
    target = loaded("safetensors")
    with pytest.raises(TargetError, match="63 features per row"):
        target.predict_proba(digits.x_test[:3, :63])


def test_missing_model_file_is_a_target_error(tmp_path: Path, load) -> None:
    with pytest.raises(TargetError, match="cannot read"):
        load(tmp_path / "absent.safetensors", "safetensors")


def test_state_dict_saved_with_torch_save_round_trips_bytes(torch_digits) -> None:
    # The .pt in the fixture was written by torch.save (a zip), not by pickle.dump.
    data = torch_digits.files["torch"].read_bytes()
    assert data[:4] == b"PK\x03\x04"
    state = torch.load(io.BytesIO(data), weights_only=True)
    assert set(state) == set(torch_digits.model.state_dict())
