"""Query budgets of the named extraction levels (the attacker's queries per method).

Kept apart from :mod:`.assess` so that the ``attacks.extraction`` check, which is registered
with every audit, reads the numbers without importing torch.

    >>> BUDGETS["standard"]
    2000
"""

from __future__ import annotations

__all__ = ["BUDGETS"]

#: Query budgets of the named levels (the attacker's queries per method).
BUDGETS: dict[str, int] = {"quick": 500, "standard": 2000, "thorough": 10000}
