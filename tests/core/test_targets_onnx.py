"""ONNX targets: a scikit-learn model converted by skl2onnx and the torch CNN exported by torch.

Ground truth is the source model's own probabilities (softmax of the CNN's logits).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
skl2onnx = pytest.importorskip("skl2onnx")

from skl2onnx.common.data_types import FloatTensorType
from sklearn.linear_model import LogisticRegression

from pipeshield.core.targets import load_target
from pipeshield.errors import TargetError

IRIS_NAMES = np.array(["setosa", "versicolor", "virginica"])


@pytest.fixture
def load_onnx(tmp_path: Path, make_pipeline):
    def _load(data: bytes, **extra: object):
        (tmp_path / "model.onnx").write_bytes(data)
        pipeline = make_pipeline(tmp_path, models={"m": {"path": "model.onnx", **extra}})
        return load_target(pipeline, "m")

    return _load


def _convert(est, **kwargs) -> bytes:
    onx = skl2onnx.convert_sklearn(est, initial_types=[("x", FloatTensorType([None, 4]))], **kwargs)
    return onx.SerializeToString()


@pytest.mark.parametrize("zipmap", [True, False], ids=["zipmap", "no-zipmap"])
def test_sklearn_logistic_regression(iris, load_onnx, zipmap: bool) -> None:
    est = LogisticRegression(max_iter=1000).fit(iris.x_train, iris.y_train)
    options = {} if zipmap else {"options": {id(est): {"zipmap": False}}}

    target = load_onnx(_convert(est, **options))
    proba = target.predict_proba(iris.x_test)

    np.testing.assert_allclose(proba, est.predict_proba(iris.x_test), atol=1e-5)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(target.classes, [0, 1, 2])
    assert target.outputs_logits is False
    assert target.white_box is False


def test_sklearn_string_labels_through_zipmap(iris, load_onnx) -> None:
    est = LogisticRegression(max_iter=1000).fit(iris.x_train, IRIS_NAMES[iris.y_train])

    target = load_onnx(_convert(est))
    proba = target.predict_proba(iris.x_test)

    np.testing.assert_array_equal(target.classes, est.classes_)
    np.testing.assert_allclose(proba, est.predict_proba(iris.x_test), atol=1e-5)


def test_batches_larger_than_one_chunk(iris, load_onnx) -> None:
    est = LogisticRegression(max_iter=1000).fit(iris.x_train, iris.y_train)
    x = np.random.default_rng(0).normal(iris.x_train.mean(0), iris.x_train.std(0), size=(2500, 4))

    proba = load_onnx(_convert(est, options={id(est): {"zipmap": False}})).predict_proba(x)

    assert proba.shape == (2500, 3)
    np.testing.assert_allclose(proba, est.predict_proba(x.astype(np.float32)), atol=1e-5)


def test_torch_cnn_exported_to_onnx_answers_softmax_of_logits(
    torch_digits, digits, load_onnx, tmp_path: Path
) -> None:
    torch = pytest.importorskip("torch")
    path = tmp_path / "cnn.onnx"
    example = (torch.from_numpy(digits.x_test[:2].reshape(-1, 1, 8, 8)),)
    kwargs = {
        "input_names": ["x"],
        "output_names": ["logits"],
        "dynamic_axes": {"x": {0: "n"}, "logits": {0: "n"}},
    }
    errors = []
    for extra in ({}, {"dynamo": False}):  # the default (dynamo) exporter needs onnxscript
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(torch_digits.model, example, str(path), **kwargs, **extra)
            break
        except Exception as err:  # noqa: BLE001 - each failure becomes the skip reason
            errors.append(f"{extra or 'default'}: {type(err).__name__}: {err}")
    else:
        pytest.skip(f"torch {torch.__version__} cannot export to ONNX here: {' | '.join(errors)}")

    target = load_onnx(path.read_bytes(), input_shape=[1, 8, 8])
    proba = target.predict_proba(digits.x_test)

    with torch.no_grad():
        logits = torch_digits.model(torch.from_numpy(digits.x_test.reshape(-1, 1, 8, 8)))
    np.testing.assert_allclose(proba, torch.softmax(logits, dim=1).numpy(), atol=1e-5)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    assert target.outputs_logits is True
    assert (proba.argmax(axis=1) == digits.y_test).mean() > 0.9


def test_garbage_onnx_is_refused(load_onnx) -> None:
    with pytest.raises(TargetError) as info:
        load_onnx(b"\x08\x07" + np.random.default_rng(0).bytes(400))
    assert "onnxruntime cannot load it" in str(info.value)
    assert "model.onnx" in str(info.value) and "models.m" in str(info.value)
