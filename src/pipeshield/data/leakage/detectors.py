"""PII and secret detectors: a pattern, an optional checksum, and a mask. They register themselves.

Each detector is a :class:`Detector` subclass with a ``name``, a compiled ``pattern``, a
``validate`` step (a checksum where the format has one: Luhn for cards, mod-97 for IBANs, the
control letter for Spanish DNIs) and a ``mask`` that keeps just enough to recognise a value
(``pa******@example.org``, ``**** **** **** 1111``) and never the whole of it. Reports only ever
hold masked values.

    >>> [m.masked for m in scan_text("write to paula@example.org")]
    ['pa***@example.org']

Adding a detector is one class; ``DETECTORS`` lists them all. Patterns favour precision: a
checksum or a distinctive prefix wherever one exists, since a PII scan that flags every number is
ignored. What they do not find: names, addresses, free-form national IDs of other countries, and
secrets without a known prefix or an ``api_key=``-style assignment.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import ClassVar

__all__ = ["DETECTORS", "Detector", "Match", "iban_valid", "luhn_valid", "scan_text"]

DETECTORS: dict[str, type[Detector]] = {}


@dataclass(frozen=True)
class Match:
    detector: str
    kind: str  # "pii" or "secret"
    masked: str


class Detector:
    name: ClassVar[str]
    kind: ClassVar[str] = "pii"
    description: ClassVar[str] = ""
    pattern: ClassVar[re.Pattern[str]]
    #: Lower runs first; a later detector's match overlapping an earlier one is dropped (the
    #: digits of a checksummed IBAN are not also a phone number).
    priority: ClassVar[int] = 50

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            DETECTORS[cls.name] = cls

    @classmethod
    def candidates(cls, text: str) -> list[tuple[int, int, str]]:
        return [(m.start(), m.end(), m.group(0)) for m in cls.pattern.finditer(text)]

    @classmethod
    def validate(cls, value: str) -> bool:
        return True

    @classmethod
    def mask(cls, value: str) -> str:
        return _keep_last(value, 2)


def _keep_last(value: str, keep: int) -> str:
    """Mask every letter and digit but the last ``keep`` ones; separators stay for readability."""
    total = sum(ch.isalnum() for ch in value)
    out, seen = [], 0
    for ch in value:
        if ch.isalnum():
            seen += 1
            out.append(ch if seen > total - keep else "*")
        else:
            out.append(ch)
    return "".join(out)


def luhn_valid(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    if len(digits) < 12:
        return False
    checksum = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        checksum += d
    return checksum % 10 == 0


def iban_valid(value: str) -> bool:
    compact = re.sub(r"\s", "", value).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", compact):
        return False
    if compact[:2] in _IBAN_LENGTHS and len(compact) != _IBAN_LENGTHS[compact[:2]]:
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


_IBAN_LENGTHS = {"DE": 22, "GB": 22, "FR": 27, "ES": 24, "IT": 27, "NL": 18, "BE": 16, "CH": 21, "AT": 20,
                 "IE": 22, "PL": 28, "PT": 25, "SE": 24, "DK": 18, "FI": 18, "NO": 15, "LU": 20}


def entropy(value: str) -> float:
    """Shannon entropy in bits per character: random tokens score high, words and IDs low."""
    counts = Counter(value)
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values()) if n else 0.0


class Email(Detector):
    name = "email"
    priority = 20
    description = "e-mail address"
    pattern = re.compile(r"\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}\b")

    @classmethod
    def mask(cls, value: str) -> str:
        local, _, domain = value.partition("@")
        return f"{local[:2]}{'*' * max(len(local) - 2, 3)}@{domain}"


class Phone(Detector):
    name = "phone"
    priority = 90
    description = "phone number (E.164 and common national formats)"
    pattern = re.compile(
        r"(?<![\w+])(?:\+[1-9]\d{0,2}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){2,4}"  # +44 20 7946 0958
        r"|\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}"                                                      # (555) 123-4567
        r"|\b\d{3}[.-]\d{3}[.-]\d{4}"                                                           # 555-123-4567
        r"|\b0\d{2,4}[ -]\d{3,4}[ -]?\d{3,4})(?![\w])"                                          # 020 7946 0958
    )

    @classmethod
    def validate(cls, value: str) -> bool:
        digits = sum(ch.isdigit() for ch in value)
        return 9 <= digits <= 15


class CreditCard(Detector):
    priority = 30
    name = "credit_card"
    description = "payment card number (Luhn-valid, known issuer prefix)"
    pattern = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")

    @classmethod
    def validate(cls, value: str) -> bool:
        digits = re.sub(r"\D", "", value)
        prefix_ok = re.match(r"4|5[1-5]|2[2-7]|3[47]|6(?:011|5)|3(?:0[0-5]|[68])|35", digits) is not None
        return 13 <= len(digits) <= 19 and prefix_ok and luhn_valid(digits)

    @classmethod
    def mask(cls, value: str) -> str:
        digits = re.sub(r"\D", "", value)
        groups = ["****"] * ((len(digits) - 4 + 3) // 4)
        return " ".join([*groups, digits[-4:]])


class Iban(Detector):
    priority = 30
    name = "iban"
    description = "IBAN (mod-97 valid)"
    pattern = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")

    @classmethod
    def validate(cls, value: str) -> bool:
        return iban_valid(value)

    @classmethod
    def mask(cls, value: str) -> str:
        compact = re.sub(r"\s", "", value)
        return compact[:2] + "*" * (len(compact) - 6) + compact[-4:]


class UsSsn(Detector):
    name = "us_ssn"
    description = "US social security number"
    pattern = re.compile(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b")

    @classmethod
    def mask(cls, value: str) -> str:
        return "***-**-" + value[-4:]


class UkNino(Detector):
    name = "uk_nino"
    description = "UK National Insurance number"
    pattern = re.compile(r"\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b")


class SpanishDni(Detector):
    name = "es_dni"
    description = "Spanish DNI (control letter checked)"
    pattern = re.compile(r"\b\d{8}-?[A-HJ-NP-TV-Z]\b")
    _LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"

    @classmethod
    def validate(cls, value: str) -> bool:
        digits = re.sub(r"\D", "", value)
        return cls._LETTERS[int(digits) % 23] == value[-1]


class AwsAccessKey(Detector):
    priority = 10
    name = "aws_access_key_id"
    kind = "secret"
    description = "AWS access key id"
    pattern = re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z2-7]{16}\b")

    @classmethod
    def mask(cls, value: str) -> str:
        return value[:4] + "*" * (len(value) - 4)


class GitHubToken(Detector):
    priority = 10
    name = "github_token"
    kind = "secret"
    description = "GitHub token"
    pattern = re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{60,255})\b")

    @classmethod
    def mask(cls, value: str) -> str:
        head = value.split("_", 1)[0] + "_"
        if value.startswith("github_pat_"):
            head = "github_pat_"
        return head + f"***({len(value)} chars)"


class SlackToken(Detector):
    priority = 10
    name = "slack_token"
    kind = "secret"
    description = "Slack token"
    pattern = re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,250}\b")

    @classmethod
    def mask(cls, value: str) -> str:
        return value[:5] + f"***({len(value)} chars)"


class PrivateKey(Detector):
    priority = 10
    name = "private_key"
    kind = "secret"
    description = "private key (PEM header)"
    pattern = re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----")

    @classmethod
    def mask(cls, value: str) -> str:
        return value  # the header is not secret; the key body is never captured


class AssignedSecret(Detector):
    priority = 15
    name = "assigned_secret"
    kind = "secret"
    description = "high-entropy value assigned to api_key / secret / token / password"
    pattern = re.compile(
        r"(?i)\b(?:api[_-]?key|apikey|secret(?:[_-]?key)?|access[_-]?token|auth[_-]?token|token|password|passwd)"
        r"\s*[:=]\s*[\"']?([A-Za-z0-9_\-/+=.]{16,})"
    )

    @classmethod
    def candidates(cls, text: str) -> list[tuple[int, int, str]]:
        return [(m.start(1), m.end(1), m.group(1)) for m in cls.pattern.finditer(text)]

    @classmethod
    def validate(cls, value: str) -> bool:
        return entropy(value) >= 3.5

    @classmethod
    def mask(cls, value: str) -> str:
        return value[:2] + f"***({len(value)} chars)"


def scan_text(text: str, detectors: tuple[str, ...] | None = None) -> list[Match]:
    """Every validated, non-overlapping match in ``text``, masked."""
    taken: list[tuple[int, int]] = []
    out: list[Match] = []
    for cls in sorted(DETECTORS.values(), key=lambda c: c.priority):
        if detectors is not None and cls.name not in detectors:
            continue
        for start, end, value in cls.candidates(text):
            if any(start < e and s < end for s, e in taken) or not cls.validate(value):
                continue
            taken.append((start, end))
            out.append(Match(cls.name, cls.kind, cls.mask(value)))
    return out
