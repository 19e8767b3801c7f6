"""Privacy accounting for DP-SGD with Poisson sampling, and its cross-check by a second library.

Every epsilon pipeshield reports comes from :func:`epsilon`: Opacus' accountant named
``accountant`` for ``steps`` compositions of the subsampled Gaussian mechanism (sampling rate
``q``, noise multiplier ``sigma``). :func:`cross_check` recomputes it with Google's
``dp-accounting`` (an independent implementation) so an accounting bug shows up as a mismatch:

- ``rdp``: Opacus RDP vs ``dp_accounting.rdp.RdpAccountant`` over the same orders (agree within 1e-3);
- ``prv``: Opacus PRV (an upper bound, ``eps_error`` 0.01) vs ``dp_accounting.pld.PLDAccountant``
  (agree within 0.02);
- ``gdp``: Opacus' Gaussian-DP accountant is a central-limit *approximation* that can understate
  epsilon for few steps or a large ``q``; it is compared with PLD for information only.

    >>> epsilon(sample_rate=0.01, noise_multiplier=1.1, steps=3000, delta=1e-5)  # doctest: +SKIP
    1.98

Pitfall avoided here: Opacus' ``PrivacyEngine`` accounts with PRV by default but its
``get_noise_multiplier`` searches with RDP; :func:`noise_multiplier` always uses the accountant
that will report the epsilon.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any, Literal

from pipeshield.errors import ConfigError

__all__ = [
    "ACCOUNTANTS",
    "MAX_NOISE_MULTIPLIER",
    "TOLERANCE",
    "Accountant",
    "CrossCheck",
    "cross_check",
    "epsilon",
    "noise_multiplier",
]

Accountant = Literal["rdp", "prv", "gdp"]
ACCOUNTANTS: tuple[str, ...] = ("prv", "rdp", "gdp")

#: Largest agreed difference between Opacus and dp-accounting, per accountant.
TOLERANCE = {"rdp": 1e-3, "prv": 0.02}

#: Noise multipliers above this drown any gradient signal (the noise on the averaged gradient is
#: sigma / batch size times the clip norm, per coordinate): a target that needs more is refused.
MAX_NOISE_MULTIPLIER = 50.0

#: RDP orders, Opacus' defaults, passed to both libraries so they optimise over the same set.
RDP_ORDERS: tuple[float, ...] = tuple([1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64)))

_PRV_EPS_ERROR = 0.01


def _check(sample_rate: float, noise_multiplier: float, steps: int, delta: float, accountant: str) -> None:
    if accountant not in ACCOUNTANTS:
        raise ConfigError(f"accountant: {accountant!r} is not one of {', '.join(ACCOUNTANTS)}")
    if not 0.0 < sample_rate <= 1.0:
        raise ConfigError(f"sample_rate: {sample_rate} is not in (0, 1] (it is the expected batch size / dataset size)")
    if not noise_multiplier > 0.0 or not math.isfinite(noise_multiplier):
        raise ConfigError(
            f"noise_multiplier: {noise_multiplier} must be a positive number (0 adds no noise: no privacy)")
    if steps < 0 or int(steps) != steps:
        raise ConfigError(f"steps: {steps} must be a whole number >= 0")
    if not 0.0 < delta < 1.0:
        raise ConfigError(f"delta: {delta} is not in (0, 1); use one well below 1 / dataset size, e.g. 1e-5")


def _opacus_accountant(name: str, sample_rate: float, sigma: float, steps: int) -> Any:
    from opacus.accountants import create_accountant

    with warnings.catch_warnings():  # GDP's "experimental" warning: said once, in CrossCheck.note
        warnings.simplefilter("ignore", UserWarning)
        acc = create_accountant(mechanism=name)
    acc.history = [(float(sigma), float(sample_rate), int(steps))]
    return acc


def epsilon(
    *, sample_rate: float, noise_multiplier: float, steps: int, delta: float, accountant: Accountant | str = "prv"
) -> float:
    """The epsilon that Opacus' ``accountant`` (``rdp``, ``prv`` or ``gdp``) gives for ``steps``
    steps of DP-SGD with Poisson sampling at ``sample_rate`` and Gaussian noise
    ``noise_multiplier`` (times the clip norm), at ``delta``. Zero steps spend nothing (0.0).

    Raises ConfigError for out-of-range arguments or when the accountant cannot evaluate them.
    """
    _check(sample_rate, noise_multiplier, steps, delta, accountant)
    if steps == 0:
        return 0.0
    acc = _opacus_accountant(accountant, sample_rate, noise_multiplier, steps)
    try:
        with warnings.catch_warnings():
            # "Optimal order is the largest/smallest alpha": the bound is still valid, only not
            # the tightest; PRV also evaluates RDP internally to size its domain.
            warnings.filterwarnings("ignore", message="Optimal order is the", category=UserWarning)
            if accountant == "prv":
                value = acc.get_epsilon(delta=delta, eps_error=_PRV_EPS_ERROR)
            elif accountant == "rdp":
                value = acc.get_epsilon(delta=delta, alphas=list(RDP_ORDERS))
            else:
                value = acc.get_epsilon(delta=delta)
    except (ValueError, RuntimeError, OverflowError, ZeroDivisionError) as err:
        raise ConfigError(
            f"the {accountant} accountant cannot evaluate sample_rate={sample_rate:g}, noise_multiplier="
            f"{noise_multiplier:g}, steps={steps} ({err})",
            hint="try accountant='rdp' (valid for any setting), or a noise multiplier between 0.3 and 50",
        ) from err
    return float(value)


def noise_multiplier(
    *,
    target_epsilon: float,
    sample_rate: float,
    steps: int,
    delta: float,
    accountant: Accountant | str = "prv",
    max_noise_multiplier: float = MAX_NOISE_MULTIPLIER,
    tolerance: float = 0.01,
) -> float:
    """The smallest noise multiplier (to ``tolerance`` in epsilon) whose :func:`epsilon` with the
    same ``accountant`` is at most ``target_epsilon``.

    Raises ConfigError naming the cause and the fix when the target cannot be reached: it needs
    more noise than ``max_noise_multiplier`` (training would learn nothing), or the settings are
    out of range.
    """
    if not target_epsilon > 0 or not math.isfinite(target_epsilon):
        raise ConfigError(f"epsilon: the target {target_epsilon} must be a positive number")
    _check(sample_rate, 1.0, steps, delta, accountant)
    if steps == 0:
        raise ConfigError("steps: 0 training steps; there is nothing to calibrate (train for at least one epoch)")

    def eps(sigma: float) -> float:
        return epsilon(sample_rate=sample_rate, noise_multiplier=sigma, steps=steps, delta=delta, accountant=accountant)

    high = max_noise_multiplier
    if eps(high) > target_epsilon:
        raise ConfigError(
            f"epsilon {target_epsilon:g} at delta {delta:g} is unreachable: {steps} steps at sample rate "
            f"{sample_rate:.4g} would need a noise multiplier above {max_noise_multiplier:g}, and noise that large "
            "drowns the gradient",
            hint="raise --epsilon, train fewer epochs, use a smaller batch size (lower sample rate) or more "
            "training data; or give --noise-multiplier explicitly",
        )
    low = 0.0
    # Bisection on sigma: epsilon decreases as sigma grows. Stop when the upper end is within
    # `tolerance` of the target (it is always at or below the target: the guarantee holds).
    eps_high = eps(high)
    for _ in range(100):
        if target_epsilon - eps_high <= tolerance:
            break
        mid = (low + high) / 2
        value = eps(mid) if mid > 0 else math.inf
        if value <= target_epsilon:
            high, eps_high = mid, value
        else:
            low = mid
    return high


@dataclass(frozen=True)
class CrossCheck:
    """Opacus' epsilon recomputed by ``dp-accounting`` (``reference``).

    ``status``: ``agrees`` (within ``tolerance``), ``disagrees``, ``informational`` (GDP, an
    approximation compared with PLD) or ``not cross-checked`` (dp-accounting is not installed:
    ``pip install 'pipeshield[train]'``).
    """

    accountant: str
    epsilon: float
    reference: str | None
    reference_epsilon: float | None
    tolerance: float | None
    status: str
    note: str = ""

    @property
    def difference(self) -> float | None:
        return None if self.reference_epsilon is None else abs(self.epsilon - self.reference_epsilon)

    @property
    def agrees(self) -> bool | None:
        return {"agrees": True, "disagrees": False}.get(self.status)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["difference"] = None if self.difference is None else round(self.difference, 6)
        return out


def _reference_rdp(sample_rate: float, sigma: float, steps: int, delta: float, orders: tuple[float, ...]) -> float:
    import dp_accounting

    acc = dp_accounting.rdp.RdpAccountant(orders=list(orders))
    event = dp_accounting.PoissonSampledDpEvent(sample_rate, dp_accounting.GaussianDpEvent(sigma))
    acc.compose(event, steps)
    return float(acc.get_epsilon(delta))


def _opacus_rdp(sample_rate: float, sigma: float, steps: int, delta: float, orders: tuple[float, ...]) -> float:
    acc = _opacus_accountant("rdp", sample_rate, sigma, steps)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Optimal order is the", category=UserWarning)
        return float(acc.get_epsilon(delta=delta, alphas=list(orders)))


def _rdp_integer_orders(sample_rate: float, sigma: float, steps: int, delta: float, ours: float, ref: float,
                        tol: float) -> tuple[str, str]:
    """dp-accounting 0.6 bounds the RDP of *fractional* orders from above (Opacus computes them
    exactly: checked against numerical integration), so at a large epsilon, where the best order
    is fractional, the two differ by more than 1e-3. At integer orders both are exact: compare there."""
    integer = tuple(float(a) for a in RDP_ORDERS if float(a).is_integer())
    a = _opacus_rdp(sample_rate, sigma, steps, delta, integer)
    b = _reference_rdp(sample_rate, sigma, steps, delta, integer)
    if abs(a - b) <= tol and ours <= ref + tol:
        return "agrees", (f"over all orders dp-accounting gives {ref:.4f} (it bounds fractional orders from above); "
                          f"at integer orders both give {a:.4f}")
    return "disagrees", ""


def _reference_pld(sample_rate: float, sigma: float, steps: int, delta: float) -> float:
    import dp_accounting

    acc = dp_accounting.pld.PLDAccountant(value_discretization_interval=1e-3)
    event = dp_accounting.PoissonSampledDpEvent(sample_rate, dp_accounting.GaussianDpEvent(sigma))
    acc.compose(event, steps)
    return float(acc.get_epsilon(delta))


def cross_check(
    *, sample_rate: float, noise_multiplier: float, steps: int, delta: float, accountant: Accountant | str = "prv",
    epsilon_value: float | None = None,
) -> CrossCheck:
    """Recompute :func:`epsilon` with ``dp-accounting``; never raises for a missing dp-accounting.

    ``epsilon_value``: the epsilon already computed (default: computed here).
    """
    ours = epsilon_value if epsilon_value is not None else epsilon(
        sample_rate=sample_rate, noise_multiplier=noise_multiplier, steps=steps, delta=delta, accountant=accountant)
    try:
        import dp_accounting  # noqa: F401
    except ImportError:
        return CrossCheck(accountant, ours, None, None, None, "not cross-checked",
                          "dp-accounting is not installed (pip install 'pipeshield[train]')")
    if steps == 0:
        return CrossCheck(accountant, ours, None, 0.0, None, "agrees", "no steps: nothing spent")
    if accountant == "rdp":
        ref = _reference_rdp(sample_rate, noise_multiplier, steps, delta, RDP_ORDERS)
        name, tol = "dp_accounting.rdp", TOLERANCE["rdp"]
    else:
        ref = _reference_pld(sample_rate, noise_multiplier, steps, delta)
        name, tol = "dp_accounting.pld", TOLERANCE["prv"]
    if accountant == "gdp":
        note = ("GDP is a central-limit approximation (not an upper bound); PLD shown for comparison"
                + ("; GDP is below PLD here: prefer prv" if ours < ref - tol else ""))
        return CrossCheck(accountant, ours, name, ref, None, "informational", note)
    status, note = ("agrees", "") if abs(ours - ref) <= tol else ("disagrees", "")
    if status == "disagrees" and accountant == "rdp":
        status, note = _rdp_integer_orders(sample_rate, noise_multiplier, steps, delta, ours, ref, tol)
    note = note if status == "agrees" else (
        f"Opacus {accountant} and {name} differ by {abs(ours - ref):.4g} (> {tol:g}): an accounting bug in one "
        "library; do not rely on this epsilon until it is explained")
    return CrossCheck(accountant, ours, name, ref, tol, status, note)
