"""ONNX models, parsed with the onnx package's protobuf and never run.

Reported: external-data locations that leave the model folder (absolute paths, ``..``, drive
letters: CVE-2022-25882, CVE-2024-27318) and operators from custom domains, which need native
code registered by the runtime. External data is never loaded.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from typing import Any

from pipeshield.supplychain.formats.base import Context, Scanned, register
from pipeshield.supplychain.results import ScanFinding

__all__ = ["OnnxHandler", "escapes"]

STANDARD_DOMAINS = frozenset({
    "", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training", "com.microsoft",
    "com.microsoft.nchwc", "com.microsoft.experimental", "com.ms.internal.nhwc",
})


def escapes(location: str) -> bool:
    """Whether an external-data location can point outside the model's folder."""
    loc = location.replace("\\", "/")
    if loc.startswith(("/", "~")) or (len(loc) > 1 and loc[1] == ":"):
        return True
    norm = posixpath.normpath(loc)
    return norm == ".." or norm.startswith("../")


def _graphs(graph: Any) -> Iterator[Any]:
    stack = [graph]
    while stack:
        g = stack.pop()
        yield g
        for node in g.node:
            for attr in node.attribute:
                if attr.HasField("g"):
                    stack.append(attr.g)
                stack.extend(attr.graphs)


def _tensors(graph: Any) -> Iterator[Any]:
    yield from graph.initializer
    yield from (s.values for s in graph.sparse_initializer)
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors


@register(priority=20)
class OnnxHandler:
    name = "onnx"

    def sniff(self, data: memoryview) -> bool:
        head = bytes(data[:512])
        return head[:1] == b"\x08" and len(data) > 16 and (
            b"onnx" in head.lower() or b"pytorch" in head or b"skl2onnx" in head or b"tf2onnx" in head)

    def scan(self, data: memoryview, ctx: Context) -> Scanned:
        try:
            import onnx
            from google.protobuf.message import DecodeError
        except ImportError:
            return Scanned("onnx", [ScanFinding("PS-ARCHIVE-UNSUPPORTED", "onnx is not installed")])
        model = onnx.ModelProto()
        try:
            model.ParseFromString(bytes(data))
        except (DecodeError, ValueError, RecursionError) as err:
            return Scanned("onnx", [ScanFinding("PS-ONNX-PARSE", f"protobuf does not parse: {err}")])
        findings: list[ScanFinding] = []
        local = {f.domain for f in model.functions}
        for graph in _graphs(model.graph):
            for tensor in _tensors(graph):
                for entry in tensor.external_data:
                    if entry.key == "location" and escapes(entry.value):
                        findings.append(ScanFinding(
                            "PS-ONNX-EXTERNAL-PATH", f"tensor {tensor.name!r} reads external data from "
                            f"{entry.value!r}", callable=entry.value))
            for node in graph.node:
                if node.domain not in STANDARD_DOMAINS and node.domain not in local:
                    findings.append(ScanFinding(
                        "PS-ONNX-CUSTOM-OP", f"operator {node.op_type!r} from custom domain {node.domain!r}",
                        callable=f"{node.domain}.{node.op_type}"))
        return Scanned("onnx", findings)
