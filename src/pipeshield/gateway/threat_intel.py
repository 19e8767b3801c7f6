"""Threat intelligence: deny known-bad client addresses, API keys and inputs before they reach a model.

A :class:`Blocklist` holds indicators of three kinds -- client addresses (IPv4/IPv6 addresses and
CIDR networks), API key ids, and input digests (SHA-256) -- loaded from files an operator or a
threat-intel feed provides. :meth:`Blocklist.match` returns the :class:`Indicator` that matched
(its id, name and source, for the log line and the 403) or ``None``.

**Plain list** (any file not ending in ``.json``): one entry per line; ``#`` starts a comment
(a whole line, or after the entry: the comment becomes the indicator's name). Each entry is typed
either by a prefix or by the section it is in::

    # feed: internal incident 2024-17
    ip:203.0.113.5            # scraper
    ip:198.51.100.0/24
    key:key-7f3a              # leaked on a forum
    digest:sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08

    [ip]
    2001:db8::/32
    [key]
    key-0001
    [digest]
    e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

Prefixes and sections: ``ip`` (address or network), ``key`` (API key id), ``digest`` (64 hex digits,
optionally ``sha256:``). A prefix wins over the section. The indicator id is ``FILE:LINE``.

**STIX 2.1** (files ending in ``.json``): a ``bundle`` whose ``indicator`` objects carry
``pattern_type: "stix"`` and a pattern from this subset (anything else is refused, naming the
indicator's id -- patterns are parsed by a small tokenizer, never evaluated)::

    [ipv4-addr:value = '203.0.113.5']            also ipv6-addr; a CIDR value is a network
    [ipv4-addr:value ISSUBSET '198.51.100.0/24']
    [file:hashes.'SHA-256' = '<64 hex digits>']  an input digest
    [user-account:user_id = 'key-7f3a']          an API key id
    [ipv4-addr:value = '203.0.113.5' OR ipv4-addr:value = '203.0.113.6']

Other objects in the bundle are ignored; indicators that are ``revoked``, past ``valid_until`` or
before ``valid_from`` are skipped (they are checked when loading). Every error names the file and
the line or indicator: :class:`ThreatIntelError`.

    >>> blocklist = Blocklist.load("blocked.txt", "feed.json")  # doctest: +SKIP
    >>> hit = blocklist.match(client="203.0.113.5", key_id="key-1", input_digest=None)  # doctest: +SKIP
    >>> hit.id, hit.name, hit.source  # doctest: +SKIP
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pipeshield.errors import ConfigError

__all__ = ["Blocklist", "Indicator", "IndicatorKind", "ThreatIntelError", "parse_stix_pattern"]

MAX_FILE_BYTES = 64 * 1024 * 1024
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ThreatIntelError(ConfigError):
    """A blocklist file is unreadable, malformed, or holds an entry we cannot enforce."""


class IndicatorKind(StrEnum):
    NETWORK = "network"  # a client address (a single address is a /32 or /128 network)
    KEY = "key"
    DIGEST = "digest"


@dataclass(frozen=True)
class Indicator:
    """One blocklist entry; ``id``, ``name`` and ``source`` are what the log and the 403 show."""

    id: str
    name: str
    source: str
    kind: IndicatorKind
    value: str

    def to_dict(self) -> dict[str, str]:
        return {
            "id": self.id,
            "name": self.name,
            "source": self.source,
            "kind": self.kind.value,
            "value": self.value,
        }


def _network(value: str) -> IPNetwork:
    return ipaddress.ip_network(value.strip(), strict=True)


def _digest(value: str) -> str:
    text = value.strip().lower()
    if text.startswith("sha256:"):
        text = text[len("sha256:") :]
    if not _HEX64.match(text):
        raise ValueError(f"{value!r} is not a SHA-256 digest (64 hex digits, optionally 'sha256:')")
    return text


def _normalise(kind: IndicatorKind, value: str) -> str:
    """The canonical value, or ValueError saying what is wrong with it."""
    if kind is IndicatorKind.NETWORK:
        try:
            return str(_network(value))
        except ValueError as err:
            raise ValueError(f"bad IP address or CIDR {value!r} ({err})") from None
    if kind is IndicatorKind.DIGEST:
        return _digest(value)
    if not value.strip() or any(c.isspace() for c in value.strip()):
        raise ValueError(f"bad API key id {value!r} (empty or contains spaces)")
    return value.strip()


# --- the STIX pattern subset ---------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<lbr>\[) | (?P<rbr>\]) |
        (?P<str>'(?:[^'\\]|\\.)*') |
        (?P<op>=|!=|<=|>=|<|>) |
        (?P<path>[a-z0-9-]+:[a-z0-9_]+(?:\.(?:'[^']*'|[A-Za-z0-9_-]+))*) |
        (?P<word>[A-Za-z]+)
    )""",
    re.VERBOSE,
)
_PATHS = {
    "ipv4-addr:value": IndicatorKind.NETWORK,
    "ipv6-addr:value": IndicatorKind.NETWORK,
    "file:hashes.'sha-256'": IndicatorKind.DIGEST,
    "file:hashes.sha256": IndicatorKind.DIGEST,
    "user-account:user_id": IndicatorKind.KEY,
}


def _tokens(pattern: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(pattern):
        if pattern[pos:].strip() == "":
            break
        m = _TOKEN.match(pattern, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"unexpected text at position {pos}: {pattern[pos : pos + 20]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def parse_stix_pattern(pattern: str) -> list[tuple[IndicatorKind, str]]:
    """``[path = 'v' OR path ISSUBSET 'v' ...]`` -> [(kind, canonical value)]; ValueError otherwise."""
    toks = _tokens(pattern)
    if len(toks) < 2 or toks[0][0] != "lbr" or toks[-1][0] != "rbr":
        raise ValueError("a supported pattern is one [ ... ] observation expression")
    body = toks[1:-1]
    if any(kind in ("lbr", "rbr") for kind, _ in body):
        raise ValueError("observation operators between [ ] expressions are not supported")
    out: list[tuple[IndicatorKind, str]] = []
    i = 0
    while True:
        if i + 3 > len(body):
            raise ValueError("expected a comparison: object path, '=' or ISSUBSET, quoted value")
        (pk, path), (ok, op), (vk, value) = body[i : i + 3]
        if pk != "path":
            raise ValueError(f"expected an object path, got {path!r}")
        kind = _PATHS.get(path.lower())
        if kind is None:
            raise ValueError(
                f"unsupported object path {path!r}; supported: {', '.join(sorted(_PATHS))}"
            )
        operator = op.upper()
        if not ((ok == "op" and op == "=") or (ok == "word" and operator == "ISSUBSET")):
            raise ValueError(f"unsupported comparison operator {op!r} (only '=' and ISSUBSET)")
        if operator == "ISSUBSET" and kind is not IndicatorKind.NETWORK:
            raise ValueError(f"ISSUBSET applies to addresses only, not {path!r}")
        if vk != "str":
            raise ValueError(f"expected a quoted string value after {path} {op}, got {value!r}")
        text = value[1:-1].replace("\\'", "'").replace("\\\\", "\\")
        out.append((kind, _normalise(kind, text)))
        i += 3
        if i == len(body):
            return out
        if body[i][0] != "word" or body[i][1].upper() != "OR":
            raise ValueError(f"unsupported operator {body[i][1]!r} (only OR joins comparisons)")
        i += 1


def _timestamp(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"{field} must be a timestamp string, got {value!r}")
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{field} is not a timestamp: {value!r}") from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


# --- the blocklist -------------------------------------------------------------------------------


class Blocklist:
    """Indicators to deny, with constant-time key/digest lookups and per-prefix network lookups."""

    def __init__(self, indicators: Iterable[Indicator] = ()) -> None:
        self._keys: dict[str, Indicator] = {}
        self._digests: dict[str, Indicator] = {}
        self._networks: dict[tuple[int, int], dict[IPNetwork, Indicator]] = {}  # (version, prefix)
        self._all: list[Indicator] = []
        for indicator in indicators:
            self.add(indicator)

    def add(self, indicator: Indicator) -> None:
        value = _normalise(indicator.kind, indicator.value)
        if indicator.kind is IndicatorKind.KEY:
            self._keys.setdefault(value, indicator)
        elif indicator.kind is IndicatorKind.DIGEST:
            self._digests.setdefault(value, indicator)
        else:
            net = _network(value)
            self._networks.setdefault((net.version, net.prefixlen), {}).setdefault(net, indicator)
        self._all.append(indicator)

    @property
    def indicators(self) -> tuple[Indicator, ...]:
        return tuple(self._all)

    def __len__(self) -> int:
        return len(self._all)

    def match(
        self, client: str | None, key_id: str | None, input_digest: str | None
    ) -> Indicator | None:
        """The first indicator matching the API key id, then the client address, then the input
        digest; ``None`` when none does. A client that is not an IP address (a test client, a
        Unix socket) matches no address indicator; a digest may be ``sha256:``-prefixed."""
        if key_id is not None and key_id in self._keys:
            return self._keys[key_id]
        if client:
            try:
                address = ipaddress.ip_address(client.strip("[]"))
            except ValueError:
                address = None
            if address is not None:
                if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
                    address = address.ipv4_mapped
                for (version, prefix), nets in self._networks.items():
                    if version == address.version:
                        net = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
                        if net in nets:
                            return nets[net]
        if input_digest is not None:
            try:
                return self._digests.get(_digest(input_digest))
            except ValueError:
                return None
        return None

    @classmethod
    def load(cls, *paths: str | Path, now: datetime | None = None) -> Blocklist:
        """Load plain lists and STIX bundles (``.json``) into one blocklist."""
        blocklist = cls()
        for path in paths:
            for indicator in _load_file(Path(path), now or datetime.now(UTC)):
                blocklist.add(indicator)
        return blocklist


def _read(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ThreatIntelError(f"cannot read blocklist {path}: {err.strerror or err}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ThreatIntelError(f"blocklist {path} is larger than {MAX_FILE_BYTES} bytes")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ThreatIntelError(f"blocklist {path} is not UTF-8 text (byte {err.start})") from None


def _load_file(path: Path, now: datetime) -> list[Indicator]:
    text = _read(path)
    if path.suffix.lower() == ".json":
        return _load_stix(path, text, now)
    return _load_text(path, text)


_SECTION = re.compile(r"^\[\s*([A-Za-z]+)\s*\]$")
_KINDS = {"ip": IndicatorKind.NETWORK, "key": IndicatorKind.KEY, "digest": IndicatorKind.DIGEST}


def _load_text(path: Path, text: str) -> list[Indicator]:
    out: list[Indicator] = []
    section: IndicatorKind | None = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        entry, _, comment = raw.partition("#")
        entry = entry.strip()
        if not entry:
            continue
        where = f"{path}:{lineno}"
        heading = _SECTION.match(entry)
        if heading:
            section = _KINDS.get(heading[1].lower())
            if section is None:
                raise ThreatIntelError(
                    f"{where}: unknown section [{heading[1]}]",
                    hint="sections are [ip], [key], [digest]",
                )
            continue
        prefix, sep, rest = entry.partition(":")
        kind = _KINDS.get(prefix.lower()) if sep else None
        if kind is not None:
            value = rest
        elif section is not None:
            kind, value = section, entry
        else:
            raise ThreatIntelError(
                f"{where}: entry {entry!r} has no type",
                hint="prefix it with ip:, key: or digest:, or put it under an [ip], [key] or [digest] section",
            )
        try:
            canonical = _normalise(kind, value)
        except ValueError as err:
            raise ThreatIntelError(f"{where}: {err}") from None
        out.append(Indicator(where, comment.strip() or canonical, str(path), kind, canonical))
    return out


def _load_stix(path: Path, text: str, now: datetime) -> list[Indicator]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise ThreatIntelError(
            f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})"
        ) from None
    if isinstance(doc, dict) and doc.get("type") == "indicator":
        objects: Any = [doc]
    elif isinstance(doc, dict) and doc.get("type") == "bundle":
        objects = doc.get("objects", [])
    else:
        raise ThreatIntelError(
            f'{path}: expected a STIX 2.1 bundle (an object with "type": "bundle")'
        )
    if not isinstance(objects, list):
        raise ThreatIntelError(f"{path}: the bundle's 'objects' must be a list")
    out: list[Indicator] = []
    for index, obj in enumerate(objects):
        if not isinstance(obj, dict):
            raise ThreatIntelError(f"{path}: objects[{index}] is not a JSON object")
        if obj.get("type") != "indicator":
            continue
        ident = obj.get("id")
        label = (
            f"indicator {ident}"
            if isinstance(ident, str)
            else f"objects[{index}] (an indicator without an id)"
        )
        try:
            out.extend(_indicator(obj, path, now))
        except ValueError as err:
            raise ThreatIntelError(f"{path}: {label}: {err}") from None
    return out


def _indicator(obj: dict[str, Any], path: Path, now: datetime) -> list[Indicator]:
    ident = obj.get("id")
    if not isinstance(ident, str) or not ident.startswith("indicator--"):
        raise ValueError(f"id must be 'indicator--<uuid>', got {ident!r}")
    if obj.get("pattern_type", "stix") != "stix":
        raise ValueError(f"unsupported pattern_type {obj.get('pattern_type')!r} (only 'stix')")
    pattern = obj.get("pattern")
    if not isinstance(pattern, str):
        raise ValueError("has no pattern string")
    try:
        parsed = parse_stix_pattern(pattern)
    except ValueError as err:
        raise ValueError(f"unsupported pattern {pattern!r}: {err}") from None
    if obj.get("revoked") is True:
        return []
    if "valid_until" in obj and _timestamp(obj["valid_until"], "valid_until") <= now:
        return []
    if "valid_from" in obj and _timestamp(obj["valid_from"], "valid_from") > now:
        return []
    name = obj.get("name") if isinstance(obj.get("name"), str) else ident
    return [Indicator(ident, str(name), str(path), kind, value) for kind, value in parsed]
