"""Data loaders and the accounting's assumption: every record is in each batch with probability q.

The epsilon of DP-SGD is computed for *Poisson* sampling (each record joins each batch
independently with probability ``q``). Opacus replaces the loader's sampler to get it, which
silently drops anything the user's sampler did (class weights, a custom batch sampler); and with
``poisson=False`` the fixed-size shuffled batches do not match the accounting at all. These
checks say so, loudly, before training (:class:`PrivacyAccountingWarning`); a loader that cannot
be made private (an ``IterableDataset``, an empty dataset) is refused.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from pipeshield.errors import ConfigError

if TYPE_CHECKING:
    from torch.utils.data import DataLoader

__all__ = ["PrivacyAccountingWarning", "check_loader"]


class PrivacyAccountingWarning(UserWarning):
    """A setting under which the reported epsilon may not describe the training that ran."""


def check_loader(loader: DataLoader[object], *, poisson: bool = True, warn: bool = True) -> list[str]:
    """Problems of ``loader`` for DP accounting (each also warned when ``warn``); raises
    ConfigError when it cannot be made private at all."""
    from opacus.data_loader import DPDataLoader
    from torch.utils.data import (
        IterableDataset,
        RandomSampler,
        SequentialSampler,
        WeightedRandomSampler,
    )

    if isinstance(loader.dataset, IterableDataset):
        raise ConfigError(
            "data loader: its dataset is an IterableDataset, which cannot be made private: Poisson sampling "
            "draws each record by index with probability q",
            hint="use a map-style dataset (one with __len__ and __getitem__, e.g. a TensorDataset)",
        )
    n = len(loader.dataset)  # type: ignore[arg-type]
    if n == 0:
        raise ConfigError("data loader: the dataset is empty; there is nothing to train on")
    if isinstance(loader, DPDataLoader):
        return []
    problems: list[str] = []
    sampler = loader.sampler
    if isinstance(sampler, WeightedRandomSampler):
        problems.append(
            "data loader: WeightedRandomSampler -- " + (
                "Poisson sampling replaces it, so its weights are dropped (every record gets the same q); "
                "balance classes with a weighted loss instead" if poisson else
                "it draws records with replacement by weight, so a record's chance of being in a batch is not "
                "q and the reported epsilon does not hold for it")
        )
    elif loader.batch_size is None:
        problems.append(
            "data loader: a custom batch_sampler -- " + (
                "Poisson sampling replaces it (its batching is dropped; q = 1 / number of its batches)" if poisson
                else "its batches are not Poisson samples, so the reported epsilon does not hold for them")
        )
    elif not isinstance(sampler, (RandomSampler, SequentialSampler)):
        problems.append(f"data loader: sampler {type(sampler).__name__} is replaced by Poisson sampling" if poisson
                        else f"data loader: sampler {type(sampler).__name__} is not Poisson sampling; the epsilon "
                        "does not hold for it")
    if not poisson:
        problems.append(
            "data loader: fixed-size shuffled batches (poisson=False) -- the accountants assume Poisson sampling, "
            "so the reported epsilon is an estimate, not a guarantee; keep poisson=True for a guarantee"
        )
    if warn:
        for p in problems:
            warnings.warn(p, PrivacyAccountingWarning, stacklevel=3)
    return problems
