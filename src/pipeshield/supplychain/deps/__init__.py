"""Dependency audit: known vulnerabilities (OSV), patch level of ML frameworks, and hygiene.

pip-audit's three small interfaces: a :class:`Source` says where dependencies come from
(requirements files, the running environment), a :class:`Service` says which vulnerability data
is asked (an offline OSV export, or the OSV API), and a format renders the :class:`DepsReport`.

    >>> from pipeshield.supplychain.deps import OfflineOSV, RequirementsSource, audit_dependencies
    >>> report = audit_dependencies([RequirementsSource(["requirements.txt"])],
    ...                             OfflineOSV("osv/PyPI-all.zip"))            # doctest: +SKIP
    >>> [(v.dependency.name, v.advisory.id, v.fixed) for v in report.vulnerabilities]
    [('torch', 'GHSA-53q9-r3pm-6pq6', ('2.6.0',))]

No known vulnerability is not the same as safe: the answer is only as complete as the advisory
data and its date, and a malicious package has no advisory until someone writes one (the
typosquat rule is there for that).
"""

from pipeshield.supplychain.deps.audit import NO_SERVICE, audit_dependencies
from pipeshield.supplychain.deps.model import (
    CLEAN_CAVEAT,
    Advisory,
    Dependency,
    DepsReport,
    Issue,
    IssueKind,
    Vulnerability,
)
from pipeshield.supplychain.deps.names import ML_FRAMEWORKS, canonical, is_ml_framework
from pipeshield.supplychain.deps.osv_api import OnlineOSV
from pipeshield.supplychain.deps.osv_db import OfflineOSV
from pipeshield.supplychain.deps.requirements import parse_requirements
from pipeshield.supplychain.deps.services import AdvisoryServiceError, Service
from pipeshield.supplychain.deps.sources import (
    Collected,
    EnvironmentSource,
    RequirementsSource,
    Source,
    installed_distributions,
)
from pipeshield.supplychain.deps.typosquat import shadowed_name

__all__ = [
    "CLEAN_CAVEAT",
    "ML_FRAMEWORKS",
    "NO_SERVICE",
    "Advisory",
    "AdvisoryServiceError",
    "Collected",
    "Dependency",
    "DepsReport",
    "EnvironmentSource",
    "Issue",
    "IssueKind",
    "OfflineOSV",
    "OnlineOSV",
    "RequirementsSource",
    "Service",
    "Source",
    "Vulnerability",
    "audit_dependencies",
    "canonical",
    "installed_distributions",
    "is_ml_framework",
    "parse_requirements",
    "shadowed_name",
]
