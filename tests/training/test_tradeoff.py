"""The trade-off table: each recipe's row measured on the same data, against what we know each buys."""

from __future__ import annotations

import numpy as np
import pytest

from pipeshield.report.svg import render_plot
from pipeshield.training._common import ModelData
from pipeshield.training.tradeoff import measure_tradeoff, tradeoff_plot, tradeoff_table


def _small_cnn() -> object:
    import torch.nn as nn

    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 64, 10))


@pytest.fixture(scope="module")
def outcomes() -> list:  # type: ignore[type-arg]
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    train, test = order[:1200], order[1200:]
    data = ModelData("digits", x[train], d.target[train].astype(np.int64), x[test], d.target[test].astype(np.int64),
                     np.arange(10), (1, 8, 8), ())
    return measure_tradeoff(_small_cnn, data, eps=0.1, clip=(0.0, 1.0), dp_epsilons=(3.0,), epochs=8, dp_epochs=8,
                            adversarial_steps=5, max_inputs=150, seed=0)


def test_each_recipe_buys_what_it_claims(outcomes: list) -> None:  # type: ignore[type-arg]
    by = {o.recipe: o for o in outcomes}
    assert list(by) == ["plain", "DP-SGD (epsilon 3)", "PGD adversarial"]
    plain, private, robust = by["plain"], by["DP-SGD (epsilon 3)"], by["PGD adversarial"]
    assert plain.clean_accuracy > 0.9
    # adversarial training: clearly more robust at the eps it trained for (8 epochs of a tiny CNN:
    # 0.60 -> 0.73 here; the demo CNN goes 0.41 -> 0.85)
    assert robust.robust_accuracy > plain.robust_accuracy + 0.08
    # DP: the accountant's epsilon is the target, and the noise costs accuracy
    assert private.guarantee["epsilon"] == pytest.approx(3.0, abs=0.05)
    assert private.clean_accuracy < plain.clean_accuracy
    for o in outcomes:
        assert 0.0 <= o.membership_auc <= 1.0 and o.membership_attack in {"loss", "confidence"}


def test_table_and_plot_render(outcomes: list) -> None:  # type: ignore[type-arg]
    table = tradeoff_table(outcomes)
    assert len(table["rows"]) == len(outcomes) and all(len(r) == len(table["columns"]) for r in table["rows"])
    svg = render_plot(tradeoff_plot(outcomes), "trade-off")
    assert svg.startswith("<svg") and "PGD adversarial" in svg and "membership AUC" in svg


def test_needs_test_rows() -> None:
    data = ModelData("m", np.zeros((4, 64), np.float32), np.zeros(4, np.int64), None, None, np.arange(2), None, ())
    with pytest.raises(ValueError, match="test_data"):
        measure_tradeoff(_small_cnn, data, eps=0.1)  # type: ignore[arg-type]


def _real_demo_policy(demo_copy: object) -> object:
    """The demo copy with the demo's own pipeline file (the shared fixture turns these checks off)."""
    from pathlib import Path

    from pipeshield.demo.pipeline_file import PIPELINE_TOML

    path = Path(str(demo_copy))
    path.write_text(PIPELINE_TOML)
    return path


@pytest.mark.parametrize("check_id", ["training.tradeoff", "training.federated"])
def test_check_runs_only_where_asked(demo_copy: object, check_id: str) -> None:
    from pipeshield.core.checks import get_check
    from pipeshield.core.pipeline import load_pipeline

    pipe = load_pipeline(_real_demo_policy(demo_copy))  # type: ignore[arg-type]
    check = get_check(check_id)
    assert check.skip_reason(pipe, "digits_cnn") is None  # the demo opts digits_cnn in
    assert f'[policy.checks."{check_id}"] models' in (check.skip_reason(pipe, "tabular_forest") or "")


def test_bad_settings_name_the_key(demo_copy: object) -> None:
    from pipeshield.core.checks import validate_policy
    from pipeshield.core.pipeline import load_pipeline
    from pipeshield.errors import ConfigError

    path = _real_demo_policy(demo_copy)
    text = path.read_text()  # type: ignore[attr-defined]
    head, table, tail = text.partition('[policy.checks."training.federated"]')
    path.write_text(head + table + tail.replace('models = ["digits_cnn"]', 'models = ["digits_cnn"]\nattacks = ["nope"]', 1))  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="training.federated"):
        validate_policy(load_pipeline(path))  # type: ignore[arg-type]
    # the first digits_cnn opt-in is training.tradeoff's, whose federated settings moved to training.federated
    path.write_text(text.replace('models = ["digits_cnn"]', 'models = ["digits_cnn"]\nfederated = true', 1))  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match=r'training\.tradeoff.*federated'):
        validate_policy(load_pipeline(path))  # type: ignore[arg-type]
