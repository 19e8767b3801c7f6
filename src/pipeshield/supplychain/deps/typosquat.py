"""Names that shadow well-known packages: the typosquats of dependency confusion.

An attacker publishes ``reqeusts`` or ``torchh`` and waits for a typo. We compare every name with
a shipped list of the most-downloaded PyPI projects plus the ML stack (``data/popular.txt``) and
flag a name that is one edit away (Damerau-Levenshtein, so a swap of two neighbours counts as one
edit) or that differs only by separators or look-alike characters (``0``/``o``, ``1``/``l``).
Exact matches are the real thing; ``data/legitimate.txt`` lists real projects that happen to sit
one edit from a popular one (derived from the 15,000 most-downloaded projects: popular enough to
be themselves, not squats).

    >>> shadowed_name("reqeusts")
    'requests'
    >>> shadowed_name("requests") is None
    True

A hit is a lead, not proof: a private package can legitimately carry a similar name.
"""

from __future__ import annotations

import functools
from importlib import resources

from pipeshield.supplychain.deps.names import canonical

__all__ = ["legitimate_names", "popular_names", "shadowed_name"]

_MIN_EDIT_LENGTH = 4
_CONFUSABLES = str.maketrans({"0": "o", "1": "l", "_": "-", ".": "-"})


def _read(name: str) -> list[str]:
    text = resources.files("pipeshield.supplychain.deps").joinpath("data", name).read_text("utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


@functools.cache
def popular_names() -> frozenset[str]:
    """Canonical names of the well-known projects a squatter would imitate."""
    return frozenset(canonical(n) for n in _read("popular.txt"))


@functools.cache
def legitimate_names() -> frozenset[str]:
    """Real projects one edit from a popular one (first column of ``legitimate.txt``)."""
    return frozenset(canonical(line.split()[0]) for line in _read("legitimate.txt"))


def _skeleton(name: str) -> str:
    """The name with look-alikes folded and separators dropped: ``scikit_1earn`` -> ``scikitlearn``."""
    return name.lower().translate(_CONFUSABLES).replace("-", "")


def _within_one_edit(a: str, b: str) -> bool:
    """Optimal-string-alignment (restricted Damerau-Levenshtein) distance <= 1, in one pass."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diff = [i for i in range(la) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
    if la > lb:
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1 :]


def _shadowed(name: str, popular: frozenset[str]) -> str | None:
    if name in popular:
        return None
    skeleton = _skeleton(name)
    for known in sorted(popular):
        if _skeleton(known) == skeleton:
            return known
        # Below four letters one edit is most of the name: "six"/"sip" are neighbours, not squats.
        if len(known) >= _MIN_EDIT_LENGTH and _within_one_edit(name, known):
            return known
    return None


def shadowed_name(name: str) -> str | None:
    """The popular project that ``name`` imitates, or ``None`` (exact and known-legitimate names)."""
    name = canonical(name)
    if name in legitimate_names():
        return None
    return _shadowed(name, popular_names())
