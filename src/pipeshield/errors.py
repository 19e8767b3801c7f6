"""The one error tree of pipeshield.

Every failure that a user can cause or fix is a :class:`PipeshieldError`. The CLI catches only this
class: it prints :meth:`PipeshieldError.diagnostics` (one line, plus a hint) and exits with code 2.
Anything else is a bug and shows a traceback.

    PipeshieldError
    ├── ConfigError          the pipeline file is malformed or refers to something wrong
    ├── DatasetError         a dataset cannot be read or lacks its label column
    ├── TargetError          a model cannot be loaded or queried
    │   └── EndpointError    an HTTP endpoint refused or failed a request
    ├── ArtifactError        a referenced file is missing or unreadable
    ├── ReportError          a report cannot be read (gate) or written
    ├── CheckError           a check was misused (unknown id, bad threshold)
    ├── KeyFileError         a key file cannot be read, or is the wrong kind of key
    ├── AuditLogError        the gateway's audit log cannot be opened, written or read
    └── VerificationError    a signature does not verify (exit code 1, not 2: a finding, not a
        │                    usage error); ``problems`` lists every reason, each naming its file
        └── LogTamperedError the audit log or a checkpoint does not verify; ``index`` is the first
                             bad record (None when no single record can be named), ``kind`` a TamperKind

Example::

    try:
        pipeline = load_pipeline("pipeshield.toml")
    except PipeshieldError as err:
        print(err.diagnostics())
"""

from __future__ import annotations

import enum
from typing import Any

__all__ = [
    "ArtifactError",
    "AuditLogError",
    "CheckError",
    "ConfigError",
    "DatasetError",
    "EndpointError",
    "PipeshieldError",
    "KeyFileError",
    "LogTamperedError",
    "ReportError",
    "TamperKind",
    "TargetError",
    "VerificationError",
]


class PipeshieldError(Exception):
    """Base of every error a user can cause; ``diagnostics()`` is what they read."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def diagnostics(self) -> str:
        """One line that names the cause, and a hint line when we have one."""
        text = self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:  # keep message and hint across processes
        return (_rebuild, (type(self), self.message, self.hint))


def _rebuild(cls: type[PipeshieldError], message: str, hint: str | None) -> PipeshieldError:
    return cls(message, hint=hint)


class ConfigError(PipeshieldError):
    """The pipeline file is malformed, or a key holds a wrong value."""


class DatasetError(PipeshieldError):
    """A dataset cannot be read, has the wrong shape, or lacks its label."""


class TargetError(PipeshieldError):
    """A model cannot be loaded or queried."""


class EndpointError(TargetError):
    """A served endpoint failed a request after its retries."""


class ArtifactError(PipeshieldError):
    """A referenced file is missing, unreadable, or not what it claims to be."""


class ReportError(PipeshieldError):
    """A report cannot be read (for the gate) or written."""


class CheckError(PipeshieldError):
    """A check was asked for that does not exist, or with settings it cannot use."""


class KeyFileError(PipeshieldError):
    """A key file is missing, unreadable, encrypted without a passphrase, or of an unsupported type."""


class VerificationError(PipeshieldError):
    """A signature failed to verify. ``problems`` holds one line per reason."""

    def __init__(self, message: str, *, problems: list[str] | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.problems = list(problems or [])

    def diagnostics(self) -> str:
        lines = [self.message, *(f"  - {p}" for p in self.problems[1:] if self.problems)]
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (_rebuild_verification, (self.message, self.problems, self.hint))


def _rebuild_verification(message: str, problems: list[str], hint: str | None) -> VerificationError:
    return VerificationError(message, problems=problems, hint=hint)


class AuditLogError(PipeshieldError):
    """The gateway's audit log database cannot be opened, written or read."""


class TamperKind(enum.StrEnum):
    """What :class:`LogTamperedError` found wrong with the audit log."""

    edited = "edited"  # the record's bytes do not match its stored leaf hash
    unchained = "unchained"  # the record does not follow its predecessor (moved, inserted, re-hashed)
    missing = "missing"  # an index is absent (deleted)
    malformed = "malformed"  # the stored text is not a canonical record
    head = "head"  # the stored tree head disagrees with the records (truncated or appended behind its back)
    checkpoint = "checkpoint"  # the log is not a consistent extension of the signed checkpoint
    signature = "signature"  # the checkpoint's signature does not verify with the given key


class LogTamperedError(VerificationError):
    """The audit log does not verify; ``index`` names the first bad record and ``kind`` what is wrong."""

    def __init__(self, message: str, *, index: int | None, kind: TamperKind, hint: str | None = None) -> None:
        super().__init__(message, problems=[message], hint=hint)
        self.index = index
        self.kind = kind

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (_rebuild_tampered, (self.message, self.index, self.kind.value, self.hint))


def _rebuild_tampered(message: str, index: int | None, kind: str, hint: str | None) -> LogTamperedError:
    return LogTamperedError(message, index=index, kind=TamperKind(kind), hint=hint)
