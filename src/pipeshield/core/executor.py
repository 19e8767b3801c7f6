"""Executors: how independent work (one check on one subject) is fanned out.

The audit hands an executor a function and a list of work items and reads results back as they
finish; it never knows where they ran. ``serial`` runs in this process, ``local`` in a pool of
worker processes. A cluster executor (Ray) registers itself under another name with
:func:`register_executor`; no check changes.

Workers start with ``forkserver`` (never a bare ``fork`` of a process that runs a progress
thread), ignore Ctrl-C (the parent stops them), and cap torch/BLAS threads at
``cores // workers`` so parallel workers don't oversubscribe.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol, TypeVar

from pipeshield.errors import ConfigError

__all__ = ["Executor", "LocalExecutor", "SerialExecutor", "get_executor", "in_worker", "nested_executor", "register_executor"]

T = TypeVar("T")
R = TypeVar("R")

# Set in every worker process; what tells a check it already runs inside a pool.
_WORKER_ENV = "PIPESHIELD_WORKER"


class Executor(Protocol):
    """Runs ``fn(item)`` for each item and yields ``(item, result)`` in completion order.

    ``result`` is an exception when the item could not run at all (a worker process died, e.g.
    killed by the out-of-memory killer); ``fn`` itself is expected to catch its own errors.
    """

    name: str
    jobs: int

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[T, R | BaseException]]: ...


class SerialExecutor:
    """Everything in this process, in order: for debugging and for tiny pipelines."""

    name = "serial"

    def __init__(self, jobs: int = 1) -> None:
        self.jobs = 1

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[T, R | BaseException]]:
        for item in items:
            yield item, fn(item)


def _init_worker(threads: int) -> None:
    # Ctrl-C goes to the whole process group: only the parent handles it (and stops the pool),
    # so workers neither print tracebacks nor finish their item first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    os.environ[_WORKER_ENV] = "1"


class LocalExecutor:
    """A pool of local worker processes (default: one per core)."""

    name = "local"

    def __init__(self, jobs: int | None = None) -> None:
        self.jobs = max(1, jobs or os.cpu_count() or 1)

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[T, R | BaseException]]:
        items = list(items)
        if not items:
            return
        if self.jobs == 1 or len(items) == 1:
            yield from SerialExecutor().map_unordered(fn, items)
            return
        workers = min(self.jobs, len(items))
        threads = max(1, (os.cpu_count() or 1) // workers)
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("forkserver"),
            initializer=_init_worker,
            initargs=(threads,),
        )
        futures: dict[Future[R], T] = {pool.submit(fn, item): item for item in items}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    try:
                        result = fut.result()
                    except (BrokenProcessPool, Exception) as err:  # died, or could not be sent
                        yield futures[fut], err
                    else:
                        yield futures[fut], result
        finally:
            # On Ctrl-C or an abort, do not wait for running items: stop the workers now.
            procs = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            if pending:  # stopped early: do not let running items finish in the background
                for proc in procs:
                    if proc.is_alive():
                        proc.terminate()


_EXECUTORS: dict[str, Callable[..., Any]] = {"local": LocalExecutor, "serial": SerialExecutor}


def register_executor(name: str, factory: Callable[..., Executor]) -> None:
    """Make ``--executor NAME`` available (e.g. a Ray executor in its own module)."""
    _EXECUTORS[name] = factory


def get_executor(name: str = "local", jobs: int | None = None) -> Executor:
    if name not in _EXECUTORS:
        raise ConfigError(f"--executor: unknown executor {name!r} (known: {', '.join(_EXECUTORS)})")
    executor: Executor = _EXECUTORS[name](jobs)
    return executor


def in_worker() -> bool:
    """True inside a worker process of :class:`LocalExecutor` (an audit worker)."""
    return os.environ.get(_WORKER_ENV) == "1"


def nested_executor() -> str | None:
    """The executor for work a check fans out itself: ``serial`` inside an audit worker (a pool
    inside a pool would oversubscribe the cores each worker was given), else None (the caller's
    default)."""
    return "serial" if in_worker() else None
