"""Layers DP-SGD cannot train (refused, then fixed) and loaders that break the accounting."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset, TensorDataset, WeightedRandomSampler

from pipeshield.errors import ConfigError
from pipeshield.training.dp import (
    PrivacyAccountingWarning,
    check_loader,
    make_private,
    prepare_module,
)

# Opacus' per-sample hooks fire on module outputs when inputs need no gradient: expected.
pytestmark = pytest.mark.filterwarnings("ignore:Full backward hook is firing")


def _bn_model() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(inplace=True),
        torch.nn.Flatten(), torch.nn.Linear(4 * 8 * 8, 3),
    )


def _loader(n: int = 120, **kwargs: object) -> DataLoader[tuple[torch.Tensor, ...]]:
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(n, 1, 8, 8, generator=g), torch.randint(0, 3, (n,), generator=g)
    return DataLoader(TensorDataset(x, y), batch_size=kwargs.pop("batch_size", 16), generator=g, **kwargs)  # type: ignore[arg-type]


def test_batchnorm_refused_naming_the_layer_and_the_fix() -> None:
    with pytest.raises(ConfigError) as info:
        prepare_module(_bn_model())
    assert "1 (BatchNorm2d)" in info.value.message and "BatchNorm" in info.value.message
    assert info.value.hint and "--fix-layers" in info.value.hint and "GroupNorm" in info.value.hint


def test_batchnorm_fixed_to_groupnorm_and_trainable() -> None:
    model = _bn_model()
    private = make_private(model, torch.optim.SGD(model.parameters(), lr=0.1), _loader(), delta=1e-3,
                           noise_multiplier=1.0, fix=True, noise_seed=0)
    trained = private.trained_module
    assert isinstance(list(trained.children())[1], torch.nn.GroupNorm) and not any(
        isinstance(m, torch.nn.BatchNorm2d) for m in trained.modules())
    assert any("BatchNorm2d -> GroupNorm" in c for c in private.layer_changes)
    before = [p.detach().clone() for p in trained.parameters()]
    for x, y in private.data_loader:  # the rebuilt optimizer updates the *fixed* module
        private.optimizer.zero_grad()
        torch.nn.functional.cross_entropy(private.module(x), y).backward()  # type: ignore[no-untyped-call]
        private.optimizer.step()
        break
    assert any(not torch.equal(a, b) for a, b in zip(before, trained.parameters(), strict=True))


def test_inplace_relu_is_relaxed_and_reported() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(inplace=True), torch.nn.Linear(4, 2))
    checked = prepare_module(model)
    relu = model[1]
    assert checked.module is model and isinstance(relu, torch.nn.ReLU) and relu.inplace is False
    assert checked.changes == ("1: ReLU(inplace=True) -> inplace=False",)


def test_weighted_sampler_warns_that_its_weights_are_dropped() -> None:
    base = _loader()
    weighted = DataLoader(base.dataset, batch_size=16, sampler=WeightedRandomSampler([1.0] * 60 + [5.0] * 60, 120))
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))
    with pytest.warns(PrivacyAccountingWarning, match="WeightedRandomSampler.*weights are dropped"):
        private = make_private(model, torch.optim.SGD(model.parameters(), lr=0.1), weighted, delta=1e-3,
                               noise_multiplier=1.0)
    assert any("WeightedRandomSampler" in w for w in private.spent(with_cross_check=False).warnings)


def test_fixed_size_batches_warn_that_epsilon_is_an_estimate() -> None:
    with pytest.warns(PrivacyAccountingWarning, match="not a guarantee"):
        problems = check_loader(_loader(shuffle=True), poisson=False)
    assert problems and "Poisson" in problems[-1]


def test_plain_shuffled_loader_is_fine() -> None:
    assert check_loader(_loader(shuffle=True)) == []


class _Stream(IterableDataset[tuple[torch.Tensor, torch.Tensor]]):
    def __iter__(self):  # type: ignore[no-untyped-def]
        yield torch.zeros(4), torch.tensor(0)


def test_iterable_dataset_cannot_be_made_private() -> None:
    with pytest.raises(ConfigError, match="IterableDataset.*cannot be made private"):
        check_loader(DataLoader(_Stream(), batch_size=2))


def test_delta_not_below_one_over_n_refused() -> None:
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))
    with pytest.raises(ConfigError, match="delta"):
        make_private(model, torch.optim.SGD(model.parameters(), lr=0.1), _loader(), delta=0.01, noise_multiplier=1.0)


def test_whole_dataset_batch_refused() -> None:
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))
    with pytest.raises(ConfigError, match="sample rate is 1"):
        make_private(model, torch.optim.SGD(model.parameters(), lr=0.1), _loader(batch_size=500), delta=1e-3,
                     noise_multiplier=1.0)
