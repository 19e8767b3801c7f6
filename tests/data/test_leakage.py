"""Leakage detectors against planted ground truth: the demo's copied test rows and PII column,
checksummed card and IBAN numbers, a planted label leak, and masking that never leaks a value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipeshield.data.leakage import (
    find_label_leakage,
    find_overlap,
    iban_valid,
    luhn_valid,
    scan_pii,
    scan_text,
)
from pipeshield.data.leakage.detectors import DETECTORS


def test_demo_overlap_found_exactly(demo_root: Path, planted: dict[str, Any]) -> None:
    result = find_overlap(demo_root / "data/tabular_train.csv", demo_root / "data/tabular_test.parquet", label="diagnosis")
    truth = planted["train_test_overlap"]
    found = {(a, b) for a, b in result.exact_pairs}
    expected = set(zip(truth["train_indices"], truth["test_indices"]))
    tp = len(found & expected)
    precision, recall = tp / len(found), tp / len(expected)
    print(f"train/test overlap on the demo: precision {precision:.3f}, recall {recall:.3f}")
    assert precision == 1.0 and recall == 1.0
    assert result.exact_test_rows == 15 and result.near_test_rows == 0


def test_near_duplicates(tmp_path: Path, cancer: pd.DataFrame) -> None:
    rng = np.random.default_rng(3)
    train, test = cancer.iloc[:400].reset_index(drop=True), cancer.iloc[400:].reset_index(drop=True)
    features = [c for c in cancer.columns if c != "diagnosis"]
    jitter = train.iloc[[5, 50, 150]].copy()
    jitter[features] = jitter[features] * (1 + rng.normal(scale=1e-3, size=(3, len(features))))
    test = pd.concat([test, jitter], ignore_index=True)
    train.to_csv(tmp_path / "train.csv", index=False)
    test.to_csv(tmp_path / "test.csv", index=False)
    result = find_overlap(tmp_path / "train.csv", tmp_path / "test.csv", label="diagnosis")
    assert result.exact_test_rows == 0
    n = len(test)
    assert {(a, b) for a, b, _ in result.near_pairs} == {(5, n - 3), (50, n - 2), (150, n - 1)}


@pytest.mark.parametrize(("number", "valid"), [
    ("4111 1111 1111 1111", True), ("5500-0000-0000-0004", True), ("378282246310005", True),
    ("4111 1111 1111 1112", False), ("5500 0000 0000 0005", False), ("1234 5678 9012 3456", False),
])
def test_cards_need_luhn(number: str, valid: bool) -> None:
    found = [m for m in scan_text(f"paid with {number} yesterday") if m.detector == "credit_card"]
    assert bool(found) is valid
    if valid:
        assert found[0].masked.endswith(number[-4:]) and found[0].masked.startswith("****")
    if not number.startswith("1234"):  # that one fails on the issuer prefix, whatever its checksum
        assert luhn_valid(number) is valid


@pytest.mark.parametrize(("iban", "valid"), [
    ("DE89 3704 0044 0532 0130 00", True), ("GB82WEST12345698765432", True), ("FR1420041010050500013M02606", True),
    ("DE89 3704 0044 0532 0130 01", False), ("GB82WEST12345698765433", False), ("DE89370400440532013", False),
])
def test_iban_mod97(iban: str, valid: bool) -> None:
    assert iban_valid(iban) is valid
    assert any(m.detector == "iban" for m in scan_text(f"transfer to {iban} please")) is valid


@pytest.mark.parametrize(("text", "detector"), [
    ("mail paula.smith@example.org now", "email"),
    ("call +44 20 7946 0958", "phone"),
    ("call (555) 123-4567", "phone"),
    ("ssn 123-45-6789", "us_ssn"),
    ("NI number AB 12 34 56 C", "uk_nino"),
    ("DNI 12345678Z", "es_dni"),
    ("key AKIAIOSFODNN7EXAMPLE", "aws_access_key_id"),
    ("token ghp_" + "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5", "github_token"),
    ("slack xoxb-1234567890-abcdefghijkl", "slack_token"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----", "private_key"),
    ('config api_key="Zk8fQ2mX9pL4vB7nR1tY6wC3"', "assigned_secret"),
])
def test_each_detector_finds_its_kind(text: str, detector: str) -> None:
    assert detector in DETECTORS
    assert [m.detector for m in scan_text(text)] == [detector]


@pytest.mark.parametrize("text", [
    "mean radius 17.99", "2024-01-02 12:30:00", "DNI 12345678A", "password=aaaaaaaaaaaaaaaaaaaa", "order 1234567890123",
])
def test_no_false_alarm(text: str) -> None:
    assert scan_text(text) == []


def test_demo_pii_column_masked(demo_root: Path, planted: dict[str, Any]) -> None:
    hits = scan_pii(demo_root / "data/incoming.csv")
    email = next(h for h in hits if h.column == planted["incoming"]["unexpected_column"])
    rows = len(pd.read_csv(demo_root / "data/incoming.csv"))
    assert email.detector == "email" and email.count == rows and email.rows == [0, 1, 2, 3, 4]
    assert email.examples[0] == "pa*********@example.org"
    assert [h.column for h in hits] == ["contact_email"]  # no false alarm in the numeric columns


def test_masking_never_leaks_raw_values(tmp_path: Path, run_cli) -> None:
    secrets = {
        "email": "jane.doe@corp.example", "card": "4111 1111 1111 1111", "iban": "DE89 3704 0044 0532 0130 00",
        "ssn": "123-45-6789", "aws": "AKIAIOSFODNN7EXAMPLE", "gh": "ghp_" + "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5",
        "phone": "+44 20 7946 0958",
    }
    frame = pd.DataFrame({"note": [f"contact {v}" for v in secrets.values()], "x": range(len(secrets))})
    frame.to_csv(tmp_path / "notes.csv", index=False)
    code, out, _ = run_cli("data", "leakage", str(tmp_path / "notes.csv"), "--format", "json")
    assert code == 1
    report = json.loads(out)
    assert {h["detector"] for h in report["pii"]} == {"email", "credit_card", "iban", "us_ssn", "aws_access_key_id",
                                                      "github_token", "phone"}
    for raw in secrets.values():
        assert raw not in out and raw.replace(" ", "") not in out


def test_planted_label_leak(tmp_path: Path, cancer: pd.DataFrame) -> None:
    rng = np.random.default_rng(4)
    frame = cancer.copy()
    frame["followup_code"] = frame["diagnosis"] + rng.normal(scale=0.01, size=len(frame))
    frame.to_csv(tmp_path / "leaky.csv", index=False)
    result = find_label_leakage(tmp_path / "leaky.csv", "diagnosis")
    assert [s.feature for s in result.leaking] == ["followup_code"]
    assert result.leaking[0].score >= 0.99 and result.baseline < 0.7
    sampled = find_label_leakage(tmp_path / "leaky.csv", "diagnosis", max_rows=200)  # a bounded sample still finds it
    assert sampled.rows_used <= 200 and [s.feature for s in sampled.leaking] == ["followup_code"]
    cancer.to_csv(tmp_path / "clean.csv", index=False)
    assert not find_label_leakage(tmp_path / "clean.csv", "diagnosis").leaking
