"""Validating a batch against a profile: the continuous-validation gate for incoming data.

Malicious feature injection shows up as columns nobody asked for, values outside anything seen in
trusted data, types that changed, categories that never existed, nulls where there were none, and
distributions that moved. :func:`validate` streams the batch once and reports each as a
:class:`Violation` naming the column, the first rows and the statistic with its threshold.

    >>> result = validate("incoming.csv", load_profile("profile.json"))    # doctest: +SKIP
    >>> result.conforms, [v.column for v in result.violations]              # doctest: +SKIP

What it does not prove: a batch that conforms can still be poisoned (label flips and clean-label
backdoors keep every column in range and in distribution); see the poisoning detectors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeshield.core.findings import Severity
from pipeshield.data.profile.learn import chunk_frame
from pipeshield.data.profile.model import Profile
from pipeshield.data.reading import DEFAULT_CHUNK_ROWS, detect_format, iter_chunks
from pipeshield.data.validate.batch import BatchColumn, BatchStats
from pipeshield.data.validate.drift import (
    chi2_homogeneity,
    equal_mass_groups,
    group_counts,
    ks_two_sample,
    psi,
)
from pipeshield.data.validate.mmd import mmd_test
from pipeshield.data.validate.results import ColumnDrift, ValidationResult, Violation
from pipeshield.errors import DatasetError

__all__ = ["ValidationSettings", "validate"]


class ValidationSettings(BaseModel):
    """Thresholds of the gate; every one is reported beside the result it produced."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alpha: float = Field(default=0.01, gt=0, lt=1, description="family-wise significance (Bonferroni across columns)")
    psi_minor: float = Field(default=0.1, ge=0, description="PSI below this is stable: no drift is flagged")
    psi_major: float = Field(default=0.25, ge=0, description="PSI above this is a major shift (severity high)")
    range_tolerance: float = Field(default=0.1, ge=0, description="allowed overshoot of the trusted range, as a share of its span")
    range_major: float = Field(default=1.0, ge=0, description="an overshoot beyond this share of the span is severity high (else medium)")
    null_tolerance: float = Field(default=0.05, ge=0, le=1, description="allowed rise of a column's null share")
    min_rows_for_drift: int = Field(default=20, ge=2, description="smaller batches skip the drift tests")
    reservoir_rows: int = Field(default=2000, ge=10, description="rows of the batch sampled for KS and MMD")
    mmd_rows: int = Field(default=500, ge=10, le=5000, description="rows per side in the MMD test")
    mmd_permutations: int = Field(default=200, ge=20, le=10_000)
    min_column_overlap: float = Field(default=0.5, gt=0, le=1, description="below this share of shared columns the profile is from another dataset")
    chunk_rows: int = Field(default=DEFAULT_CHUNK_ROWS, ge=1)
    keep_rows: int = Field(default=10, ge=1, le=1000, description="offending row numbers listed per violation")
    seed: int = 0


def validate(path: Path | str, profile: Profile, settings: ValidationSettings | None = None,
             *, fmt: str | None = None, profile_name: str = "profile") -> ValidationResult:
    """Validate the file at ``path`` against ``profile``; raises DatasetError when it can't."""
    s = settings or ValidationSettings()
    path = Path(path)
    kind = detect_format(path, fmt)
    x_key = str(profile.settings.get("x_key", "x"))
    label_key = profile.label if kind == "npz" and profile.label else None
    stats: BatchStats | None = None
    present: list[str] = []
    unexpected: list[str] = []
    for chunk in iter_chunks(path, fmt=kind, chunk_rows=s.chunk_rows, x_key=x_key, label_key=label_key):
        frame = chunk_frame(chunk)
        if stats is None:
            _check_kind(profile, chunk.layout, path, profile_name)
            names = [str(c) for c in frame.columns]
            present = [c for c in profile.names if c in names]
            unexpected = [c for c in names if c not in profile.names]
            _check_overlap(profile, present, names, path, profile_name, s.min_column_overlap)
            stats = BatchStats(profile, present, keep=s.keep_rows, range_tolerance=s.range_tolerance,
                               reservoir_rows=s.reservoir_rows, seed=s.seed)
        stats.update(frame, chunk.start)
    assert stats is not None
    violations: list[Violation] = []
    missing = [c for c in profile.feature_names if c not in present]
    for name in missing:
        violations.append(Violation("missing_column", name, Severity.HIGH,
                                    f"column {name!r} of the profile is missing from the batch"))
    for name in unexpected:
        violations.append(Violation(
            "unexpected_column", name, Severity.HIGH,
            f"column {name!r} is not in the profile: an injected or renamed feature", count=stats.rows))
    for name, col in stats.columns.items():
        violations.extend(_column_violations(name, col, stats.rows, s))
    drift = _drift(stats, s) if stats.rows >= s.min_rows_for_drift else []
    for d in drift:
        if d.drifted:
            severity = Severity.HIGH if d.psi > s.psi_major else Severity.MEDIUM
            violations.append(Violation(
                "drift", d.column, severity,
                f"column {d.column!r} drifted: {d.test} statistic {d.statistic:.3f}, p = {d.p_value:.2g} "
                f"(threshold {d.threshold:.2g}), PSI {d.psi:.3f}",
                count=stats.rows, statistic=f"{d.test}_p_value", value=d.p_value, threshold=d.threshold))
    multivariate = _multivariate(stats, s) if stats.rows >= s.min_rows_for_drift else None
    if multivariate is not None and multivariate["drifted"]:
        top = sorted(drift, key=lambda d: -d.psi)[:3]
        violations.append(Violation(
            "multivariate_drift", "(all numeric columns)", Severity.MEDIUM,
            f"rows as a whole drifted: MMD {multivariate['statistic']:.4f}, permutation p = "
            f"{multivariate['p_value']:.3g} < {s.alpha} (largest PSI: {', '.join(d.column for d in top)})",
            count=stats.rows, statistic="mmd_p_value", value=multivariate["p_value"], threshold=s.alpha))
    order = {"missing_column": 0, "unexpected_column": 1, "type_violation": 2, "range_violation": 3,
             "unseen_category": 4, "null_spike": 5, "drift": 6, "multivariate_drift": 7}
    violations.sort(key=lambda v: (-v.severity.rank, order[v.kind], v.column))
    return ValidationResult(
        file=str(path),
        rows=stats.rows,
        violations=tuple(violations),
        drift=tuple(drift),
        multivariate=multivariate,
        profile={"sources": [s_.name for s_ in profile.sources], "rows": profile.rows, "label": profile.label},
        settings=s.model_dump(),
    )


def _check_kind(profile: Profile, layout: object, path: Path, profile_name: str) -> None:
    shape = list(getattr(layout, "shape", ())) if layout is not None else None
    if profile.kind == "images" and (shape is None or profile.layout is None or shape != profile.layout.get("shape")):
        want = profile.layout.get("shape") if profile.layout else "?"
        raise DatasetError(f"{path}: examples of shape {shape} do not match {profile_name} (images of shape {want})",
                           hint="is this the profile of this dataset?")


def _check_overlap(profile: Profile, present: list[str], names: list[str], path: Path, profile_name: str,
                   minimum: float) -> None:
    wanted = profile.feature_names
    shared = [c for c in present if c in wanted]
    if not wanted or len(shared) < minimum * len(wanted):
        raise DatasetError(
            f"{path}: shares {len(shared)} of {len(wanted)} columns with {profile_name} "
            f"(learned from {', '.join(s.name for s in profile.sources) or 'another file'}): "
            f"a profile of another dataset",
            hint=f"batch columns: {', '.join(names[:8])}{' ...' if len(names) > 8 else ''}; "
                 f"profile columns: {', '.join(wanted[:8])}{' ...' if len(wanted) > 8 else ''}",
        )


def _column_violations(name: str, col: BatchColumn, rows: int, s: ValidationSettings) -> list[Violation]:
    out: list[Violation] = []
    p = col.profile
    if col.bad_type.count:
        out.append(Violation(
            "type_violation", name, Severity.HIGH,
            f"column {name!r}: {col.bad_type.count} value(s) are not {p.type} (e.g. {col.bad_type.values[0]!r} "
            f"in row {col.bad_type.rows[0]})",
            count=col.bad_type.count, rows=tuple(col.bad_type.rows), statistic="type", value=p.type, threshold=p.type))
    if col.out_of_range.count:
        lo, hi = col.low, col.high
        assert lo is not None and hi is not None and isinstance(p.min, float | int) and isinstance(p.max, float | int)
        span = max(float(p.max) - float(p.min), 1e-12)
        overshoot = max(float(p.min) - col.seen_min, col.seen_max - float(p.max), 0.0) / span
        # Real data has natural outliers just past the trusted extremes; injected values are far out.
        severity = Severity.HIGH if overshoot > s.range_major else Severity.MEDIUM
        out.append(Violation(
            "range_violation", name, severity,
            f"column {name!r}: {col.out_of_range.count} value(s) outside the trusted range "
            f"[{p.min:.6g}, {p.max:.6g}] (+{s.range_tolerance:g} of its span), e.g. {col.out_of_range.values[0]:.6g} "
            f"in row {col.out_of_range.rows[0]}",
            count=col.out_of_range.count, rows=tuple(col.out_of_range.rows),
            statistic="max" if col.seen_max > hi else "min",
            value=col.seen_max if col.seen_max > hi else col.seen_min,
            threshold=hi if col.seen_max > hi else lo))
    if col.unseen.count:
        shown = ", ".join(repr(v) for v in list(col.unseen_values)[:3])
        out.append(Violation(
            "unseen_category", name, Severity.MEDIUM,
            f"column {name!r}: {col.unseen.count} value(s) never seen in trusted data ({shown})",
            count=col.unseen.count, rows=tuple(col.unseen.rows), statistic="unseen_values",
            value=len(col.unseen_values), threshold=0))
    total = col.count + col.nulls
    if total and col.nulls:
        share, ref = col.nulls / total, p.null_fraction
        if (p.nulls == 0) or share > ref + s.null_tolerance:
            out.append(Violation(
                "null_spike", name, Severity.MEDIUM,
                f"column {name!r}: {share:.1%} nulls, trusted data had {ref:.1%}"
                + (" (the column was never null)" if p.nulls == 0 else f" (tolerance +{s.null_tolerance:.0%})"),
                count=col.nulls, statistic="null_fraction", value=round(share, 6),
                threshold=round(ref + (0 if p.nulls == 0 else s.null_tolerance), 6)))
    return out


def _drift(stats: BatchStats, s: ValidationSettings) -> list[ColumnDrift]:
    profile = stats.profile
    ref_sample = {c: profile.sample_values[:, i] for i, c in enumerate(profile.sample_columns)}
    batch_values, _ = stats.reservoir.sample()
    batch_sample = {c: batch_values[:, i] for i, c in enumerate(stats.sample_columns)}
    tests: list[tuple[str, str, float, float, float, tuple[float, ...], tuple[float, ...], tuple[str, ...]]] = []
    for name, col in stats.columns.items():
        p = col.profile
        if col.count == 0:
            continue
        if p.numeric and p.histogram and col.hist is not None:
            ref = np.asarray([p.histogram["below"], *p.histogram["counts"], p.histogram["above"]])
            cur = np.asarray([col.below, *col.hist, col.above])
            groups = equal_mass_groups(ref)
            r, b = group_counts(ref, groups), group_counts(cur, groups)
            value = psi(r, b)
            if name in ref_sample and name in batch_sample:
                stat, pv = ks_two_sample(ref_sample[name], batch_sample[name])
                test = "ks"
            else:
                stat, pv = chi2_homogeneity(r, b)
                test = "chi2_binned"
            labels = _bin_labels(p.histogram["edges"], groups)
            tests.append((name, test, stat, pv, value, tuple(r / max(r.sum(), 1)), tuple(b / max(b.sum(), 1)), labels))
        elif p.type in ("category", "bool") and p.categories:
            keys = list(p.categories)
            ref = np.asarray([p.categories[k] for k in keys] + [max(p.count - sum(p.categories.values()), 0)])
            cur = np.asarray([col.categories.get(k, 0) for k in keys] + [col.count - sum(col.categories.get(k, 0) for k in keys)])
            stat, pv = chi2_homogeneity(ref, cur)
            tests.append((name, "chi2", stat, pv, psi(ref, cur), tuple(ref / max(ref.sum(), 1)),
                          tuple(cur / max(cur.sum(), 1)), (*keys, "(other)")))
    threshold = s.alpha / max(len(tests), 1)
    return [
        ColumnDrift(n, t, st, pv, v, threshold, bool(pv < threshold and v >= s.psi_minor), rh, bh, lb)
        for n, t, st, pv, v, rh, bh, lb in tests
    ]


def _bin_labels(edges: list[float], groups: np.ndarray) -> tuple[str, ...]:
    """Readable ranges of the equal-mass groups (fine bins: below, the histogram bins, above)."""
    lows: dict[int, float] = {}
    highs: dict[int, float] = {}
    fine_lo = [-np.inf, *edges]
    fine_hi = [*edges, np.inf]
    for i, g in enumerate(groups):
        lows.setdefault(int(g), fine_lo[i])
        highs[int(g)] = fine_hi[i]
    return tuple(f"{_fmt(lows[g])}..{_fmt(highs[g])}" for g in sorted(lows))


def _fmt(v: float) -> str:
    if not np.isfinite(v):
        return "-inf" if v < 0 else "inf"
    return f"{v:.4g}"


def _multivariate(stats: BatchStats, s: ValidationSettings) -> dict[str, Any] | None:
    profile = stats.profile
    columns = [c for c in stats.sample_columns if profile.column(c).numeric and (profile.column(c).std or 0) > 0]
    if len(columns) < 2:
        return None
    ref_idx = [profile.sample_columns.index(c) for c in columns]
    bat_idx = [stats.sample_columns.index(c) for c in columns]
    mean = np.asarray([profile.column(c).mean or 0.0 for c in columns])
    std = np.asarray([profile.column(c).std or 1.0 for c in columns])
    ref = (profile.sample_values[:, ref_idx] - mean) / std
    batch_values, _ = stats.reservoir.sample()
    cur = (batch_values[:, bat_idx] - mean) / std
    ref, cur = np.nan_to_num(ref), np.nan_to_num(cur)  # a null sits at the column mean
    if len(ref) < 2 or len(cur) < 2:
        return None
    result = mmd_test(ref, cur, permutations=s.mmd_permutations, max_rows=s.mmd_rows, seed=s.seed)
    return {
        "test": "mmd",
        "statistic": round(result.statistic, 6),
        "p_value": round(result.p_value, 6),
        "alpha": s.alpha,
        "columns": len(columns),
        "n_reference": result.n_reference,
        "n_batch": result.n_batch,
        "permutations": result.permutations,
        "bandwidth": round(result.bandwidth, 6),
        "drifted": bool(result.p_value < s.alpha),
    }
