"""A standard-library fast path for the plain ``pipeshield sign PATH --key KEY`` invocation.

Signing a large model is bounded by SHA-256 (~1.8 GiB/s here), so start-up is what is left to
win: skipping typer (and its pydantic-based parameter coercion) and rich saves ~0.1 s per call.
Anything but ``PATH``, ``--key/-k``, ``--signature/-s`` and ``--hash`` (``--help``, shards,
``--ignore``, a bad value) returns ``None`` and goes through the typer command in
:mod:`pipeshield.cli.sign`, which owns every usage message. The passphrase comes from
``PIPESHIELD_KEY_PASSPHRASE`` exactly as the typer command reads it.
"""

from __future__ import annotations

import os
import sys

__all__ = ["fast"]

_OPTIONS = {"--key": "key", "-k": "key", "--signature": "signature", "-s": "signature", "--hash": "hash"}


def fast(args: list[str]) -> int | None:
    """Sign for plain arguments and return the exit code; ``None`` when typer must parse them."""
    values: dict[str, str] = {}
    paths: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        name, eq, inline = arg.partition("=")
        if not arg.startswith("-"):
            paths.append(arg)
        elif name in _OPTIONS and (eq or i + 1 < len(args)):
            if not eq:
                i += 1
                inline = args[i]
            if _OPTIONS[name] in values:
                return None
            values[_OPTIONS[name]] = inline
        else:
            return None
        i += 1
    if len(paths) != 1 or "key" not in values or values.get("hash", "sha256") not in ("sha256", "blake3"):
        return None
    from pipeshield.integrity.signing import sign

    result = sign(
        paths[0],
        values["key"],
        signature=values.get("signature"),
        passphrase=os.environ.get("PIPESHIELD_KEY_PASSPHRASE") or None,
        hash_type=values.get("hash", "sha256"),
    )
    sys.stderr.write(f"signed {len(result.manifest.resources)} resource(s) of {paths[0]} -> {result.signature}\n")
    return 0
