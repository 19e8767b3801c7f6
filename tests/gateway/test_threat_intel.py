"""Blocklists from plain lists and STIX 2.1 bundles: planted indicators match, everything else does
not, and malformed files fail with errors that name the file and the line or indicator."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from pipeshield.errors import ConfigError
from pipeshield.gateway.threat_intel import (
    Blocklist,
    IndicatorKind,
    ThreatIntelError,
    parse_stix_pattern,
)

DIGEST = hashlib.sha256(b"a poisoned input").hexdigest()
ID_IP = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"
ID_NET = "indicator--1a0a6f0e-7a4e-4a57-8a8f-1d5b0b2f3c11"
ID_HASH = "indicator--c2f2a2b4-9f9e-4b0e-8f0a-2e9e3c7d4a55"
ID_KEY = "indicator--5b6c7d8e-1111-4222-8333-944455566677"


def _indicator(ident: str, pattern: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "indicator", "spec_version": "2.1", "id": ident,
        "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
        "pattern": pattern, "pattern_type": "stix", "valid_from": "2024-01-01T00:00:00Z", **extra,
    }  # fmt: skip


def _bundle(tmp_path: Path, *objects: dict[str, Any], name: str = "feed.json") -> Path:
    path = tmp_path / name
    bundle = {
        "type": "bundle",
        "id": "bundle--0f0e0d0c-0b0a-4909-8807-060504030201",
        "objects": list(objects),
    }
    path.write_text(json.dumps(bundle))
    return path


@pytest.fixture
def feed(tmp_path: Path) -> Path:
    return _bundle(
        tmp_path,
        {"type": "identity", "spec_version": "2.1", "id": "identity--0c6e5a3d-1c58-4a5e-9a2b-7f0c3d2e1b4a",
         "name": "ACME CERT", "identity_class": "organization"},
        _indicator(ID_IP, "[ipv4-addr:value = '203.0.113.5']", name="scraper"),
        _indicator(ID_NET, "[ipv4-addr:value ISSUBSET '198.51.100.0/24']", name="botnet range"),
        _indicator(ID_HASH, f"[file:hashes.'SHA-256' = '{DIGEST.upper()}']", name="poisoned input"),
        _indicator(ID_KEY, "[user-account:user_id = 'key-leaked']"),
        _indicator("indicator--00000000-0000-4000-8000-000000000001", "[ipv4-addr:value = '192.0.2.1']", revoked=True),
        _indicator("indicator--00000000-0000-4000-8000-000000000002", "[ipv4-addr:value = '192.0.2.2']",
                   valid_until="2024-06-01T00:00:00Z"),
    )  # fmt: skip


def test_stix_bundle_indicators_match_and_name_themselves(feed: Path) -> None:
    blocklist = Blocklist.load(feed)
    assert len(blocklist) == 4  # the revoked and the expired indicators are skipped
    hit = blocklist.match("203.0.113.5", "key-ok", None)
    assert hit is not None and (hit.id, hit.name, hit.source) == (ID_IP, "scraper", str(feed))
    net = blocklist.match("198.51.100.77", None, None)
    assert net is not None and net.id == ID_NET and net.kind is IndicatorKind.NETWORK
    assert blocklist.match("::ffff:198.51.100.9", None, None) == net  # IPv4-mapped IPv6
    digest = blocklist.match(None, None, f"sha256:{DIGEST}")
    assert digest is not None and digest.id == ID_HASH and digest.to_dict()["kind"] == "digest"
    key = blocklist.match("10.0.0.1", "key-leaked", DIGEST)
    assert key is not None and key.id == ID_KEY and key.name == ID_KEY  # key first; no name -> id
    for client in (
        "203.0.113.6",
        "198.51.101.1",
        "192.0.2.1",
        "192.0.2.2",
        "testclient",
        "2001:db8::1",
    ):
        assert blocklist.match(client, "key-ok", "0" * 64) is None, client


def test_plain_list_by_prefix_and_section(tmp_path: Path) -> None:
    path = tmp_path / "blocked.txt"
    path.write_text(
        "# internal incident 17\n"
        "ip:203.0.113.5   # scraper\n"
        "IP:198.51.100.0/24\n"
        "key:key-7f3a  # leaked\n"
        f"digest:sha256:{DIGEST}\n"
        "\n[ip]\n2001:db8::/32\n"
        "[key]\nkey-0001\n"
        "[digest]\n" + "e" * 64 + "\n"
    )
    blocklist = Blocklist.load(path)
    assert len(blocklist) == 7
    hit = blocklist.match("203.0.113.5", None, None)
    assert hit is not None and (hit.id, hit.name) == (f"{path}:2", "scraper")
    assert blocklist.match("2001:db8:ffff::1", None, None) is not None
    assert blocklist.match(None, "key-0001", None) is not None
    found = blocklist.match(None, None, DIGEST.upper())
    assert found is not None and found.id == f"{path}:5"
    assert blocklist.match("203.0.113.4", "key-7f3b", "f" * 64) is None


def test_several_files_merge(tmp_path: Path, feed: Path) -> None:
    plain = tmp_path / "more.txt"
    plain.write_text("key:other\n")
    blocklist = Blocklist.load(feed, plain)
    assert blocklist.match(None, "other", None) is not None and len(blocklist) == 5


@pytest.mark.parametrize(
    ("pattern", "fragment"),
    [
        (
            "[ipv4-addr:value = '203.0.113.5'] AND [ipv4-addr:value = '1.2.3.4']",
            "observation operators",
        ),
        ("[ipv4-addr:value = '203.0.113.5' AND ipv4-addr:value = '1.2.3.4']", "only OR"),
        ("[domain-name:value = 'evil.example']", "unsupported object path 'domain-name:value'"),
        ("[ipv4-addr:value != '203.0.113.5']", "unsupported comparison operator '!='"),
        ("[ipv4-addr:value MATCHES '^203']", "unsupported comparison operator 'MATCHES'"),
        ("[file:hashes.'SHA-256' ISSUBSET '00']", "ISSUBSET applies to addresses only"),
        ("[file:hashes.'MD5' = 'd41d8cd98f00b204e9800998ecf8427e']", "unsupported object path"),
        ("[ipv4-addr:value = '203.0.113.5'] WITHIN 5 SECONDS", "unexpected text at position 40"),
        ("ipv4-addr:value = '203.0.113.5'", "observation expression"),
        ("[ipv4-addr:value = __import__('os')]", "unexpected text"),
        ("[ipv4-addr:value = '198.51.100.0/33']", "bad IP address or CIDR '198.51.100.0/33'"),
        ("[file:hashes.'SHA-256' = 'abc']", "not a SHA-256 digest"),
    ],
)
def test_unsupported_patterns_are_refused(pattern: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=None) as info:
        parse_stix_pattern(pattern)
    assert fragment in str(info.value)


def test_pattern_or_yields_every_value() -> None:
    parsed = parse_stix_pattern(
        "[ipv4-addr:value = '203.0.113.5' OR ipv6-addr:value = '2001:db8::1']"
    )
    assert parsed == [
        (IndicatorKind.NETWORK, "203.0.113.5/32"),
        (IndicatorKind.NETWORK, "2001:db8::1/128"),
    ]


def test_bad_json_names_file_and_position(tmp_path: Path) -> None:
    path = tmp_path / "feed.json"
    path.write_text('{"type": "bundle", "objects": [\n  {"type": "indicator",}\n]}')
    with pytest.raises(ThreatIntelError) as info:
        Blocklist.load(path)
    assert str(path) in info.value.message and "not valid JSON (line 2" in info.value.message
    assert isinstance(info.value, ConfigError)


def test_unsupported_pattern_names_file_and_indicator(tmp_path: Path) -> None:
    path = _bundle(tmp_path, _indicator(ID_IP, "[url:value = 'http://evil.example/']"))
    with pytest.raises(ThreatIntelError) as info:
        Blocklist.load(path)
    assert info.value.message.startswith(f"{path}: indicator {ID_IP}: unsupported pattern")
    assert "url:value" in info.value.message


def test_bad_cidr_names_file_and_indicator(tmp_path: Path) -> None:
    path = _bundle(tmp_path, _indicator(ID_NET, "[ipv4-addr:value ISSUBSET '198.51.100.7/24']"))
    with pytest.raises(ThreatIntelError) as info:
        Blocklist.load(path)
    message = info.value.message
    assert (
        str(path) in message
        and ID_NET in message
        and "bad IP address or CIDR '198.51.100.7/24'" in message
    )


@pytest.mark.parametrize(
    ("objects", "fragment"),
    [
        (
            [
                _indicator("indicator--x", "[ipv4-addr:value = '1.2.3.4']")
                | {"pattern_type": "sigma"}
            ],
            "unsupported pattern_type 'sigma'",
        ),
        ([{"type": "indicator", "id": ID_IP}], f"indicator {ID_IP}: has no pattern"),
        (
            [{"type": "indicator", "pattern": "[ipv4-addr:value = '1.2.3.4']"}],
            "objects[0] (an indicator without an id)",
        ),
        (
            [_indicator(ID_IP, "[ipv4-addr:value = '1.2.3.4']", valid_until="soon")],
            "valid_until is not a timestamp",
        ),
        (["not an object"], "objects[0] is not a JSON object"),
    ],
)
def test_malformed_indicators(tmp_path: Path, objects: list[Any], fragment: str) -> None:
    path = tmp_path / "feed.json"
    path.write_text(json.dumps({"type": "bundle", "objects": objects}))
    with pytest.raises(ThreatIntelError) as info:
        Blocklist.load(path)
    assert fragment in info.value.message and str(path) in info.value.message


def test_not_a_bundle(tmp_path: Path) -> None:
    path = tmp_path / "feed.json"
    path.write_text("[1, 2]")
    with pytest.raises(ThreatIntelError, match="expected a STIX 2.1 bundle"):
        Blocklist.load(path)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("203.0.113.5\n", "blocked.txt:1: entry '203.0.113.5' has no type"),
        ("ip:10.0.0.0/33\n", "blocked.txt:1: bad IP address or CIDR '10.0.0.0/33'"),
        (
            "# ok\n\n[ip]\n10.0.0.1\n10.0.0.300\n",
            "blocked.txt:5: bad IP address or CIDR '10.0.0.300'",
        ),
        ("[hosts]\nexample.com\n", "blocked.txt:1: unknown section [hosts]"),
        ("digest:xyz\n", "blocked.txt:1: 'xyz' is not a SHA-256 digest"),
        ("key:two words\n", "bad API key id 'two words'"),
    ],
)
def test_malformed_plain_lists_name_the_line(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "blocked.txt"
    path.write_text(text)
    with pytest.raises(ThreatIntelError) as info:
        Blocklist.load(path)
    assert fragment in info.value.message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ThreatIntelError, match="cannot read blocklist .*nope.txt"):
        Blocklist.load(tmp_path / "nope.txt")
