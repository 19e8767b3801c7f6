"""Data splits and the malicious clients' ground truth, without training."""

from __future__ import annotations

import numpy as np
import pytest

from pipeshield.attacks.triggers import PatchTrigger
from pipeshield.errors import ConfigError
from pipeshield.training.federated.malicious import AttackKind, attack_success, plan_attack
from pipeshield.training.federated.partitions import partition

Y = np.repeat(np.arange(10), 30)
X = np.zeros((len(Y), 1, 8, 8), dtype=np.float32)


def test_iid_split_is_disjoint_covering_and_seeded() -> None:
    parts = partition(Y, 7, seed=3)
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(Y)))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert all(np.array_equal(a, b) for a, b in zip(parts, partition(Y, 7, seed=3)))


def test_dirichlet_skews_labels_more_for_small_alpha() -> None:
    def skew(alpha: float) -> float:
        parts = partition(Y, 5, scheme="dirichlet", alpha=alpha, seed=0)
        assert sorted(np.concatenate(parts).tolist()) == list(range(len(Y)))
        return float(np.mean([np.bincount(Y[p], minlength=10).max() / len(p) for p in parts]))

    assert skew(0.1) > skew(100.0) + 0.2


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"clients": 200}, "cannot give 200 clients"), ({"scheme": "shards"}, "--partition"),
    ({"scheme": "dirichlet", "alpha": 0}, "--alpha"),
])
def test_partition_errors(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"clients": 5, **kwargs}
    with pytest.raises(ConfigError, match=message):
        partition(Y, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize("fraction", [0.5, 0.7, -0.1])
def test_half_or_more_malicious_is_refused(fraction: float) -> None:
    with pytest.raises(ConfigError, match=r"--malicious: the malicious fraction must be in \[0, 0.5\)"):
        plan_attack(clients=10, malicious=fraction, attack="scaled", n_classes=10, x=X)


def test_malicious_clients_are_seeded_and_counted() -> None:
    plan = plan_attack(clients=10, malicious=0.2, attack="scaled", n_classes=10, x=X, seed=4)
    assert len(plan.malicious) == 2 and plan.boost == 10.0 and plan.kind is AttackKind.SCALED
    assert plan == plan_attack(clients=10, malicious=0.2, attack="scaled", n_classes=10, x=X, seed=4)
    with pytest.raises(ConfigError, match="is no client"):
        plan_attack(clients=4, malicious=0.1, attack="scaled", n_classes=10, x=X)
    assert plan_attack(clients=10, malicious=0.0, attack="scaled", n_classes=10, x=X).kind is None


def test_backdoor_plants_the_trigger_with_the_target_label() -> None:
    plan = plan_attack(clients=10, malicious=0.2, attack="backdoor", n_classes=10, x=X, malicious_clients=(3, 8),
                       target=7, poison_rate=0.5)
    assert plan.boost == 3.0  # a stealthy boost; clients / malicious would be full model replacement
    assert isinstance(plan.trigger, PatchTrigger) and plan.trigger.image_shape == (1, 8, 8)
    x, y = X[:40], Y[:40]
    px, py = plan.poison_data(3, x, y, seed=0)
    changed = np.flatnonzero(py != y)
    assert len(changed) == 20 and np.all(py[changed] == 7)
    assert np.all(px[changed][:, 0, 6:, 6:] == plan.trigger.value)
    hx, hy = plan.poison_data(0, x, y, seed=0)  # an honest client's data is untouched
    assert hx is x and hy is y


def test_label_flip_and_its_success_measure() -> None:
    plan = plan_attack(clients=10, malicious=0.2, attack="label-flip", n_classes=10, x=X, malicious_clients=(1, 2))
    _, flipped = plan.poison_data(1, X[:20], Y[:20], seed=0)
    assert np.array_equal(flipped, 9 - Y[:20])
    assert attack_success(plan, lambda rows: 9 - Y[: len(rows)], X[:20], Y[:20]) == 1.0
    assert attack_success(plan, lambda rows: Y[: len(rows)], X[:20], Y[:20]) == 0.0


def test_backdoor_success_counts_only_non_target_rows() -> None:
    plan = plan_attack(clients=10, malicious=0.2, attack="backdoor", n_classes=10, x=X, target=0)
    always_target = attack_success(plan, lambda rows: np.zeros(len(rows), dtype=int), X, Y)
    assert always_target == 1.0
    assert attack_success(plan, lambda rows: np.ones(len(rows), dtype=int), X, Y) == 0.0
