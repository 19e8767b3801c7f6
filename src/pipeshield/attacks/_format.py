"""How the attack checks write a rate in a finding's message.

    >>> percent(0.22), percent(0.004), percent(0.0), percent(None)
    ('22%', '0.4%', '0%', 'n/a')

Rates under 10% keep one decimal (1% of members found at a low false-positive rate is not 0%);
a rate that was not measured (None, NaN) reads ``n/a``.
"""

from __future__ import annotations

import math

__all__ = ["percent"]


def percent(v: float | None) -> str:
    """``v`` (a fraction) as a percentage for a message."""
    if v is None or not math.isfinite(v):
        return "n/a"
    return f"{v:.0%}" if abs(v) >= 0.1 or v == 0 else f"{v:.1%}"
