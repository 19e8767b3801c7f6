"""Raw bytes that loaders read from the middle of a pickle stream (joblib's inline arrays).

joblib writes each numpy array's bytes straight after the ``NumpyArrayWrapper`` that describes it,
inside the pickle stream; its unpickler reads them when BUILD completes the wrapper. An object
array is written as a *nested pickle* at that point, which is where a payload can hide. The VM
calls this hook on that BUILD to skip plain array bytes and to analyse nested pickles.
"""

from __future__ import annotations

import re
from math import prod
from typing import TYPE_CHECKING, Any

from pipeshield.supplychain.pickle.reader import Framing, PickleSyntaxError, Reader
from pipeshield.supplychain.pickle.values import Obj, SymDict, Unknown
from pipeshield.supplychain.pickle.vm import build_hook, run_one

if TYPE_CHECKING:
    from pipeshield.supplychain.pickle.vm import _VM

__all__ = ["dtype_layout"]

_TYPESTR = re.compile(r"^[<>|=]?([a-zA-Z?])(\d*)")
_FIXED = {"?": 1, "b": 1, "B": 1, "h": 2, "H": 2, "i": 4, "I": 4, "l": 8, "L": 8, "q": 8, "Q": 8,
          "e": 2, "f": 4, "d": 8, "g": 16, "F": 8, "D": 16, "G": 32, "M": 8, "m": 8, "O": 8}


def dtype_layout(typestr: str, elsize: int | None = None) -> tuple[int, bool] | None:
    """``(itemsize, has_objects)`` of a numpy type string like ``'<f8'`` or ``'U10'``, or None."""
    match = _TYPESTR.match(typestr)
    if not match:
        return None
    kind, digits = match.group(1), match.group(2)
    if kind == "O":
        return (8, True)
    if elsize is not None and elsize > 0:
        return (elsize, False)
    if digits:
        n = int(digits)
        if kind == "U":
            return (4 * n, False)
        if kind in "fiucbSVaMm":
            return (n, False)
    if kind in _FIXED:
        return (_FIXED[kind], False)
    return None


def _numpy_dtype(value: Any, depth: int = 0) -> tuple[int, bool] | None:
    """Layout of a pickled ``numpy.dtype(...)`` + BUILD state, structured dtypes included."""
    if depth > 16 or not (isinstance(value, Obj) and isinstance(value.args, tuple) and value.args):
        return None
    typestr = value.args[0]
    if not isinstance(typestr, str):
        return None
    state = value.state
    elsize = None
    if isinstance(state, tuple) and len(state) >= 6 and isinstance(state[5], int):
        elsize = state[5]
        fields = state[4]
        if fields is not None:
            # Structured: every field's dtype must be known; any object field makes it a pickle.
            if not isinstance(fields, SymDict) or elsize <= 0:
                return None
            has_objects = False
            for _, spec in fields:
                if not isinstance(spec, tuple) or not spec:
                    return None
                inner = _numpy_dtype(spec[0], depth + 1)
                if inner is None:
                    return None
                has_objects |= inner[1]
            return (elsize, has_objects)
    return dtype_layout(typestr, elsize)


@build_hook("joblib.numpy_pickle.NumpyArrayWrapper")
def _joblib_array(vm: _VM, obj: Obj, state: Any) -> None:
    if not isinstance(state, SymDict):
        raise PickleSyntaxError("joblib array wrapper without a state dict", vm.r.pos)
    shape = state.get("shape")
    layout = _numpy_dtype(state.get("dtype"))
    if layout is None or not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise PickleSyntaxError("joblib array wrapper with a layout the scanner cannot read", vm.r.pos)
    itemsize, has_objects = layout
    reader = vm.r
    pos = reader.raw_position()
    if has_objects:
        # A nested pickle: joblib loads it with a fresh Unpickler on the same file.
        inner = Reader(reader.data, pos, reader.end, Framing.LINEAR, max_text=vm.limits.max_text)
        run_one(inner, vm.limits, vm.trace, vm.deadline)
        vm.trace.pickles -= 1  # a part of this pickle, not another one
        reader.violations.extend(inner.violations)
        reader.seek_raw(inner.pos)
    else:
        if state.get("numpy_array_alignment_bytes") is not None:
            if pos >= reader.end:
                raise PickleSyntaxError("joblib array padding runs past the end", pos)
            pos += 1 + reader.data[pos]
        reader.seek_raw(pos + prod(shape) * itemsize)
    vm.stack[-1] = Unknown("array read by joblib")
