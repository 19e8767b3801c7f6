"""Extraction end to end over HTTP: a scikit-learn LogisticRegression served as JSON by a real local
server, stolen through :class:`HttpTarget` (the library) and ``pipeshield attack extraction
--endpoint`` (the CLI), with every row the server saw counted on the wire.

Planted ground truth: the victim is a logistic regression whose parameters we know, so equation
solving must agree with it on every input from d + 1 = 65 queries.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from pipeshield.attacks.extraction import extract
from pipeshield.core.targets.http import HttpTarget


@dataclass
class Served:
    model: Any
    url: str = ""
    rows: list[int] = field(default_factory=list)  # rows per request, as the server saw them
    seen: Counter[bytes] = field(default_factory=Counter)  # how often each distinct row was asked
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(state: Served) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            rows = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))["inputs"]
            x = np.asarray(rows, dtype=np.float64)
            with state.lock:
                state.rows.append(len(rows))
                state.seen.update(r.tobytes() for r in x)
            proba = state.model.predict_proba(x)
            payload = json.dumps({"probabilities": proba.tolist()}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture()
def server(logistic: LogisticRegression, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)  # talk to 127.0.0.1 directly
    state = Served(logistic)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/predict"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def test_equation_solving_over_http_is_exact_from_d_plus_1_queries(
    server: Served, logistic: LogisticRegression, digits: dict[str, np.ndarray]
) -> None:
    with HttpTarget(server.url, batch_size=50, timeout_s=10.0) as target:
        res = extract(target, n_features=64, method="equation_solving", budget=65, x_test=digits["x_test"])
        assert target.queries == sum(server.rows)
    assert res.fidelity == {65: 1.0} and res.queries == 65
    # every row the server saw: the attack's 65 queries plus the evaluation inputs, nothing else
    assert sum(server.rows) == res.queries + res.evaluation_queries == 65 + len(digits["x_test"])
    coef = res.substitute.coef_  # type: ignore[attr-defined]
    gauge = int(np.flatnonzero(~coef.any(axis=1))[0])
    np.testing.assert_allclose(coef - coef[gauge], logistic.coef_ - logistic.coef_[gauge], atol=1e-6)


def _pipeline(root: Path, digits: dict[str, np.ndarray], model: LogisticRegression, url: str) -> Path:
    import skops.io as sio

    root.mkdir(parents=True, exist_ok=True)
    np.savez(root / "train.npz", x=digits["pool"], label=np.zeros(len(digits["pool"]), dtype=np.int64))
    np.savez(root / "test.npz", x=digits["x_test"], label=digits["y_test"])
    (root / "lr.skops").write_bytes(sio.dumps(model))
    (root / "pipeshield.toml").write_text(f"""
[datasets.public]
path = "train.npz"
role = "train"
label = "label"

[datasets.test]
path = "test.npz"
role = "test"
label = "label"

[datasets.test.domain]
clip = [0.0, 1.0]

[models.lr]
path = "lr.skops"
train_data = "public"
test_data = "test"

[endpoint]
url = "{url}"
model = "lr"
batch_size = 100
""")
    return root / "pipeshield.toml"


def test_cli_steals_the_served_model_over_http(
    server: Served, logistic: LogisticRegression, digits: dict[str, np.ndarray], tmp_path: Path, cli: Any
) -> None:
    toml = _pipeline(tmp_path / "p", digits, logistic, server.url)
    code, out, err = cli(["attack", "extraction", str(toml), "--endpoint", "--method", "equation_solving",
                          "--budget", "65", "--no-controls", "--format", "json"])
    assert code == 1, err  # a perfect copy is over the 0.9 maximum
    report = json.loads(out)
    assert report["access"] == server.url and report["linear"] is None  # type unknown: tried
    assert report["methods"]["equation_solving"]["fidelity"] == {"65": 1.0}
    assert report["fidelity"] == 1.0 and report["passed"] is False
    assert sum(server.rows) >= 65 + len(digits["x_test"])


def test_check_detects_a_local_logistic_model_and_solves_it(
    logistic: LogisticRegression, digits: dict[str, np.ndarray], tmp_path: Path
) -> None:
    from pipeshield.core.checks import CheckContext, check_settings, get_check
    from pipeshield.core.findings import Status
    from pipeshield.core.pipeline import load_pipeline

    pipe = load_pipeline(_pipeline(tmp_path / "p", digits, logistic, "http://127.0.0.1:9/unused"))
    check = get_check("attacks.extraction")
    settings = check_settings(check, pipe).model_copy(update={"transfer_eps": None})
    (f,) = check.run(CheckContext(pipe, settings), "lr")
    assert f.status is Status.FAIL and f.severity == "high"
    assert f.metrics["fidelity_equation_solving"] == 1.0 and f.metrics["method"] == "equation_solving"
    assert f.metrics["fidelity_control_label-only"] < 1.0  # type: ignore[operator]
    table = f.evidence[1].data
    assert table is not None
    label_only = next(r for r in table["rows"] if str(r[0]).startswith("label-only"))
    assert label_only[2] is None  # equation solving cannot run on labels
    assert "with 500 queries" in f.message


def test_the_evaluation_rows_are_sent_once_for_every_method_and_control(
    server: Served, logistic: LogisticRegression, digits: dict[str, np.ndarray], tmp_path: Path, cli: Any
) -> None:
    """Regression: each extract() call (every method, and again behind each of the 3 controls)
    and the transferability re-asked the victim about every evaluation input."""
    toml = _pipeline(tmp_path / "p", digits, logistic, server.url)
    code, out, err = cli(["attack", "extraction", str(toml), "--endpoint", "--method", "equation_solving",
                          "--method", "knockoff", "--budget", "65", "--format", "json"])
    assert code == 1, err
    report = json.loads(out)
    assert [c["policy"]["name"] for c in report["controls"]] == ["round-2", "top-1", "label-only"]
    x_test = digits["x_test"]
    assert report["evaluation_queries"] == len(x_test) == report["n_eval"]
    assert all(server.seen[row.tobytes()] == 1 for row in x_test.astype(np.float64))
    # and the report accounts for every row the server saw
    spent = sum(m["queries"] for m in report["methods"].values())
    spent += sum(q for c in report["controls"] for q in c["queries"].values())
    assert report["transferability"] is not None
    assert sum(server.rows) == spent + report["evaluation_queries"] + report["transferability"]["queries"]


def test_an_endpoint_answering_nan_is_a_one_line_error(
    logistic: LogisticRegression, digits: dict[str, np.ndarray], tmp_path: Path, cli: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Broken:
        def predict_proba(self, x: np.ndarray) -> np.ndarray:
            return np.full((len(x), 10), np.nan)

    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    state = Served(Broken())
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    url = f"http://127.0.0.1:{httpd.server_address[1]}/predict"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        toml = _pipeline(tmp_path / "p", digits, logistic, url)
        code, out, err = cli(["attack", "extraction", str(toml), "--endpoint", "--budget", "65", "--no-controls"])
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
    assert code == 2 and "Traceback" not in err and out == ""
    first, *rest = err.strip().splitlines()
    assert len(rest) <= 1  # the error, and at most a hint
    assert url in first and "models.lr" in first and "datasets.test" in first and "non-finite" in first


def test_a_dataset_with_nan_is_a_one_line_error(
    logistic: LogisticRegression, digits: dict[str, np.ndarray], tmp_path: Path, cli: Any
) -> None:
    toml = _pipeline(tmp_path / "p", digits, logistic, "http://127.0.0.1:9/unused")
    x = digits["x_test"].copy()
    x[5, 3] = np.nan
    np.savez(toml.parent / "test.npz", x=x, label=digits["y_test"])
    code, out, err = cli(["attack", "extraction", str(toml), "--model", "lr", "--budget", "65", "--no-controls"])
    assert code == 2 and "Traceback" not in err
    first, *rest = err.strip().splitlines()
    assert len(rest) <= 1
    assert "datasets.test" in first and "models.lr" in first and "NaN" in first


def test_a_model_of_another_width_is_a_one_line_error(
    digits: dict[str, np.ndarray], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """extract() refuses a victim whose declared width (n_features_in_) is not the dataset's; the
    check says so as a TargetError naming the model and its datasets, not a bare ValueError."""
    from pipeshield.core.checks import CheckContext, check_settings, get_check
    from pipeshield.core.pipeline import load_pipeline
    from pipeshield.errors import TargetError

    narrow = LogisticRegression(max_iter=200).fit(digits["x_train"][:, :30], digits["y_train"])
    pipe = load_pipeline(_pipeline(tmp_path / "p", digits, narrow, "http://127.0.0.1:9/unused"))
    monkeypatch.setattr(CheckContext, "target", lambda self, name: narrow)  # the bare estimator declares its width
    check = get_check("attacks.extraction")
    settings = check_settings(check, pipe).model_copy(update={"controls": False, "transfer_eps": None})
    with pytest.raises(TargetError) as caught:
        list(check.run(CheckContext(pipe, settings), "lr"))
    message = caught.value.diagnostics().splitlines()[0]
    assert "models.lr" in message and "datasets.test" in message and "expects 30 features" in message
