"""Reference (shadow) models: trained with the user's own recipe on random halves of the data.

The standard LiRA setup (Carlini et al. 2022): the attacker pools every record it asks about
(members, non-members and any population data) and trains ``n`` reference models, each on a random
half of the pool, chosen so that *every record is IN for exactly ``n // 2`` models* and OUT for
the rest. A record's IN models show how a model that trained on it scores it; its OUT models show
the score of a model that did not.

The training is the cost, so the models are fanned out through the executor
(:mod:`pipeshield.core.executor`). Each worker trains one model, scores the whole pool and sends
back its probabilities on the pool, not the model. Everything is a function of ``seed``: the IN/OUT split,
each model's seed (passed to ``train_fn`` or set as ``random_state`` on a cloned estimator whose
``random_state`` is unset), and so the scores.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pipeshield.attacks.membership._predict import is_torch_module, predict_probabilities
from pipeshield.core.executor import Executor, SerialExecutor, get_executor

__all__ = ["Recipe", "RecipeError", "keep_mask", "model_seeds", "reference_probabilities", "resolve_recipe"]

# Below this many models the worker start-up (a fresh interpreter importing scikit-learn or
# torch, ~1-2 s) costs more than it saves on small models; train them in this process.
PARALLEL_FROM = 8

TrainFn = Callable[..., Any]


def _is_sklearn_estimator(obj: Any) -> bool:
    return hasattr(obj, "fit") and hasattr(obj, "get_params") and not is_torch_module(obj)


@dataclass(frozen=True)
class Recipe:
    """How to train one reference model: ``train_fn(x, y, seed=...)`` or a cloned estimator."""

    train_fn: TrainFn | None = None
    template: Any = None

    def fit(self, x: NDArray[Any], y: NDArray[Any], seed: int) -> Any:
        if self.train_fn is not None:
            return self.train_fn(x, y, seed=seed)
        from sklearn.base import clone

        est = clone(self.template)
        unset = {k: seed for k, v in est.get_params(deep=True).items() if k.endswith("random_state") and v is None}
        if unset:
            est.set_params(**unset)
        return est.fit(x, y)


class RecipeError(ValueError):
    """No usable training recipe: a configuration problem (the pipeline's ``training``), not a
    data problem. A ValueError, so the library's callers see the documented type."""


def resolve_recipe(model: Any, train_fn: TrainFn | None, template: Any) -> Recipe:
    """The user's recipe, in order: ``train_fn``, a scikit-learn ``template``, the model itself.

    Raises :class:`RecipeError` when none is usable."""
    if train_fn is not None:
        if not callable(train_fn):
            raise RecipeError("train_fn must be a callable train_fn(x, y, *, seed) -> model")
        return Recipe(train_fn=train_fn)
    if template is not None:
        if not _is_sklearn_estimator(template):
            raise RecipeError(f"template must be a scikit-learn estimator (with fit and get_params), got {type(template).__name__}")
        return Recipe(template=template)
    if is_torch_module(model):
        raise RecipeError(
            "a torch model needs train_fn(x, y, *, seed) -> model to train reference models "
            "with the same recipe"
        )
    if _is_sklearn_estimator(model):
        return Recipe(template=model)
    raise RecipeError(
        f"a black-box {type(model).__name__} cannot be cloned: pass train_fn(x, y, *, seed) -> model "
        "or template=<an unfitted scikit-learn estimator of the same family>"
    )


def keep_mask(n_reference: int, n_records: int, seed: int) -> NDArray[np.bool_]:
    """``(n_reference, n_records)``: which model trains on which record.

    Each record gets its own random order of the models and is IN for the first
    ``n_reference // 2`` of them, so IN/OUT counts are equal for every record (an odd ``n`` has one
    more OUT model, which the offline attacks use) and each model sees about half the pool.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x4D4941]))  # "MIA": split stream
    rank = np.argsort(np.argsort(rng.random((n_reference, n_records)), axis=0), axis=0)
    keep: NDArray[np.bool_] = rank < n_reference // 2
    return keep


def model_seeds(n_reference: int, seed: int) -> list[int]:
    """One independent 31-bit seed per reference model (fits every library's seed type)."""
    children = np.random.SeedSequence([seed, 0x524546]).spawn(n_reference)  # "REF": model stream
    return [int(c.generate_state(1)[0] & 0x7FFFFFFF) for c in children]


@dataclass(frozen=True)
class _Job:
    index: int
    seed: int
    recipe: Recipe
    x_train: NDArray[Any]
    y_train: NDArray[Any]
    x_query: NDArray[Any]
    classes: NDArray[Any]


def _run_job(job: _Job) -> NDArray[np.float64]:
    """Train one reference model and return its probabilities on the queried rows (in a worker)."""
    model = job.recipe.fit(job.x_train, job.y_train, job.seed)
    return predict_probabilities(model, job.x_query, job.classes)


def reference_probabilities(
    recipe: Recipe,
    x_pool: NDArray[Any],
    y_pool: NDArray[Any],
    classes: NDArray[Any],
    keep: NDArray[np.bool_],
    seeds: list[int],
    executor: str | Executor | None = None,
    jobs: int | None = None,
    query: NDArray[Any] | None = None,
) -> NDArray[np.float64]:
    """``(n_reference, n_query, n_classes)``: every reference model's answers on ``query`` (default:
    the whole pool), at full precision and in the order of ``classes`` (an output policy can then
    be applied to them). Model ``i`` trains on the pool rows where ``keep[i]`` is True."""
    n_ref = len(keep)
    asked = x_pool if query is None else query
    work = [_Job(i, seeds[i], recipe, x_pool[keep[i]], y_pool[keep[i]], asked, classes) for i in range(n_ref)]
    if executor is None:
        executor = "local" if n_ref >= PARALLEL_FROM else "serial"
    runner = get_executor(executor, jobs) if isinstance(executor, str) else executor
    out = np.empty((n_ref, len(asked), len(classes)), dtype=np.float64)
    retry: list[_Job] = []
    for job, result in runner.map_unordered(_run_job, work):
        if isinstance(result, BaseException):
            retry.append(job)
        else:
            out[job.index] = result
    if retry:
        # A worker died or the recipe could not be sent (a lambda or a local function cannot
        # cross a process boundary): train those models here. A genuine training error raises.
        for job, result in SerialExecutor().map_unordered(_run_job, sorted(retry, key=lambda j: j.index)):
            out[job.index] = result  # type: ignore[assignment]
        warnings.warn(
            f"{len(retry)} of {n_ref} reference models could not run in worker processes and were "
            "trained in this process (a train_fn defined at module level can be sent to workers)",
            RuntimeWarning,
            stacklevel=3,
        )
    return out
