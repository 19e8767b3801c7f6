"""Plain data that cannot execute code: empty files, JSON (Keras configs are checked), text."""

from __future__ import annotations

import json

from pipeshield.supplychain.formats.base import Context, Scanned, register
from pipeshield.supplychain.formats.keras_config import check_keras_config, looks_like_keras_config

__all__ = ["EmptyHandler", "JsonHandler", "TextHandler"]


@register(priority=-1)
class EmptyHandler:
    name = "empty"

    def sniff(self, data: memoryview) -> bool:
        return len(data) == 0

    def scan(self, data: memoryview, ctx: Context) -> Scanned:
        return Scanned("empty", [])


def _text_head(data: memoryview) -> str | None:
    head = bytes(data[:65536])
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < len(head) - 3 or len(data) <= len(head):
            return None
        text = head[:err.start].decode("utf-8")
    return None if "\x00" in text else text


@register(priority=80)
class JsonHandler:
    name = "json"

    def sniff(self, data: memoryview) -> bool:
        text = _text_head(data)
        return text is not None and text.lstrip()[:1] in ("{", "[")

    def scan(self, data: memoryview, ctx: Context) -> Scanned:
        if len(data) > ctx.limits.max_header:
            return Scanned("json", [])  # too big to be a model config; plain data
        try:
            value = json.loads(bytes(data).decode("utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError):
            return Scanned("text", [])
        if looks_like_keras_config(value):
            return Scanned("keras-config", check_keras_config(value))
        return Scanned("json", [])


@register(priority=95)
class TextHandler:
    name = "text"

    def sniff(self, data: memoryview) -> bool:
        return _text_head(data) is not None

    def scan(self, data: memoryview, ctx: Context) -> Scanned:
        return Scanned("text", [])


