"""Continuous validation: check a batch against a profile of trusted data.

    >>> from pipeshield.data.profile import load_profile
    >>> from pipeshield.data.validate import validate
    >>> result = validate("incoming.csv", load_profile("profile.json"))   # doctest: +SKIP
    >>> result.conforms                                                    # doctest: +SKIP
"""

from pipeshield.data.validate.results import (
    VIOLATION_KINDS,
    ColumnDrift,
    ValidationResult,
    Violation,
)
from pipeshield.data.validate.run import ValidationSettings, validate

__all__ = ["VIOLATION_KINDS", "ColumnDrift", "ValidationResult", "ValidationSettings", "Violation", "validate"]
