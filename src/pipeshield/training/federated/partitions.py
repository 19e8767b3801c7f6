"""Splitting one dataset among simulated clients: IID, or label-skewed by a Dirichlet draw.

With ``scheme="dirichlet"`` each class is divided among the clients in proportions drawn from
Dir(alpha) (Hsu et al. 2019): small ``alpha`` (0.1) gives each client a few classes, large alpha
(100) approaches IID. Seeded, and every client gets at least ``min_size`` rows (redrawn otherwise).

    >>> parts = partition(np.arange(100) % 10, 4, seed=0)
    >>> sorted(np.concatenate(parts).tolist()) == list(range(100))
    True
"""

from __future__ import annotations

import numpy as np

from pipeshield.errors import ConfigError

__all__ = ["SCHEMES", "partition"]

SCHEMES = ("iid", "dirichlet")


def partition(
    y: np.ndarray, clients: int, *, scheme: str = "iid", alpha: float = 0.5, seed: int = 0, min_size: int = 2,
) -> list[np.ndarray]:
    """Row indices of each client's share of ``y`` (disjoint, covering every row)."""
    n = len(y)
    if scheme not in SCHEMES:
        raise ConfigError(f"--partition: {scheme!r} is not one of {', '.join(SCHEMES)}")
    if clients < 1:
        raise ConfigError(f"--clients: must be at least 1 (got {clients})")
    if n < clients * min_size:
        raise ConfigError(f"--clients: {n} training rows cannot give {clients} clients {min_size} rows each; "
                          f"use at most {n // min_size} clients")
    rng = np.random.default_rng(seed)
    if scheme == "iid":
        return [np.sort(p) for p in np.array_split(rng.permutation(n), clients)]
    if not alpha > 0:
        raise ConfigError(f"--alpha: the Dirichlet concentration must be > 0 (got {alpha})")
    for _ in range(100):
        shares: list[list[int]] = [[] for _ in range(clients)]
        for c in np.unique(y):
            rows = rng.permutation(np.flatnonzero(y == c))
            cuts = (np.cumsum(rng.dirichlet(np.full(clients, alpha))) * len(rows)).astype(int)[:-1]
            for i, part in enumerate(np.split(rows, cuts)):
                shares[i].extend(part.tolist())
        if min(len(s) for s in shares) >= min_size:
            return [np.sort(np.asarray(s, dtype=np.int64)) for s in shares]
    raise ConfigError(f"--alpha: a Dirichlet({alpha}) split leaves some of the {clients} clients with fewer than "
                      f"{min_size} rows; raise --alpha or use fewer clients")
