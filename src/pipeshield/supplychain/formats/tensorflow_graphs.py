"""TensorFlow SavedModel (``saved_model.pb``) and frozen GraphDef files, read without TensorFlow.

The graph is what runs: every ``NodeDef`` of the meta graphs and of the function library is
listed by its op name, straight from the protobuf wire format (field numbers from TensorFlow's
``saved_model.proto``, ``meta_graph.proto``, ``graph.proto``, ``function.proto`` and
``node_def.proto``). Reported as malicious:

- ops that call back into Python (``PyFunc``, ``PyFuncStateless``, ``EagerPyFunc``): the graph
  runs whatever function the loading process registered under the node's token;
- ops that read, write or list arbitrary files (``ReadFile``, ``WriteFile``, ``MatchingFiles``,
  ``WholeFileReader``): a served model that reads ``/etc/passwd`` or writes a ``.bashrc``.

The checkpoint ops every SavedModel has (``SaveV2``, ``RestoreV2``, ``MergeV2Checkpoints``) are
not reported: their paths are run-time inputs, not constants we could judge. A graph that cannot
be decoded to the end is inconclusive, never clean. Custom ops (native kernels from
``tf.load_op_library``) are not recognised: TensorFlow's op registry is not shipped here.

The ``variables/`` folder beside ``saved_model.pb`` holds ``variables.index`` (an SSTable,
recognised here and clean) and ``variables.data-*`` shards of raw tensor bytes, which have no
header to recognise and are reported as unknown (inconclusive) by the scanner.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

from pipeshield.supplychain.formats._protowire import LEN, VARINT, WireError, fields, read_varint
from pipeshield.supplychain.formats.base import Context, Scanned, register
from pipeshield.supplychain.results import ScanFinding

__all__ = ["FILE_OPS", "PYTHON_OPS", "TensorflowGraphHandler", "TensorflowIndexHandler", "graph_ops"]

PYTHON_OPS = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc"})
FILE_OPS = frozenset({"ReadFile", "WriteFile", "MatchingFiles", "WholeFileReader", "WholeFileReaderV2"})

#: First tag of a MetaGraphDef: one of its fields 1-7, length-delimited.
_META_TAGS = frozenset({0x0A, 0x12, 0x1A, 0x22, 0x2A, 0x32, 0x3A})
_OP_NAME = re.compile(rb"[A-Za-z_][A-Za-z0-9_>.]*\Z")
_NODE_NAME = re.compile(rb"[A-Za-z0-9._/>\-]+\Z")
#: LevelDB/TensorFlow table magic number, the last 8 bytes of ``variables.index``.
_TABLE_MAGIC = (0xDB4775248B80FB57).to_bytes(8, "little")


class _Stop(Exception):
    pass


def _looks_like_saved_model(data: memoryview) -> bool:
    end = min(len(data), 64)
    try:
        pos = 0
        if end and data[0] == 0x08:  # saved_model_schema_version = 1 (varint)
            version, pos = read_varint(data, 1, end)
            if version > 1:
                return False
        if pos >= end or data[pos] != 0x12:  # meta_graphs = 2 (length-delimited)
            return False
        _, pos = read_varint(data, pos + 1, end)
        return pos < end and data[pos] in _META_TAGS
    except WireError:
        return False


def _looks_like_graph_def(data: memoryview) -> bool:
    """A GraphDef starts with its first NodeDef: name (field 1), then op (field 2)."""
    end = min(len(data), 1024)
    try:
        if not end or data[0] != 0x0A:
            return False
        _, pos = read_varint(data, 1, end)
        found = {}
        for field in fields(data, pos, end):
            if field.number not in (1, 2) or field.wire != LEN:
                break
            found[field.number] = bytes(data[field.value:field.end])
            if len(found) == 2:
                break
    except WireError:
        return False
    return (len(found) == 2 and bool(_NODE_NAME.match(found[1])) and bool(_OP_NAME.match(found[2]))
            and found[2][:1].isupper())


def graph_ops(data: memoryview, saved_model: bool, max_nodes: int = 10_000_000,
              deadline: float = float("inf")) -> Iterator[tuple[str, str, str | None]]:
    """``(node name, op, PyFunc token)`` for every node of every graph and library function."""
    count = 0

    def node(start: int, end: int) -> tuple[str, str, str | None]:
        nonlocal count
        count += 1
        if count > max_nodes or (count % 4096 == 0 and time.monotonic() > deadline):
            raise _Stop(f"stopped after {count} nodes (node or time limit)")
        name = op = ""
        token = None
        for f in fields(data, start, end):
            if f.number in (1, 2, 5) and f.wire != LEN:
                raise WireError(f"NodeDef field {f.number} has wire type {f.wire}")
            if f.number == 1:
                name = _text(data, f.value, f.end)
            elif f.number == 2:
                op = _text(data, f.value, f.end)
            elif f.number == 5:
                token = _token(data, f.value, f.end) or token
        return name, op, token

    def graph(start: int, end: int) -> Iterator[tuple[str, str, str | None]]:
        for f in fields(data, start, end):
            if f.number in (1, 2) and f.wire != LEN:
                raise WireError(f"GraphDef field {f.number} has wire type {f.wire}")
            if f.number == 1:
                yield node(f.value, f.end)
            elif f.number == 2:  # library: FunctionDefLibrary.function = 1 -> FunctionDef.node_def = 3
                for fn in fields(data, f.value, f.end):
                    if fn.number == 1 and fn.wire == LEN:
                        for part in fields(data, fn.value, fn.end):
                            if part.number == 3 and part.wire == LEN:
                                yield node(part.value, part.end)

    if not saved_model:
        yield from graph(0, len(data))
        return
    for top in fields(data, 0, len(data)):
        if top.number == 1 and top.wire != VARINT or top.number == 2 and top.wire != LEN:
            raise WireError(f"SavedModel field {top.number} has wire type {top.wire}")
        if top.number == 2:  # meta_graphs -> MetaGraphDef.graph_def = 2
            for meta in fields(data, top.value, top.end):
                if meta.number == 2 and meta.wire == LEN:
                    yield from graph(meta.value, meta.end)


def _text(data: memoryview, start: int, end: int) -> str:
    return bytes(data[start:min(end, start + 1024)]).decode("utf-8", "replace")


def _token(data: memoryview, start: int, end: int) -> str | None:
    """The ``token`` attr of a PyFunc node (map entry key = 1, AttrValue value = 2 -> s = 2)."""
    key = value = None
    for f in fields(data, start, end):
        if f.number == 1 and f.wire == LEN:
            key = bytes(data[f.value:f.end])
        elif f.number == 2 and f.wire == LEN:
            value = (f.value, f.end)
    if key != b"token" or value is None:
        return None
    for f in fields(data, *value):
        if f.number == 2 and f.wire == LEN:
            return _text(data, f.value, f.end)
    return None


@register(priority=19)  # before ONNX: both are protobufs whose first field is a varint
class TensorflowGraphHandler:
    name = "tensorflow"

    def sniff(self, data: memoryview) -> bool:
        return _looks_like_saved_model(data) or _looks_like_graph_def(data)

    def scan(self, data: memoryview, ctx: Context) -> Scanned:
        saved_model = _looks_like_saved_model(data)
        kind = "tf-savedmodel" if saved_model else "tf-graphdef"
        findings: list[ScanFinding] = []
        try:
            for name, op, token in graph_ops(data, saved_model, ctx.limits.max_opcodes, ctx.deadline):
                if op in PYTHON_OPS:
                    findings.append(ScanFinding(
                        "PS-TF-PYFUNC", f"node {name!r} runs op {op}: it calls the Python function registered "
                        f"under token {token!r} in the loading process", callable=op))
                elif op in FILE_OPS:
                    findings.append(ScanFinding(
                        "PS-TF-FILE-OP", f"node {name!r} runs op {op}, which touches arbitrary files", callable=op))
        except WireError as err:
            findings.append(ScanFinding("PS-TF-PARSE", f"graph protobuf cannot be decoded: {err}; ops after "
                                        "that point were not analysed"))
        except (_Stop, RecursionError) as err:
            findings.append(ScanFinding("PS-TF-PARSE", f"graph not analysed to the end: {err}"))
        return Scanned(kind, findings)


@register(priority=92)  # after every pickle handler: appending the magic must not hide a pickle
class TensorflowIndexHandler:
    """``variables.index``: the table of tensor names, shapes and offsets into the data shards."""

    name = "tf-variables-index"

    def sniff(self, data: memoryview) -> bool:
        return len(data) >= 48 and bytes(data[-8:]) == _TABLE_MAGIC

    def scan(self, data: memoryview, ctx: Context) -> Scanned:
        return Scanned("tf-variables-index", [])
