"""One torch intra-op thread while a small network trains or is attacked, restored afterwards.

Two reasons, both measured: on a busy CPU, intra-op thread synchronisation costs far more than a
network this small computes (0.06 s vs 16 s for 160 PGD steps on 2 shared cores; 2.3 s vs 13.8 s
for 10 epochs of 1,200 digits), and floating-point sums split across threads round differently,
so a seeded model trained on 2 threads is not the model trained on 1: a result that should be
reproducible (the demo's models, a client's update) would depend on the machine's core count.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["one_torch_thread"]


@contextmanager
def one_torch_thread() -> Iterator[None]:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
