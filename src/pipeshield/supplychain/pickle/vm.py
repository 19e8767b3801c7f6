"""An emulator of the pickle virtual machine that never imports or calls anything.

It runs the opcodes of CPython's ``_Unpickler`` over symbolic values (:mod:`.values`): the stack
and metastack, the memo (PUT reusing an index, MEMOIZE numbering by ``len(memo)`` exactly as
CPython does), GLOBAL / STACK_GLOBAL / INST names (dotted names kept whole), and every way a
pickle makes the loader call something: REDUCE, NEWOBJ, NEWOBJ_EX, INST, OBJ, BUILD (which calls
``__setstate__`` or sets attributes) and the EXT opcodes. What it records is a :class:`StreamTrace`;
judging it is :mod:`.policy`'s job.

A stream may hold several pickles (legacy ``torch.save`` writes five before the tensor bytes) and
may end in garbage after the payload (nullifAI): everything seen before an error is kept.

    >>> trace = run_stream(b"cos\\nsystem\\n(S'id'\\ntR.")
    >>> [g.qualname for g in trace.globals]
    ['os.system']
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipeshield.supplychain.limits import ScanLimits
from pipeshield.supplychain.pickle.opcodes import OPCODES
from pipeshield.supplychain.pickle.reader import (
    Framing,
    LimitExceeded,
    PickleSyntaxError,
    Reader,
)
from pipeshield.supplychain.pickle.values import (
    Obj,
    PersistentRef,
    Ref,
    SymDict,
    SymList,
    SymSet,
    Unknown,
)

__all__ = ["LEGACY_TORCH_MAGIC", "Anomaly", "GlobalUse", "StreamTrace", "build_hook", "run_stream"]

#: The first pickle of a legacy (pre-zip) ``torch.save`` file is this number.
LEGACY_TORCH_MAGIC = 0x1950A86A20F9469CFC6C
#: Legacy torch files hold exactly this many pickles; what follows is raw tensor bytes.
LEGACY_TORCH_PICKLES = 5


@dataclass
class GlobalUse:
    """One name the loader would import, and each time the pickle calls it."""

    module: str
    name: str
    offset: int
    via: str
    pickle_index: int
    calls: list[tuple[str, int]] = field(default_factory=list)

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}" if self.name else self.module


@dataclass
class Anomaly:
    """Something no ordinary pickler writes: ``kind`` keys the rule that reports it."""

    kind: str
    offset: int
    message: str
    callable: str | None = None


@dataclass
class StreamTrace:
    """What the emulator saw in one byte stream (one or several pickles)."""

    globals: list[GlobalUse] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)
    persistent_ids: list[Any] = field(default_factory=list)
    pickles: int = 0
    opcodes: int = 0
    end: int = 0
    error: PickleSyntaxError | None = None
    limited: bool = False
    trailing_bytes: int = 0
    legacy_torch: bool = False
    frame_violations: list[tuple[int, str]] = field(default_factory=list)
    nested: list[StreamTrace] = field(default_factory=list)

    def all_globals(self) -> list[GlobalUse]:
        out = list(self.globals)
        for sub in self.nested:
            out += sub.all_globals()
        return out


BuildHook = Callable[["_VM", Obj, Any], None]
_BUILD_HOOKS: dict[str, BuildHook] = {}
# Calls whose result the emulator can name: getattr and imports turn strings into references.
_RESOLVERS: dict[str, Callable[[_VM, tuple[Any, ...], int], Any]] = {}


def build_hook(qualname: str) -> Callable[[BuildHook], BuildHook]:
    """Register what BUILD does for instances of ``qualname`` (joblib reads raw array bytes)."""

    def register(fn: BuildHook) -> BuildHook:
        _BUILD_HOOKS[qualname] = fn
        return fn

    return register


class _Stop(Exception):
    pass


class _VM:
    def __init__(self, reader: Reader, limits: ScanLimits, trace: StreamTrace, deadline: float,
                 pickle_index: int) -> None:
        self.r = reader
        self.limits = limits
        self.trace = trace
        self.deadline = deadline
        self.pickle_index = pickle_index
        self.stack: list[Any] = []
        self.metastack: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.proto = 0
        self.value: Any = None

    # -- helpers -----------------------------------------------------------------------------
    def fail(self, message: str, offset: int) -> PickleSyntaxError:
        return PickleSyntaxError(message, offset)

    def pop(self, offset: int) -> Any:
        if not self.stack:
            raise self.fail("unpickling stack underflow", offset)
        return self.stack.pop()

    def top(self, offset: int) -> Any:
        if not self.stack:
            raise self.fail("unpickling stack underflow", offset)
        return self.stack[-1]

    def pop_mark(self, offset: int) -> list[Any]:
        if not self.metastack:
            raise self.fail("could not find MARK", offset)
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    def push(self, value: Any) -> None:
        self.stack.append(value)
        if len(self.stack) > self.limits.max_stack:
            raise LimitExceeded(f"stack deeper than {self.limits.max_stack}", self.r.pos)

    def ref(self, module: str, name: str, via: str, offset: int) -> Ref:
        use = GlobalUse(module, name, offset, via, self.pickle_index)
        self.trace.globals.append(use)
        return Ref(module, name, via, offset, use)

    def call(self, func: Any, args: Any, opcode: str, offset: int) -> Any:
        if isinstance(func, Ref):
            func.use.calls.append((opcode, offset))
            resolver = _RESOLVERS.get(func.qualname)
            if resolver is not None and isinstance(args, tuple):
                resolved = resolver(self, args, offset)
                if resolved is not None:
                    return resolved
            return Obj(func, args, opcode, offset)
        what = "an unresolved name" if isinstance(func, Unknown) else "the result of another call"
        self.trace.anomalies.append(Anomaly(
            "indirect-call", offset,
            f"{opcode} at offset {offset} calls {what} ({_short(func)}), not a named global",
            _short(func)))
        return Obj(None, args, opcode, offset)

    # -- the loop ----------------------------------------------------------------------------
    def run(self) -> Any:
        r = self.r
        ops = OPCODES
        data = r.data
        limits = self.limits
        trace = self.trace
        dispatch = _DISPATCH
        while True:
            offset = r._span(1)
            code = data[offset]
            r.pos = offset + 1
            op = ops.get(code)
            if op is None:
                raise self.fail(f"invalid load key {bytes([code])!r} at offset {offset}", offset)
            trace.opcodes += 1
            if trace.opcodes > limits.max_opcodes:
                raise LimitExceeded(f"more than {limits.max_opcodes} opcodes", offset)
            if trace.opcodes & 0xFFFF == 0 and time.monotonic() > self.deadline:
                raise LimitExceeded("time limit reached", offset)
            arg = r.arg(op.arg, offset)
            try:
                dispatch[op.name](self, arg, offset)
            except _Stop:
                return self.value


def _short(value: Any) -> str:
    from pipeshield.supplychain.pickle.values import describe

    return describe(value)


# -- opcode handlers (CPython's _Unpickler, symbolically) --------------------------------------
def _push_arg(vm: _VM, arg: Any, offset: int) -> None:
    vm.push(arg)


def _const(value: Any) -> Callable[[_VM, Any, int], None]:
    def handler(vm: _VM, arg: Any, offset: int) -> None:
        vm.push(value)

    return handler


def _proto(vm: _VM, arg: Any, offset: int) -> None:
    if not 0 <= arg <= 5:
        raise vm.fail(f"unsupported pickle protocol: {arg}", offset)
    vm.proto = arg


def _frame(vm: _VM, arg: Any, offset: int) -> None:
    vm.r.begin_frame(arg, offset)


def _stop(vm: _VM, arg: Any, offset: int) -> None:
    vm.value = vm.pop(offset)
    raise _Stop


def _persid(vm: _VM, arg: Any, offset: int) -> None:
    vm.trace.persistent_ids.append(arg)
    vm.push(PersistentRef(arg))


def _binpersid(vm: _VM, arg: Any, offset: int) -> None:
    pid = vm.pop(offset)
    vm.trace.persistent_ids.append(pid)
    vm.push(PersistentRef(pid))


def _bytearray(vm: _VM, arg: Any, offset: int) -> None:
    vm.push(arg)


def _next_buffer(vm: _VM, arg: Any, offset: int) -> None:
    raise vm.fail("pickle stream refers to out-of-band data but no buffers are given", offset)


def _readonly_buffer(vm: _VM, arg: Any, offset: int) -> None:
    vm.top(offset)


def _empty_tuple(vm: _VM, arg: Any, offset: int) -> None:
    vm.push(())


def _tuple(vm: _VM, arg: Any, offset: int) -> None:
    vm.push(tuple(vm.pop_mark(offset)))


def _tuple_n(n: int) -> Callable[[_VM, Any, int], None]:
    def handler(vm: _VM, arg: Any, offset: int) -> None:
        if len(vm.stack) < n:
            raise vm.fail("unpickling stack underflow", offset)
        items = tuple(vm.stack[-n:])
        del vm.stack[-n:]
        vm.push(items)

    return handler


def _empty_list(vm: _VM, arg: Any, offset: int) -> None:
    vm.push(SymList())


def _list(vm: _VM, arg: Any, offset: int) -> None:
    vm.push(SymList(vm.pop_mark(offset)))


def _empty_dict(vm: _VM, arg: Any, offset: int) -> None:
    vm.push(SymDict())


def _dict(vm: _VM, arg: Any, offset: int) -> None:
    items = vm.pop_mark(offset)
    vm.push(SymDict(zip(items[::2], items[1::2], strict=False)))


def _empty_set(vm: _VM, arg: Any, offset: int) -> None:
    vm.push(SymSet())


def _frozenset(vm: _VM, arg: Any, offset: int) -> None:
    vm.push(tuple(vm.pop_mark(offset)))


def _append(vm: _VM, arg: Any, offset: int) -> None:
    value = vm.pop(offset)
    target = vm.top(offset)
    if isinstance(target, list):
        target.append(value)
    else:
        _method_on(vm, target, "append", offset)


def _appends(vm: _VM, arg: Any, offset: int) -> None:
    items = vm.pop_mark(offset)
    target = vm.top(offset)
    if isinstance(target, list):
        target.extend(items)
    else:
        _method_on(vm, target, "extend", offset)


def _additems(vm: _VM, arg: Any, offset: int) -> None:
    items = vm.pop_mark(offset)
    target = vm.top(offset)
    if isinstance(target, list):
        target.extend(items)
    else:
        _method_on(vm, target, "add", offset)


def _setitem(vm: _VM, arg: Any, offset: int) -> None:
    value = vm.pop(offset)
    key = vm.pop(offset)
    target = vm.top(offset)
    if isinstance(target, SymDict):
        target.append((key, value))
    else:
        _method_on(vm, target, "__setitem__", offset)


def _setitems(vm: _VM, arg: Any, offset: int) -> None:
    items = vm.pop_mark(offset)
    target = vm.top(offset)
    if isinstance(target, SymDict):
        target.extend(zip(items[::2], items[1::2], strict=False))
    else:
        _method_on(vm, target, "__setitem__", offset)


def _method_on(vm: _VM, target: Any, method: str, offset: int) -> None:
    # APPEND/SETITEM on a non-container call the target's own method: fine on an instance of an
    # allowlisted class, a manipulation on a module-level object (a class, a function, a module).
    if isinstance(target, Ref):
        vm.trace.anomalies.append(Anomaly(
            "mutate-global", offset,
            f"offset {offset}: {method} applied to the global {target.qualname} itself", target.qualname))


def _pop(vm: _VM, arg: Any, offset: int) -> None:
    if vm.stack:
        vm.stack.pop()
    else:
        vm.pop_mark(offset)


def _dup(vm: _VM, arg: Any, offset: int) -> None:
    vm.push(vm.top(offset))


def _mark(vm: _VM, arg: Any, offset: int) -> None:
    vm.metastack.append(vm.stack)
    vm.stack = []
    if len(vm.metastack) > vm.limits.max_depth:
        raise LimitExceeded(f"MARK nesting deeper than {vm.limits.max_depth}", offset)


def _pop_mark(vm: _VM, arg: Any, offset: int) -> None:
    vm.pop_mark(offset)


def _get(vm: _VM, arg: Any, offset: int) -> None:
    if arg not in vm.memo:
        raise vm.fail(f"memo value not found at index {arg}", offset)
    vm.push(vm.memo[arg])


def _put(vm: _VM, arg: Any, offset: int) -> None:
    if arg < 0:
        raise vm.fail("negative PUT argument", offset)
    vm.memo[arg] = vm.top(offset)
    if len(vm.memo) > vm.limits.max_memo:
        raise LimitExceeded(f"memo larger than {vm.limits.max_memo} entries", offset)


def _memoize(vm: _VM, arg: Any, offset: int) -> None:
    vm.memo[len(vm.memo)] = vm.top(offset)
    if len(vm.memo) > vm.limits.max_memo:
        raise LimitExceeded(f"memo larger than {vm.limits.max_memo} entries", offset)


def _global(vm: _VM, arg: Any, offset: int) -> None:
    module, name = arg
    vm.push(vm.ref(module, name, "GLOBAL", offset))


def _stack_global(vm: _VM, arg: Any, offset: int) -> None:
    name = vm.pop(offset)
    module = vm.pop(offset)
    if isinstance(module, str) and isinstance(name, str):
        vm.push(vm.ref(module, name, "STACK_GLOBAL", offset))
        return
    if isinstance(module, (Obj, Unknown, PersistentRef, Ref)) or isinstance(name, (Obj, Unknown, PersistentRef, Ref)):
        # The name is computed at load time: no static reader can know what gets imported.
        vm.trace.anomalies.append(Anomaly(
            "dynamic-global", offset,
            f"STACK_GLOBAL at offset {offset} imports a name computed at load time "
            f"({_short(module)}, {_short(name)})"))
        vm.push(Unknown("dynamic global"))
        return
    raise vm.fail("STACK_GLOBAL requires str", offset)


def _inst(vm: _VM, arg: Any, offset: int) -> None:
    module, name = arg
    args = tuple(vm.pop_mark(offset))
    cls = vm.ref(module, name, "INST", offset)
    vm.push(vm.call(cls, args, "INST", offset))


def _obj(vm: _VM, arg: Any, offset: int) -> None:
    items = vm.pop_mark(offset)
    if not items:
        raise vm.fail("OBJ needs a class", offset)
    vm.push(vm.call(items[0], tuple(items[1:]), "OBJ", offset))


def _newobj(vm: _VM, arg: Any, offset: int) -> None:
    args = vm.pop(offset)
    cls = vm.pop(offset)
    vm.push(vm.call(cls, args, "NEWOBJ", offset))


def _newobj_ex(vm: _VM, arg: Any, offset: int) -> None:
    kwargs = vm.pop(offset)
    args = vm.pop(offset)
    cls = vm.pop(offset)
    vm.push(vm.call(cls, (args, kwargs), "NEWOBJ_EX", offset))


def _reduce(vm: _VM, arg: Any, offset: int) -> None:
    args = vm.pop(offset)
    func = vm.top(offset)
    vm.stack[-1] = vm.call(func, args, "REDUCE", offset)


def _build(vm: _VM, arg: Any, offset: int) -> None:
    state = vm.pop(offset)
    inst = vm.top(offset)
    if isinstance(inst, Ref):
        # BUILD on a class, function or module sets attributes on a live global: the numpy.prod
        # trick (protectai/modelscan#85) rewrites attributes that a later STACK_GLOBAL reads.
        vm.trace.anomalies.append(Anomaly(
            "mutate-global", offset,
            f"BUILD at offset {offset} sets attributes on the global {inst.qualname} itself", inst.qualname))
        return
    if isinstance(inst, Obj):
        inst.state = state
        if inst.factory is not None:
            hook = _BUILD_HOOKS.get(inst.factory.qualname)
            if hook is not None:
                hook(vm, inst, state)


def _ext(vm: _VM, arg: Any, offset: int) -> None:
    # copyreg's extension registry is empty unless the loading process filled it: the name
    # cannot be known from the file. Report it; calls through it are indirect calls.
    vm.trace.anomalies.append(Anomaly(
        "extension", offset, f"EXT opcode at offset {offset} names extension code {arg} (copyreg registry)",
        f"<extension {arg}>"))
    vm.push(Unknown(f"extension code {arg}"))


_DISPATCH: dict[str, Callable[[_VM, Any, int], None]] = {
    "MARK": _mark, "STOP": _stop, "POP": _pop, "POP_MARK": _pop_mark, "DUP": _dup,
    "FLOAT": _push_arg, "INT": _push_arg, "BININT": _push_arg, "BININT1": _push_arg,
    "LONG": _push_arg, "BININT2": _push_arg, "NONE": _const(None), "PERSID": _persid,
    "BINPERSID": _binpersid, "REDUCE": _reduce, "STRING": _push_arg, "BINSTRING": _push_arg,
    "SHORT_BINSTRING": _push_arg, "UNICODE": _push_arg, "BINUNICODE": _push_arg,
    "APPEND": _append, "BUILD": _build, "GLOBAL": _global, "DICT": _dict,
    "EMPTY_DICT": _empty_dict, "APPENDS": _appends, "GET": _get, "BINGET": _get, "INST": _inst,
    "LONG_BINGET": _get, "LIST": _list, "EMPTY_LIST": _empty_list, "OBJ": _obj, "PUT": _put,
    "BINPUT": _put, "LONG_BINPUT": _put, "SETITEM": _setitem, "TUPLE": _tuple,
    "EMPTY_TUPLE": _empty_tuple, "SETITEMS": _setitems, "BINFLOAT": _push_arg,
    "PROTO": _proto, "NEWOBJ": _newobj, "EXT1": _ext, "EXT2": _ext, "EXT4": _ext,
    "TUPLE1": _tuple_n(1), "TUPLE2": _tuple_n(2), "TUPLE3": _tuple_n(3),
    "NEWTRUE": _const(True), "NEWFALSE": _const(False), "LONG1": _push_arg, "LONG4": _push_arg,
    "BINBYTES": _push_arg, "SHORT_BINBYTES": _push_arg, "SHORT_BINUNICODE": _push_arg,
    "BINUNICODE8": _push_arg, "BINBYTES8": _push_arg, "EMPTY_SET": _empty_set,
    "ADDITEMS": _additems, "FROZENSET": _frozenset, "NEWOBJ_EX": _newobj_ex,
    "STACK_GLOBAL": _stack_global, "MEMOIZE": _memoize, "FRAME": _frame,
    "BYTEARRAY8": _bytearray, "NEXT_BUFFER": _next_buffer, "READONLY_BUFFER": _readonly_buffer,
}


# -- calls that turn strings into names ---------------------------------------------------------
def _resolve_getattr(vm: _VM, args: tuple[Any, ...], offset: int) -> Any:
    if len(args) >= 2 and isinstance(args[0], Ref) and isinstance(args[1], str):
        base = args[0]
        name = f"{base.name}.{args[1]}" if base.name else args[1]
        return vm.ref(base.module, name, "getattr", offset)
    return None


def _resolve_import(vm: _VM, args: tuple[Any, ...], offset: int) -> Any:
    if args and isinstance(args[0], str):
        return vm.ref(args[0], "", "import", offset)
    return None


for _name in ("builtins.getattr", "__builtin__.getattr", "inspect.getattr_static"):
    _RESOLVERS[_name] = _resolve_getattr
for _name in ("importlib.import_module", "builtins.__import__", "__builtin__.__import__"):
    _RESOLVERS[_name] = _resolve_import


# -- streams of several pickles ---------------------------------------------------------------
def run_one(reader: Reader, limits: ScanLimits, trace: StreamTrace, deadline: float) -> Any:
    """Run one pickle from the reader's position to its STOP; raises on errors and limits."""
    vm = _VM(reader, limits, trace, deadline, trace.pickles)
    value = vm.run()
    trace.pickles += 1
    return value


def run_stream(data: bytes | memoryview, *, start: int = 0, end: int | None = None,
               framing: Framing = Framing.LINEAR, limits: ScanLimits | None = None,
               deadline: float | None = None) -> StreamTrace:
    """Emulate every pickle in ``data[start:end]``, one after another, until the bytes stop
    being pickles. Never raises for bad input: errors and limits end up in the trace."""
    limits = limits or ScanLimits()
    deadline = deadline if deadline is not None else time.monotonic() + limits.max_seconds
    reader = Reader(data, start, end, framing, max_text=limits.max_text)
    trace = StreamTrace()
    while reader.pos < reader.end:
        before = reader.pos
        seen = (len(trace.globals), len(trace.anomalies))
        try:
            value = run_one(reader, limits, trace, deadline)
        except LimitExceeded as err:
            trace.error, trace.limited = err, True
            break
        except PickleSyntaxError as err:
            if trace.pickles and seen == (len(trace.globals), len(trace.anomalies)):
                # After a complete pickle, bytes that do not form another one and name nothing
                # are data (tensor bytes, padding), not a second pickle with a broken tail.
                reader.pos = before
                trace.trailing_bytes = reader.end - before
            else:
                trace.error = err
            break
        except RecursionError:  # never expected (the VM is iterative), but never a crash
            trace.error = LimitExceeded("nesting too deep", reader.pos)
            trace.limited = True
            break
        if trace.pickles == 1:
            trace.legacy_torch = value == LEGACY_TORCH_MAGIC and not isinstance(value, bool)
        if trace.legacy_torch and trace.pickles >= LEGACY_TORCH_PICKLES:
            trace.trailing_bytes = reader.end - reader.pos
            break
        if trace.pickles >= limits.max_pickles:
            trace.trailing_bytes = reader.end - reader.pos
            break
    trace.end = reader.pos
    trace.frame_violations = list(reader.violations)
    return trace

