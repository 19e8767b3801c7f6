"""Symbolic values on the emulated pickle stack.

Nothing here is ever the real object: a :class:`Ref` is the *name* a GLOBAL would import, an
:class:`Obj` is "whatever calling X with these arguments returns". Plain constants (str, int,
bytes up to a few KiB) are kept as Python values because names and arguments are built from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["MARK", "Obj", "PersistentRef", "Ref", "SymDict", "SymList", "SymSet", "Unknown", "describe"]


class _Mark:
    """The MARK sentinel (CPython keeps a separate metastack; we mirror that)."""

    def __repr__(self) -> str:
        return "<MARK>"


MARK = _Mark()


@dataclass(eq=False)
class Ref:
    """A global the unpickler would import: ``module`` plus a (possibly dotted) ``name``.

    ``name`` is empty for a module object (from ``importlib.import_module``). ``via`` says how the
    reference was made: ``GLOBAL``, ``STACK_GLOBAL``, ``INST``, ``getattr`` or ``import``.
    """

    module: str
    name: str
    via: str
    offset: int
    use: Any = None  # the GlobalUse that recorded it

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}" if self.name else self.module


@dataclass(eq=False)
class Obj:
    """The result of calling ``factory`` (a Ref, or ``None`` when the callable was not a name)."""

    factory: Ref | None
    args: Any
    opcode: str
    offset: int
    state: Any = None
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(eq=False)
class PersistentRef:
    """What ``persistent_load(pid)`` returns (torch: a tensor storage)."""

    pid: Any


@dataclass(eq=False)
class Unknown:
    """A value the emulator cannot know (out-of-band buffers, unregistered extensions)."""

    reason: str


class SymList(list):  # type: ignore[type-arg]
    """A list being built by APPEND/APPENDS."""


class SymSet(list):  # type: ignore[type-arg]
    """A set being built by ADDITEMS (kept as a list: members may be unhashable symbols)."""


class SymDict(list):  # type: ignore[type-arg]
    """A dict as (key, value) pairs: symbolic keys need not be hashable."""

    def get(self, key: object, default: object = None) -> Any:
        for k, v in reversed(self):
            if isinstance(k, str) and k == key:
                return v
        return default


def describe(value: object) -> str:
    """A short, non-recursive description for messages."""
    if isinstance(value, Ref):
        return value.qualname
    if isinstance(value, Obj):
        return f"<result of {value.factory.qualname if value.factory else 'a dynamic call'}>"
    if isinstance(value, str):
        return repr(value[:60])
    if isinstance(value, (int, float, bool)) or value is None:
        return repr(value)
    return f"<{type(value).__name__}>"
