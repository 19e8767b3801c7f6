"""``pipeshield log ...`` through its typer app, and through ``main`` for the usage-error exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from pipeshield.cli.log import log_app
from pipeshield.gateway.audit_log import AuditLogStore
from tests.gateway.audit_log.conftest import make_record

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "audit.db"
    with AuditLogStore(path) as store:
        store.append_many([make_record(i) for i in range(12)])
    return path


def test_verify_tail_export_checkpoint(db: Path, tmp_path: Path, gateway_keys: tuple[Path, Path]) -> None:
    private, public = gateway_keys
    result = runner.invoke(log_app, ["verify", "--db", str(db)])
    assert result.exit_code == 0 and "verified: 12 records" in result.output

    result = runner.invoke(log_app, ["tail", "--db", str(db), "-n", "3"])
    lines = [json.loads(x) for x in result.stdout.splitlines()]
    assert [x["index"] for x in lines] == [9, 10, 11] and lines[0]["record"]["model"] == "digits"

    out = tmp_path / "export.jsonl"
    assert runner.invoke(log_app, ["export", "--db", str(db), "--out", str(out)]).exit_code == 0
    assert [json.loads(x)["index"] for x in out.read_text().splitlines()] == list(range(12))

    cp = tmp_path / "offhost" / "cp.json"
    result = runner.invoke(log_app, ["checkpoint", "--db", str(db), "--key", str(private), "--out", str(cp)])
    assert result.exit_code == 0, result.output
    assert json.loads(cp.read_text())["size"] == 12
    result = runner.invoke(log_app, ["verify", "--db", str(db), "--checkpoint", str(cp), "--key", str(public)])
    assert result.exit_code == 0 and "extends the checkpoint of 12 records" in result.output


def test_verify_names_the_first_bad_record(db: Path) -> None:
    with AuditLogStore(db, create=False) as store, store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log_records WHERE idx IN (4, 8)"))
    result = runner.invoke(log_app, ["verify", "--db", str(db)])
    assert result.exit_code == 1
    assert "record 4 is missing" in result.output


def test_usage_errors_exit_2(db: Path, tmp_path: Path, gateway_keys: tuple[Path, Path],
                             capsys: pytest.CaptureFixture[str]) -> None:
    from pipeshield.cli import main

    private, _ = gateway_keys
    cp = tmp_path / "cp.json"
    assert runner.invoke(log_app, ["checkpoint", "--db", str(db), "--key", str(private), "--out", str(cp)]).exit_code == 0
    cases = [
        (["log", "verify", "--db", str(tmp_path / "nope.db")], "no audit log there"),
        (["log", "verify", "--db", str(db), "--checkpoint", str(cp)], "public key"),
        (["log", "verify", "--db", str(db), "--checkpoint", str(tmp_path / "missing.json"), "--key", "x"],
         "cannot read the checkpoint"),
        (["log", "tail", "--db", str(tmp_path / "nope.db")], "no audit log there"),
    ]
    for args, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            main(args)
        assert exit_info.value.code == 2, args
        assert message in capsys.readouterr().err
    assert not (tmp_path / "nope.db").exists()  # verifying a typo never creates an empty log
