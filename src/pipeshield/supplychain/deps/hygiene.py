"""Hygiene rules: what makes a dependency list unauditable or easy to subvert, before any advisory.

- **unpinned** (medium): ``>=``, ``~=``, no specifier. The version installed tomorrow is not the
  one audited today, and no advisory lookup is possible without a version.
- **unverifiable** (medium): a URL, VCS link or local path: no release to look up, and unless
  hashed, nothing ties the bytes to what was reviewed.
- **editable** (medium): ``-e``: a working copy, not a release.
- **unhashed** (low): pip's rule, once any line carries ``--hash`` (or ``--require-hashes`` is
  set) every line must, or the install fails; we report each line that has none.
- **extra-index** (medium): ``--extra-index-url`` lets a public package with a private package's
  name win (dependency confusion); use ``--index-url`` with a proxy that owns the namespace.
- **typosquat** (high): a name one edit or one look-alike character from a well-known project.
"""

from __future__ import annotations

from collections.abc import Iterator

from pipeshield.core.findings import Severity
from pipeshield.supplychain.deps.model import Dependency, Issue, IssueKind
from pipeshield.supplychain.deps.sources import Collected
from pipeshield.supplychain.deps.typosquat import shadowed_name

__all__ = ["SEVERITY", "hygiene_issues"]

SEVERITY: dict[IssueKind, Severity] = {
    IssueKind.UNPINNED: Severity.MEDIUM,
    IssueKind.UNVERIFIABLE: Severity.MEDIUM,
    IssueKind.EDITABLE: Severity.MEDIUM,
    IssueKind.UNHASHED: Severity.LOW,
    IssueKind.EXTRA_INDEX: Severity.MEDIUM,
    IssueKind.TYPOSQUAT: Severity.HIGH,
}


def _issue(kind: IssueKind, dep: Dependency | None, location: str, message: str) -> Issue:
    return Issue(kind, dep.name if dep else None, location, SEVERITY[kind], message)


def _pinning(dep: Dependency) -> Issue | None:
    if dep.editable:
        return _issue(IssueKind.EDITABLE, dep, dep.location,
                      f"{dep.name}: editable install from {dep.url}: a working copy, not a release; cannot be audited")
    if dep.url is not None:
        return _issue(IssueKind.UNVERIFIABLE, dep, dep.location,
                      f"{dep.name}: installed from {dep.url}: no release version to audit"
                      + ("" if dep.hashes else ", and no --hash ties the bytes to what was reviewed"))
    if dep.version is None:
        spec = dep.specifier or "no version specifier"
        return _issue(IssueKind.UNPINNED, dep, dep.location,
                      f"{dep.name} ({spec}): not pinned with ==; the installed version can change and cannot be audited")
    return None


def hygiene_issues(collected: Collected) -> Iterator[Issue]:
    """Every hygiene problem of one source's dependencies."""
    hashing = collected.hash_rule and (collected.require_hashes or any(d.hashes for d in collected.dependencies))
    for dep in collected.dependencies:
        if collected.hash_rule and (issue := _pinning(dep)) is not None:
            yield issue
        if hashing and not dep.hashes:
            yield _issue(IssueKind.UNHASHED, dep, dep.location,
                         f"{dep.name}: no --hash while other requirements are hashed (pip refuses to install "
                         "a mix); add its hashes")
        if (target := shadowed_name(dep.name)) is not None:
            yield _issue(IssueKind.TYPOSQUAT, dep, dep.location,
                         f"{dep.name}: one edit or look-alike away from the well-known {target!r}; a typosquat "
                         f"installs an attacker's code. Check that you meant {target!r}")
    for location, url in collected.extra_index_urls:
        yield _issue(IssueKind.EXTRA_INDEX, None, location,
                     f"--extra-index-url {url}: pip picks the highest version from any index, so a public "
                     "package can take a private package's name (dependency confusion)")
