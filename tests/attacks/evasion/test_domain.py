"""The data domain: bounds, frozen and integer features stay legal after an attack."""

from __future__ import annotations

import numpy as np
import pytest

from pipeshield.attacks.evasion.domain import Domain
from pipeshield.core.pipeline import DomainSpec
from pipeshield.errors import DatasetError

NAMES = ("age", "income", "country", "score")


def _domain() -> Domain:
    spec = DomainSpec(
        clip=(0.0, 100.0), bounds={"age": (17.0, 90.0)}, integer=["age"], categorical=["country"]
    )
    return Domain.from_spec(spec, NAMES, "datasets.t.domain")


def test_spec_maps_names_to_bounds_and_masks() -> None:
    d = _domain()
    assert d.lo.tolist() == [17.0, 0.0, 0.0, 0.0] and d.hi.tolist() == [90.0, 100.0, 100.0, 100.0]
    assert d.integer.tolist() == [True, False, False, False]
    assert d.frozen.tolist() == [False, False, True, False]
    assert not d.is_box and d.scalar_clip() is None
    assert "1 integer" in d.describe() and "1 categorical/immutable" in d.describe()


def test_unknown_feature_is_named() -> None:
    with pytest.raises(DatasetError, match=r"datasets\.t\.domain\.integer: no feature named 'agee'"):
        Domain.from_spec(DomainSpec(integer=["agee"]), NAMES, "datasets.t.domain")


def test_reversed_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="bounds.age: lower bound 90.0 is above upper bound 17.0"):
        DomainSpec(bounds={"age": (90.0, 17.0)})


def test_clip_for_pins_frozen_features_to_each_input() -> None:
    d = _domain()
    x = np.array([[30.0, 50.0, 3.0, 10.0], [40.0, 60.0, 7.0, 20.0]])
    lo, hi = d.clip_for(x)
    assert lo[:, 2].tolist() == [3.0, 7.0] and hi[:, 2].tolist() == [3.0, 7.0]
    assert lo[:, 0].tolist() == [17.0, 17.0] and hi[:, 1].tolist() == [100.0, 100.0]


def test_finalize_linf_keeps_integers_inside_the_ball() -> None:
    d = _domain()
    x = np.array([[30.0, 50.0, 3.0, 10.0]] * 3)
    adv = np.array(
        [
            [30.6, 50.4, 3.4, 10.4],  # eps 0.6 allows 31 (|31-30| = 1 > 0.6): back to 30
            [31.4, 51.0, 2.0, 11.0],
            [16.2, 49.0, 3.0, 9.0],
        ]
    )
    out = d.finalize(x, adv, "linf", 0.6)
    assert out[0].tolist() == [30.0, 50.4, 3.0, 10.4]
    out = d.finalize(x, adv, "linf", 1.5)
    assert out[1].tolist() == [31.0, 51.0, 3.0, 11.0]  # 31.4 -> 31 (nearest, in the ball)
    assert d.finalize(x, adv, "linf", 15.0)[2, 0] == 17.0  # 16.2 -> 16 -> the bound, 17
    assert np.all(np.abs(out - x).max(axis=1) <= 1.5 + 1e-9)


def test_finalize_l2_resets_integers_when_rounding_leaves_the_ball() -> None:
    d = _domain()
    x = np.array([[30.0, 50.0, 3.0, 10.0]])
    adv = np.array([[30.6, 50.0, 3.0, 10.3]])  # norm 0.67; rounding age to 31 gives norm 1.04
    out = d.finalize(x, adv, "l2", 0.7)
    assert out[0].tolist() == [30.0, 50.0, 3.0, 10.3]
    out = d.finalize(x, adv, "l2", 1.1)
    assert out[0].tolist() == [31.0, 50.0, 3.0, 10.3]


def test_check_names_the_row_and_feature_out_of_domain() -> None:
    d = _domain()
    good = np.array([[30.0, 50.0, 3.0, 10.0]])
    d.check(good, "datasets.t")
    with pytest.raises(DatasetError, match=r"row 1, feature 'age' is 95, outside .*\[17, 90\]"):
        d.check(np.vstack([good, [[95.0, 50.0, 3.0, 10.0]]]), "datasets.t")
    with pytest.raises(DatasetError, match=r"row 0, feature 'age' is 30.5, but the domain declares it integer"):
        d.check(np.array([[30.5, 50.0, 3.0, 10.0]]), "datasets.t")


def test_images_keep_their_shape() -> None:
    d = Domain.box(64, (0.0, 1.0))
    x = np.full((2, 1, 8, 8), 0.5)
    lo, hi = d.clip_for(x)
    assert lo.shape == x.shape and float(hi.max()) == 1.0
    assert d.finalize(x, x + 2.0, "linf", 3.0).max() == 1.0
    assert d.scalar_clip() == (0.0, 1.0) and d.is_box
