"""The pipeline file's ``[gateway]`` table: ``pipeshield serve`` uses it, flags and variables win."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeshield.gateway import app as gateway_app
from tests.conftest import CliRunner
from tests.gateway.app.conftest import MODEL, copy_pipeline

TABLE = f"""
[gateway]
host = "127.0.0.2"
port = 8123
keys_db = "state/keys.db"
log_db = "state/audit.db"
intel = ["blocked.txt"]
models = ["{MODEL}"]
max_body_bytes = 4096
max_batch = 7
range_tolerance = 0.2
log_inputs = true
trust_forwarded_for = true
key_cache_s = 0.5

[gateway.output]
"*" = "round-2"
{MODEL} = "top-1"

[gateway.alerts]
on_alert = "throttle"
webhook = "https://alerts.example/hook"
webhook_timeout_s = 1.5
throttle_rate = "2/s"
throttle_inputs_rate = "20/s"

[gateway.monitor]
delta = 0.8
min_samples = 50
bins = 5
"""


class _Captured:
    """Stands in for ``uvicorn.Server``: records what ``serve`` would run, and runs nothing."""

    seen: dict[str, Any] = {}

    def __init__(self, config: Any) -> None:
        self.config = config

    def run(self) -> None:
        app = self.config.app
        _Captured.seen = {"host": self.config.host, "port": self.config.port, "app": app}


@pytest.fixture
def pipeline_file(demo_pipeline: Path, tmp_path: Path) -> Path:
    file = copy_pipeline(demo_pipeline, tmp_path / "pipeline")
    (file.parent / "blocked.txt").write_text("ip:203.0.113.0/24\n")
    return file


@pytest.fixture
def gateways(monkeypatch: pytest.MonkeyPatch) -> list[gateway_app.Gateway]:
    import uvicorn

    made: list[gateway_app.Gateway] = []
    real = gateway_app.Gateway

    class Recording(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(gateway_app, "Gateway", Recording)
    monkeypatch.setattr(uvicorn, "Server", _Captured)
    for var in ("PIPESHIELD_REDIS", "PIPESHIELD_KEYS_DB", "PIPESHIELD_AUDIT_DB"):
        monkeypatch.delenv(var, raising=False)
    yield made
    for gateway in made:
        gateway.close()


def test_serve_uses_the_gateway_table(cli: CliRunner, pipeline_file: Path,
                                      gateways: list[gateway_app.Gateway]) -> None:
    pipeline_file.write_text(pipeline_file.read_text() + TABLE)
    code, out, err = cli(["serve", str(pipeline_file)])
    assert code == 0, err
    assert (_Captured.seen["host"], _Captured.seen["port"]) == ("127.0.0.2", 8123)
    s = gateways[0].settings
    base = pipeline_file.parent
    assert s.keys_db == str(base / "state" / "keys.db") and s.log_db == str(base / "state" / "audit.db")
    assert (base / "state" / "audit.db").exists()  # relative to the pipeline file, not the working directory
    assert s.intel == (base / "blocked.txt",) and s.models == (MODEL,)
    assert (s.max_body_bytes, s.max_batch, s.range_tolerance, s.key_cache_s) == (4096, 7, 0.2, 0.5)
    assert s.log_inputs and s.trust_forwarded_for
    assert s.output == {"*": "round-2", MODEL: "top-1"}
    assert gateways[0].model_policy[MODEL].name == "top-1"
    assert (s.on_alert, s.alert_webhook, s.webhook_timeout_s) == ("throttle", "https://alerts.example/hook", 1.5)
    assert (s.throttle_rate, s.throttle_inputs_rate) == ("2/s", "20/s")
    assert (s.monitor.delta, s.monitor.min_samples, s.monitor.bins) == (0.8, 50, 5)
    assert s.monitor.window == 2000  # unset keys keep their defaults


def test_flags_and_variables_override_the_table(cli: CliRunner, pipeline_file: Path, tmp_path: Path,
                                                gateways: list[gateway_app.Gateway],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline_file.write_text(pipeline_file.read_text() + TABLE)
    monkeypatch.setenv("PIPESHIELD_AUDIT_DB", str(tmp_path / "env-audit.db"))
    code, _, err = cli(["serve", str(pipeline_file), "--port", "9001", "--max-batch", "3", "--on-alert", "deny",
                        "--no-log-inputs", "--output-policy", f"{MODEL}=label-only"])
    assert code == 0, err
    assert (_Captured.seen["host"], _Captured.seen["port"]) == ("127.0.0.2", 9001)
    s = gateways[0].settings
    assert (s.max_batch, s.on_alert, s.log_inputs) == (3, "deny", False)
    assert s.log_db == str(tmp_path / "env-audit.db")
    assert s.output == {"*": "round-2", MODEL: "label-only"}  # per model: the flag wins, the rest stays
    assert s.max_body_bytes == 4096  # not given on the command line: the table's value


@pytest.mark.parametrize(("table", "where"), [
    ('[gateway.alerts]\non_alert = "explode"\n', "gateway.alerts.on_alert"),
    ("[gateway]\nport = 0\n", "gateway.port"),
    ('[gateway]\nlisten = "0.0.0.0"\n', "gateway.listen"),
    ('[gateway.output]\n"*" = "top-zero"\n', "gateway.output.*"),
    ('[gateway]\nmodels = ["nope"]\n', "gateway.models"),
    ('[gateway.alerts]\nthrottle_rate = "fast"\n', "gateway.alerts.throttle_rate"),
    ("[gateway.monitor]\ndelta = 2.0\n", "gateway.monitor.delta"),
    ('[gateway.tls]\ncertfile = "server.pem"\n', "gateway.tls.keyfile"),
])
def test_a_bad_gateway_table_is_a_one_line_config_error(cli: CliRunner, pipeline_file: Path, table: str,
                                                        where: str, gateways: list[gateway_app.Gateway]) -> None:
    pipeline_file.write_text(pipeline_file.read_text() + "\n" + table)
    code, out, err = cli(["serve", str(pipeline_file)])
    assert code == 2, err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert f": {where}: " in lines[0], err
    assert "Traceback" not in err and not gateways
