"""The audit log's errors; they live in :mod:`pipeshield.errors` with every other PipeshieldError.

Kept so that ``from pipeshield.gateway.audit_log._errors import AuditLogError`` keeps working.
"""

from __future__ import annotations

from pipeshield.errors import AuditLogError, LogTamperedError, TamperKind

__all__ = ["AuditLogError", "LogTamperedError", "TamperKind"]
