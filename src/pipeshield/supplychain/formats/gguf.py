"""GGUF (llama.cpp) files: header sanity and chat templates that can run code.

Only the header and metadata are read (tensor data is skipped). ``tokenizer.chat_template`` is a
Jinja template that some runtimes render without a sandbox (llama-cpp-python < 0.2.72,
CVE-2024-34359): a template that reaches Python internals (dunder attributes, ``os``, imports,
escaped underscores) is reported as code execution.
"""

from __future__ import annotations

import re
import struct
from typing import Any

from pipeshield.supplychain.formats.base import Context, Scanned, register
from pipeshield.supplychain.results import ScanFinding

__all__ = ["GgufHandler", "template_problem"]

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_DANGER = re.compile(
    r"__\w+__|\\x5f|\\u005f|\\137|\|\s*attr\s*\(|\bimport\b|\bos\.|\bpopen\b|\bsubprocess\b|\beval\s*\("
    r"|\bexec\s*\(|\bgetattr\b|\blipsum\b|\bcycler\b\s*\.|\bjoiner\b\s*\.|\brequest\.application\b"
)
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)


def template_problem(template: str) -> str | None:
    """The dangerous construct inside a Jinja template's expressions, or None."""
    for block in _JINJA.findall(template):
        match = _DANGER.search(block)
        if match:
            return match.group(0)
    return None


class _Bad(Exception):
    pass


class _Cursor:
    def __init__(self, data: memoryview, pos: int, version: int, max_text: int) -> None:
        self.data, self.pos, self.version, self.max_text = data, pos, version, max_text

    def unpack(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise _Bad("metadata runs past the end of the file")
        value = struct.unpack_from(fmt, self.data, self.pos)[0]
        self.pos += size
        return value

    def count(self) -> int:
        return int(self.unpack("<I" if self.version == 1 else "<Q"))

    def string(self) -> str:
        n = self.count()
        if n > self.max_text or self.pos + n > len(self.data):
            raise _Bad(f"string of {n} bytes is implausible")
        raw = bytes(self.data[self.pos:self.pos + n])
        self.pos += n
        return raw.decode("utf-8", "replace")

    def value(self, kind: int, depth: int = 0) -> Any:
        if kind in _SCALARS:
            return self.unpack(_SCALARS[kind])
        if kind == 8:
            return self.string()
        if kind == 9 and depth < 3:
            inner, n = self.unpack("<I"), self.count()
            if n > len(self.data):
                raise _Bad(f"array of {n} items is implausible")
            if inner in _SCALARS:  # skip numeric arrays without decoding them
                size = struct.calcsize(_SCALARS[inner]) * n
                if self.pos + size > len(self.data):
                    raise _Bad("array runs past the end of the file")
                self.pos += size
                return None
            return [self.value(inner, depth + 1) for _ in range(n)]
        raise _Bad(f"unknown metadata value type {kind}")


@register(priority=5)
class GgufHandler:
    name = "gguf"

    def sniff(self, data: memoryview) -> bool:
        return bytes(data[:4]) == b"GGUF"

    def scan(self, data: memoryview, ctx: Context) -> Scanned:
        findings: list[ScanFinding] = []
        try:
            if len(data) < 24:
                raise _Bad("file ends inside the header")
            version = struct.unpack_from("<I", data, 4)[0]
            if version not in (1, 2, 3):
                raise _Bad(f"unknown GGUF version {version}")
            cur = _Cursor(data, 8, version, ctx.limits.max_text)
            tensors, kvs = cur.count(), cur.count()
            if tensors > 10_000_000 or kvs > 1_000_000:
                raise _Bad(f"{tensors} tensors / {kvs} metadata entries is implausible")
            for _ in range(kvs):
                key = cur.string()
                value = cur.value(cur.unpack("<I"))
                if key.startswith("tokenizer.chat_template"):
                    templates = value if isinstance(value, list) else [value]
                    for template in templates:
                        hit = template_problem(template) if isinstance(template, str) else None
                        if hit:
                            findings.append(ScanFinding(
                                "PS-GGUF-TEMPLATE", f"{key} reaches Python internals ({hit!r})", callable=key))
        except _Bad as err:
            findings.append(ScanFinding("PS-GGUF-HEADER", str(err)))
        return Scanned("gguf", findings)
