"""Transfer attacks: a surrogate distilled from a scikit-learn target's answers, attacked with the
package's PGD, fools the target far more often than noise of the same size. Success is always
re-checked with the target itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch

from pipeshield.attacks.evasion.transfer import train_surrogate, transfer

EPS = 0.3
CLIP = (0.0, 1.0)


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Tiny networks on a shared CPU: intra-op threads only add contention."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class CountingTarget:
    """A scikit-learn Target that counts the rows it answers."""

    white_box = False

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.classes = inner, "counting", inner.classes
        self.rows = 0

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        self.rows += len(x)
        return np.asarray(self.inner.predict_proba(x))


@pytest.fixture(scope="module")
def digits() -> tuple[Any, np.ndarray, np.ndarray, np.ndarray]:
    """Target trained on one part, attacker's pool another, evaluation a third."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    from pipeshield.core.targets.sklearn import SklearnTarget

    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    clf = LogisticRegression(max_iter=1000).fit(x[:600], y[:600])
    target = SklearnTarget("digits-lr", clf)
    xt, yt = x[1000:1150], y[1000:1150]
    return target, x[600:1000], xt, yt


def _fooled(target: Any, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.asarray(target.classes[target.predict_proba(x).argmax(axis=1)] != y)


def test_transfer_beats_noise_of_the_same_size(digits) -> None:
    target, pool, x, y = digits
    counting = CountingTarget(target)
    sur = train_surrogate(counting, pool, epochs=20, seed=0)
    assert sur.queries == len(pool) == counting.rows  # one query per pool row, once
    res = transfer(sur, target, x, y, eps=EPS, clip=CLIP, steps=20, seed=0)
    # re-checked with the target: the reported success is the truth
    assert np.array_equal(_fooled(target, res.x_adv, y), res.success)
    assert np.abs(res.x_adv - x).max() <= EPS + 1e-6
    assert res.x_adv.min() >= 0.0 and res.x_adv.max() <= 1.0
    rng = np.random.default_rng(0)
    noise = np.clip(x + EPS * rng.choice([-1.0, 1.0], size=x.shape), *CLIP)
    noise_rate = _fooled(target, noise, y).mean()
    # measured: transfer 0.94, surrogate 1.0, sign noise 0.15 (clean error 0.05)
    assert res.success_rate > 0.8
    assert noise_rate < 0.3
    assert res.surrogate_success.mean() > 0.9
    wrong = _fooled(target, x, y)
    assert (res.queries == np.where(wrong, 1, 2)).all()
    assert np.array_equal(res.x_adv[wrong], x[wrong]) and res.success[wrong].all()


def test_labels_only_surrogate_and_fgsm(digits) -> None:
    target, pool, x, y = digits
    sur = train_surrogate(target, pool, labels_only=True, epochs=20, seed=0)
    res = transfer(sur, target, x, y, eps=EPS, attack="fgsm", clip=CLIP)  # fgsm has no seed
    assert np.array_equal(_fooled(target, res.x_adv, y), res.success)
    assert res.success_rate > 0.6  # measured 0.99


def test_cnn_surrogate_on_images(digits) -> None:
    target, pool, x, y = digits
    sur = train_surrogate(target, pool[:300], input_shape=(1, 8, 8), epochs=10, seed=0)
    assert any(isinstance(m, torch.nn.Conv2d) for m in sur.modules())
    img = x[:60].reshape(60, 8, 8)
    res = transfer(sur, target, img, y[:60], eps=EPS, clip=CLIP, input_shape=(1, 8, 8), steps=10)
    assert res.x_adv.shape == img.shape
    assert np.array_equal(_fooled(target, res.x_adv.reshape(60, -1), y[:60]), res.success)
    assert res.success_rate > 0.6  # measured 0.92


def test_per_input_bounds_pin_features(digits) -> None:
    target, pool, x, y = digits
    sur = train_surrogate(target, pool, epochs=10, seed=0)
    lo, hi = np.zeros_like(x), np.ones_like(x)
    lo[:, :32], hi[:, :32] = x[:, :32], x[:, :32]  # each input's own values: immutable
    res = transfer(sur, target, x, y, eps=EPS, clip=(lo, hi), steps=10)
    assert np.array_equal(res.x_adv[:, :32].astype(np.float32), x[:, :32].astype(np.float32))
    assert np.abs(res.x_adv - x).max() <= EPS + 1e-6
    assert np.array_equal(_fooled(target, res.x_adv, y), res.success)
    assert res.success_rate > 0.3


def test_train_surrogate_deterministic_and_leaves_global_rng(digits) -> None:
    target, pool, _, _ = digits
    state = torch.random.get_rng_state()
    a = train_surrogate(target, pool[:200], epochs=3, seed=5)
    b = train_surrogate(target, pool[:200], epochs=3, seed=5)
    assert torch.equal(state, torch.random.get_rng_state())
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)


def test_string_labels(digits) -> None:
    """Label values need not be column indices: the surrogate's columns follow target.classes."""
    target, pool, x, y = digits

    class Named:
        white_box, name = False, "named"
        classes = np.array([f"d{c}" for c in target.classes])

        def predict_proba(self, rows: np.ndarray) -> np.ndarray:
            return np.asarray(target.predict_proba(rows))

    named = Named()
    sur = train_surrogate(named, pool, labels_only=True, epochs=10, seed=0)
    names = np.array([f"d{v}" for v in y[:40]])
    res = transfer(sur, named, x[:40], names, eps=EPS, clip=CLIP, steps=10)
    assert res.success_rate > 0.5
    with pytest.raises(ValueError, match="label 'zz' is not one of the model's classes"):
        transfer(sur, named, x[:2], np.array(["d1", "zz"]), eps=EPS)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"eps": -1.0}, "eps must be"), ({"eps": EPS, "attack": "nope"}, "unknown attack")],
)
def test_refuses_bad_input(digits, kwargs, match) -> None:
    target, pool, x, y = digits
    sur = train_surrogate(target, pool[:50], epochs=1)
    with pytest.raises(ValueError, match=match):
        transfer(sur, target, x[:4], y[:4], **kwargs)
    with pytest.raises(ValueError, match="4 inputs but 3 labels"):
        transfer(sur, target, x[:4], y[:3], eps=EPS)
