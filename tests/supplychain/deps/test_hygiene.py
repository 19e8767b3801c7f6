"""Hygiene rules (pinning, pip's hash rule, extra indexes) and typosquat detection."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeshield.core.findings import Severity
from pipeshield.supplychain.deps import (
    EnvironmentSource,
    IssueKind,
    RequirementsSource,
    audit_dependencies,
    shadowed_name,
)


def _issues(tmp_path: Path, text: str) -> list[tuple[IssueKind, str | None]]:
    req = tmp_path / "requirements.txt"
    req.write_text(text)
    report = audit_dependencies([RequirementsSource([req])], None)
    return [(i.kind, i.package) for i in report.issues]


def test_hash_rule_applies_once_any_line_is_hashed(tmp_path: Path) -> None:
    issues = _issues(tmp_path, "torch==2.6.0 --hash=sha256:aa\nnumpy==2.4.6\n")
    assert issues == [(IssueKind.UNHASHED, "numpy")]
    assert _issues(tmp_path, "torch==2.6.0\nnumpy==2.4.6\n") == []
    assert _issues(tmp_path, "--require-hashes\nnumpy==2.4.6\n") == [(IssueKind.UNHASHED, "numpy")]


def test_hash_rule_spans_included_files(tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("numpy==2.4.6\n")
    assert _issues(tmp_path, "-r base.txt\ntorch==2.6.0 --hash=sha256:aa\n") == [(IssueKind.UNHASHED, "numpy")]


def test_unpinned_unverifiable_editable_and_extra_index(tmp_path: Path) -> None:
    issues = _issues(tmp_path, "numpy>=1.26\npandas\n-e ./mylib\ngit+https://github.com/o/r.git#egg=rlib\n"
                     "--extra-index-url https://internal.example/simple\ntorch==2.6.0\n")
    assert sorted(issues, key=str) == sorted([
        (IssueKind.UNPINNED, "numpy"), (IssueKind.UNPINNED, "pandas"), (IssueKind.EDITABLE, "mylib"),
        (IssueKind.UNVERIFIABLE, "rlib"), (IssueKind.EXTRA_INDEX, None)], key=str)


def test_unhashed_is_low_and_unpinned_medium(tmp_path: Path) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("torch==2.6.0 --hash=sha256:aa\nnumpy>=2\n")
    report = audit_dependencies([RequirementsSource([req])], None)
    severities = {i.kind: i.severity for i in report.issues}
    assert severities == {IssueKind.UNHASHED: Severity.LOW, IssueKind.UNPINNED: Severity.MEDIUM}
    assert report.skipped and "--osv-db" in report.skipped


@pytest.mark.parametrize(("name", "target"), [
    ("torchh", "torch"), ("nunpy", "numpy"), ("scikit_learm", "scikit-learn"), ("reqeusts", "requests"),
    ("numpyy", "numpy"), ("pand4s", "pandas"), ("request5", "requests"), ("n0mpy", "numpy"),
    ("scikitlearn", "scikit-learn"), ("scikit.learn", None), ("b0to3", "boto3"), ("urlllib3", "urllib3"),
    ("co1orama", "colorama"), ("c0l0rama", "colorama"), ("tourchh", None), ("nmupyy", None),
])
def test_typosquats_are_flagged(name: str, target: str | None) -> None:
    # one edit, a swap, or look-alikes/separators only; two edits ("tourchh") are not flagged, and
    # "scikit.learn" is scikit-learn itself under PEP 503
    assert shadowed_name(name) == target


@pytest.mark.parametrize("name", ["torch", "numpy", "requests", "Scikit_Learn", "NumPy", "torchvision",
                                  "attrs", "boto", "six", "sip", "typer", "tomli", "tqdm", "my-private-lib"])
def test_real_projects_are_not_flagged(name: str) -> None:
    assert shadowed_name(name) is None


def test_this_environment_has_no_typosquats() -> None:
    report = audit_dependencies([EnvironmentSource()], None)
    assert [i for i in report.issues if i.kind is IssueKind.TYPOSQUAT] == []
    assert len(report.dependencies) > 20 and all(d.version for d in report.dependencies)
