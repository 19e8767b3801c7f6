"""The audit log's errors, in pipeshield's one tree (see :mod:`pipeshield.errors`).

    PipeshieldError
    ├── AuditLogError        the log cannot be opened, written or read (exit code 2)
    └── VerificationError
        └── LogTamperedError the log or a checkpoint does not verify (exit code 1); ``index`` is
                             the first bad record (None when no single record can be named)
"""

from __future__ import annotations

import enum
from typing import Any

from pipeshield.errors import PipeshieldError, VerificationError

__all__ = ["AuditLogError", "LogTamperedError", "TamperKind"]


class AuditLogError(PipeshieldError):
    """The audit log's database cannot be opened, written or read."""


class TamperKind(enum.StrEnum):
    edited = "edited"  # the record's bytes do not match its stored leaf hash
    unchained = "unchained"  # the record does not follow its predecessor (moved, inserted, re-hashed)
    missing = "missing"  # an index is absent (deleted)
    malformed = "malformed"  # the stored text is not a canonical record
    head = "head"  # the stored tree head disagrees with the records (truncated or appended behind its back)
    checkpoint = "checkpoint"  # the log is not a consistent extension of the signed checkpoint
    signature = "signature"  # the checkpoint's signature does not verify with the given key


class LogTamperedError(VerificationError):
    """The log does not verify; ``index`` names the first bad record and ``kind`` what is wrong."""

    def __init__(self, message: str, *, index: int | None, kind: TamperKind, hint: str | None = None) -> None:
        super().__init__(message, problems=[message], hint=hint)
        self.index = index
        self.kind = kind

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (_rebuild, (self.message, self.index, self.kind.value, self.hint))


def _rebuild(message: str, index: int | None, kind: str, hint: str | None) -> LogTamperedError:
    return LogTamperedError(message, index=index, kind=TamperKind(kind), hint=hint)
