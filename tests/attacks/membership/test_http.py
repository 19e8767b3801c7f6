"""Membership inference black-box through the HTTP target: a real local server serves an overfit
scikit-learn forest trained on a known half of digits; the attacker sees only its JSON answers and
trains reference models from a scikit-learn ``template`` of the same family."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier

from pipeshield.attacks.membership import evaluate
from pipeshield.attacks.membership.controls import evaluate_controls
from pipeshield.core.targets.http import HttpTarget
from pipeshield.gateway.output_policy import OutputPolicy


def _forest(seed: int | None = None) -> RandomForestClassifier:
    return RandomForestClassifier(n_estimators=40, bootstrap=False, max_features=0.3, random_state=seed)


@pytest.fixture(scope="module")
def planted() -> dict[str, Any]:
    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(x))
    members, nonmembers = order[:300], order[300:600]
    model = _forest(0).fit(x[members] / 16.0, y[members])
    return {"model": model, "x": x / 16.0, "y": y, "members": members, "nonmembers": nonmembers}


@pytest.fixture(scope="module")
def server(planted: dict[str, Any]) -> Iterator[dict[str, Any]]:
    model, state = planted["model"], {"rows": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            rows = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))["inputs"]
            state["rows"] += len(rows)
            body = json.dumps({"probabilities": model.predict_proba(np.asarray(rows)).tolist()}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{httpd.server_address[1]}/predict"
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)  # talk to 127.0.0.1 directly


def _sets(p: dict[str, Any]) -> tuple[np.ndarray, ...]:
    x, y, m, n = p["x"], p["y"], p["members"], p["nonmembers"]
    return x[m], y[m], x[n], y[n]


def test_membership_is_exposed_through_the_http_api(planted: dict[str, Any], server: dict[str, Any], no_proxy: None) -> None:
    xm, ym, xn, yn = _sets(planted)
    with HttpTarget(server["url"], batch_size=128, timeout_s=10.0) as target:
        remote = evaluate(target, xm, ym, xn, yn, n_reference=4, template=_forest(), seed=0, executor="serial")
        assert target.queries == 600  # the attacker asks about each record once
    assert server["rows"] >= 600
    best = max(a.auc for a in remote.attacks.values())
    assert best > 0.75 and remote.attacks["lira"].tpr_at_fpr[0.01] > 0.05
    # the same attack on the local model gives the same scores: HTTP loses nothing
    local = evaluate(planted["model"], xm, ym, xn, yn, n_reference=4, template=_forest(), seed=0, executor="serial")
    for name, a in local.attacks.items():
        np.testing.assert_allclose(remote.attacks[name].scores, a.scores)


def test_a_black_box_needs_a_recipe(server: dict[str, Any], planted: dict[str, Any], no_proxy: None) -> None:
    xm, ym, xn, yn = _sets(planted)
    with HttpTarget(server["url"]) as target, pytest.raises(ValueError, match="template"):
        evaluate(target, xm[:5], ym[:5], xn[:5], yn[:5], n_reference=2)


def test_label_only_endpoint_leaks_less(planted: dict[str, Any], server: dict[str, Any], no_proxy: None) -> None:
    xm, ym, xn, yn = _sets(planted)
    with HttpTarget(server["url"], batch_size=256) as target:
        res = evaluate_controls(target, xm, ym, xn, yn, policies=(OutputPolicy(label_only=True),), n_reference=4,
                                template=_forest(), seed=0, executor="serial")
    full = max(a.auc for a in res.full.attacks.values())
    label_only = max(a.auc for a in res.controlled["label-only"].attacks.values())
    assert label_only < full - 0.1
    assert res.to_dict()["controls"]["label-only"]["policy"]["label_only"] is True
