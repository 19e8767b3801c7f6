"""Executors: how independent work (one check on one subject) is fanned out.

The audit hands an executor a function and a list of work items and reads results back as they
finish; it never knows where they ran. ``serial`` runs in this process, ``local`` in a pool of
worker processes. A cluster executor (Ray) registers itself under another name with
:func:`register_executor`; no check changes.

Workers start with ``forkserver`` (never a bare ``fork`` of a process that runs a progress
thread) and cap torch/BLAS threads at ``cores // jobs`` so parallel workers don't oversubscribe.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol, TypeVar

from pipeshield.errors import ConfigError

__all__ = ["Executor", "LocalExecutor", "SerialExecutor", "get_executor", "register_executor"]

T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    """Runs ``fn(item)`` for each item and yields results in completion order."""

    name: str
    jobs: int

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]: ...


class SerialExecutor:
    """Everything in this process, in order: for debugging and for tiny pipelines."""

    name = "serial"

    def __init__(self, jobs: int = 1) -> None:
        self.jobs = 1

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        for item in items:
            yield fn(item)


def _limit_threads(threads: int) -> None:
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    os.environ["PIPESHIELD_WORKER"] = "1"


class LocalExecutor:
    """A pool of local worker processes (default: one per core)."""

    name = "local"

    def __init__(self, jobs: int | None = None) -> None:
        cores = os.cpu_count() or 1
        self.jobs = max(1, jobs or cores)
        self._threads = max(1, cores // self.jobs)

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        items = list(items)
        if not items:
            return
        if self.jobs == 1 or len(items) == 1:
            yield from SerialExecutor().map_unordered(fn, items)
            return
        ctx = multiprocessing.get_context("forkserver")
        with ProcessPoolExecutor(
            max_workers=min(self.jobs, len(items)),
            mp_context=ctx,
            initializer=_limit_threads,
            initargs=(self._threads,),
        ) as pool:
            pending: set[Future[R]] = {pool.submit(fn, item) for item in items}
            try:
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        yield fut.result()
            finally:
                for fut in pending:
                    fut.cancel()


_EXECUTORS: dict[str, Callable[..., Any]] = {"local": LocalExecutor, "serial": SerialExecutor}


def register_executor(name: str, factory: Callable[..., Executor]) -> None:
    """Make ``--executor NAME`` available (e.g. a Ray executor in its own module)."""
    _EXECUTORS[name] = factory


def get_executor(name: str = "local", jobs: int | None = None) -> Executor:
    if name not in _EXECUTORS:
        raise ConfigError(f"--executor: unknown executor {name!r} (known: {', '.join(_EXECUTORS)})")
    executor: Executor = _EXECUTORS[name](jobs)
    return executor
