"""The membership attacks: each turns the target's and the reference models' outputs into one
score per record (higher = "more likely a member").

Attacks register themselves in :data:`ATTACKS` with :func:`register`; :func:`evaluate` runs them
all on one set of :class:`Signals`, so the expensive part (training reference models) is done
once. Writing a new attack is one decorated function of ``Signals -> scores``.

The attacks, by what they need:

- no reference model: ``loss`` (Yeom et al. 2018: the target's cross-entropy on the record,
  negated), ``confidence`` (the top-class probability, whatever the label; Salem et al. 2019) and
  ``correctness`` (1 when the model predicts the record's label; its AUC is exactly
  ``0.5 + (train_acc - test_acc) / 2``).
- LiRA (Carlini et al. 2022) on the logit-scaled confidence
  ``phi = log p_y - log sum_{y' != y} p_y'``: fit Gaussians to ``phi`` of the record under its IN
  and OUT reference models; ``lira`` (online) scores ``log N(phi; mu_in, s_in) -
  log N(phi; mu_out, s_out)``; ``lira_offline`` uses the OUT models only, with the one-sided test
  ``Pr[Z < phi]``, ``Z ~ N(mu_out, s_out)``, scored by its z-score ``(phi - mu_out) / s_out``
  (the same ranking, without the probability rounding to 1.0 for the most exposed records). ``*_fixed_variance`` replaces each record's
  standard deviation by one global value (the pooled within-record variance, one for IN and one
  for OUT), which the paper recommends below ~64 reference models.
- RMIA (Zarifzadeh et al. 2024): ``ratio(x) = Pr(x | theta) / Pr(x)`` with ``Pr(.|theta) = p_y``
  and ``Pr(x)`` the mean of ``p_y`` over reference models; the score is the fraction of population
  records ``z`` with ``ratio(x) / ratio(z) > gamma``. ``rmia`` averages all reference models
  (IN and OUT); ``rmia_offline`` only the OUT ones and corrects for the missing IN half with
  ``Pr(x) = ((1 + a) Pr_OUT(x) + (1 - a)) / 2`` (the paper's offline approximation; ``a`` is
  dataset-dependent, 0.3 by default -- tune it on reference models for a real audit).

A standard deviation is floored at 1e-3 (in logit units): a forest's quantised probabilities often
make every reference model agree exactly, and a zero-width Gaussian has no density.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats

__all__ = ["ATTACKS", "AttackSpec", "Signals", "register"]

_MIN_STD = 1e-3
_P_FLOOR = 1e-18

Scores = NDArray[np.float64]


@dataclass(frozen=True)
class Signals:
    """What the attacks read. Arrays cover the pool: the ``n_targets`` records being judged
    (members then non-members) first, then any extra population records.

    ``ref_*`` and ``keep`` are ``(n_reference, n_pool)``; ``keep[m, i]`` says model ``m`` trained
    on record ``i``. ``z_index`` picks RMIA's population records out of the pool.
    """

    target_p: NDArray[np.float64]
    target_phi: NDArray[np.float64]
    target_max: NDArray[np.float64]
    target_correct: NDArray[np.bool_]
    ref_p: NDArray[np.float64]
    ref_phi: NDArray[np.float64]
    keep: NDArray[np.bool_]
    n_targets: int
    z_index: NDArray[np.intp]
    rmia_a: float = 0.3
    rmia_gamma: float = 1.0


@dataclass(frozen=True)
class AttackSpec:
    name: str
    score: Callable[[Signals], Scores]
    method: str  # one line for reports: what the score is and where it comes from
    min_reference: int = 0


ATTACKS: dict[str, AttackSpec] = {}


def register(name: str, method: str, *, min_reference: int = 0) -> Callable[[Callable[[Signals], Scores]], Callable[[Signals], Scores]]:
    """Add an attack to :data:`ATTACKS` under ``name``."""

    def deco(fn: Callable[[Signals], Scores]) -> Callable[[Signals], Scores]:
        if name in ATTACKS:
            raise ValueError(f"membership attack {name!r} is already registered")
        ATTACKS[name] = AttackSpec(name, fn, method, min_reference)
        return fn

    return deco


# --- baselines: the target model alone -----------------------------------------------------


@register("loss", "negated cross-entropy loss of the target on the record (Yeom et al. 2018)")
def _loss(sig: Signals) -> Scores:
    return np.log(np.maximum(sig.target_p[: sig.n_targets], _P_FLOOR))


@register("correctness", "1 if the target predicts the record's label, else 0 (Yeom et al. 2018)")
def _correctness(sig: Signals) -> Scores:
    return sig.target_correct[: sig.n_targets].astype(np.float64)


@register("confidence", "the target's top-class probability, label not used (Salem et al. 2019)")
def _confidence(sig: Signals) -> Scores:
    return sig.target_max[: sig.n_targets].copy()


# --- LiRA ----------------------------------------------------------------------------------


def _fit(values: NDArray[np.float64], mask: NDArray[np.bool_]) -> tuple[Scores, Scores]:
    """Per-record mean and (population) variance of ``values`` over the masked models."""
    count = mask.sum(axis=0)
    mean = np.where(mask, values, 0.0).sum(axis=0) / count
    var = np.where(mask, (values - mean) ** 2, 0.0).sum(axis=0) / count
    return mean, var


def _std(var: Scores, fixed: bool) -> Scores:
    if fixed:
        var = np.full_like(var, var.mean())
    return np.maximum(np.sqrt(var), _MIN_STD)


def _lira(sig: Signals, *, online: bool, fixed: bool) -> Scores:
    t = sig.n_targets
    phi_ref, keep, phi = sig.ref_phi[:, :t], sig.keep[:, :t], sig.target_phi[:t]
    mu_out, var_out = _fit(phi_ref, ~keep)
    s_out = _std(var_out, fixed)
    if not online:
        # Pr[Z < phi] is monotone in the z-score; the z-score itself keeps the ranking where the
        # probability rounds to 1.0 in float64 (z > ~8), which is where the members are.
        return np.asarray((phi - mu_out) / s_out, dtype=np.float64)
    mu_in, var_in = _fit(phi_ref, keep)
    s_in = _std(var_in, fixed)
    return np.asarray(stats.norm.logpdf(phi, mu_in, s_in) - stats.norm.logpdf(phi, mu_out, s_out), dtype=np.float64)


@register("lira", "LiRA online, per-record variance (Carlini et al. 2022)", min_reference=2)
def _lira_online(sig: Signals) -> Scores:
    return _lira(sig, online=True, fixed=False)


@register("lira_fixed_variance", "LiRA online, one global variance (Carlini et al. 2022)", min_reference=2)
def _lira_online_fixed(sig: Signals) -> Scores:
    return _lira(sig, online=True, fixed=True)


@register("lira_offline", "LiRA offline (OUT models, one-sided), per-record variance (Carlini et al. 2022)", min_reference=1)
def _lira_offline(sig: Signals) -> Scores:
    return _lira(sig, online=False, fixed=False)


@register("lira_offline_fixed_variance", "LiRA offline (OUT models, one-sided), one global variance (Carlini et al. 2022)", min_reference=1)
def _lira_offline_fixed(sig: Signals) -> Scores:
    return _lira(sig, online=False, fixed=True)


# --- RMIA ----------------------------------------------------------------------------------


def _rmia(sig: Signals, *, offline: bool) -> Scores:
    if offline:
        out_mean, _ = _fit(sig.ref_p, ~sig.keep)
        pr_x = ((1.0 + sig.rmia_a) * out_mean + (1.0 - sig.rmia_a)) / 2.0
    else:
        pr_x = sig.ref_p.mean(axis=0)
    ratio = sig.target_p / np.maximum(pr_x, _P_FLOOR)
    ratio_z = np.sort(ratio[sig.z_index])
    # fraction of z with ratio(x) / ratio(z) > gamma, i.e. ratio(z) < ratio(x) / gamma
    below = np.searchsorted(ratio_z, ratio[: sig.n_targets] / sig.rmia_gamma, side="left")
    return np.asarray(below / len(ratio_z), dtype=np.float64)


@register("rmia", "RMIA, Pr(x) from all reference models (Zarifzadeh et al. 2024)", min_reference=1)
def _rmia_online(sig: Signals) -> Scores:
    return _rmia(sig, offline=False)


@register("rmia_offline", "RMIA offline, Pr(x) from OUT models with parameter a (Zarifzadeh et al. 2024)", min_reference=1)
def _rmia_off(sig: Signals) -> Scores:
    return _rmia(sig, offline=True)
