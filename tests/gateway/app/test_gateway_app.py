"""The gateway end to end on the demo pipeline: every denial, the policies, the log and the spec."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from pipeshield.gateway.audit_log import verify
from tests.gateway.app.conftest import MODEL, GatewayFactory, Served


def error(response: object, status: int, code: str) -> str:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "request_id"}
    assert body["error"]["code"] == code
    assert response.headers["x-request-id"] == body["error"]["request_id"]  # type: ignore[attr-defined]
    return str(body["error"]["message"])


def test_a_prediction_returns_scores_labels_and_the_policy(served: Served) -> None:
    r = served.predict("full")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == MODEL and body["policy"]["name"] == "full"
    assert len(body["outputs"]) == 2 and all(math.isclose(sum(row), 1.0) for row in body["outputs"])
    assert body["labels"] == [int(max(range(2), key=row.__getitem__)) for row in body["outputs"]]


def test_x_api_key_header_works_too(served: Served) -> None:
    r = served.client.post(f"/v1/models/{MODEL}:predict", json={"inputs": served.rows[:1]},
                           headers={"X-API-Key": served.keys["full"]})
    assert r.status_code == 200


def test_no_key_or_a_wrong_key_is_401(served: Served) -> None:
    assert "no API key" in error(served.predict(None), 401, "unauthenticated")
    r = served.client.post(f"/v1/models/{MODEL}:predict", json={"inputs": served.rows[:1]},
                           headers={"Authorization": "Bearer psk_not-a-key"})
    error(r, 401, "unauthenticated")
    assert r.headers["www-authenticate"] == "Bearer"
    error(served.client.get("/v1/models"), 401, "unauthenticated")


def test_a_revoked_key_is_401(served: Served) -> None:
    created = served.gateway.keys.create("short-lived", rate="100/s")
    headers = {"Authorization": f"Bearer {created.secret}"}
    assert served.client.get("/v1/models", headers=headers).status_code == 200
    served.gateway.keys.revoke("short-lived")
    error(served.client.get("/v1/models", headers=headers), 401, "unauthenticated")


def test_a_model_outside_the_keys_scope_is_403(served: Served) -> None:
    assert MODEL in error(served.predict("scoped"), 403, "forbidden_model")
    listed = served.client.get("/v1/models", headers=served.headers("scoped")).json()
    assert listed == {"models": []}  # digits_cnn is in scope but not served here
    listed = served.client.get("/v1/models", headers=served.headers("full")).json()
    assert [m["name"] for m in listed["models"]] == [MODEL]
    assert listed["models"][0]["input_shape"] == [30] and listed["models"][0]["classes"] == [0, 1]


def test_blocklisted_key_address_and_input_are_403_naming_the_indicator(served: Served) -> None:
    message = error(served.predict("blocked"), 403, "blocklisted")
    assert "blocked.txt:1" in message and "a leaked key" in message
    from fastapi.testclient import TestClient

    outside = TestClient(served.client.app, client=("203.0.113.9", 40000))
    r = outside.post(f"/v1/models/{MODEL}:predict", json={"inputs": served.rows[:1]}, headers=served.headers("full"))
    assert "blocked.txt:2" in error(r, 403, "blocklisted")
    message = error(served.predict("full", [served.rows[5]]), 403, "blocklisted")  # the STIX bundle's digest
    assert "indicator--0b1d6a0e-0000-4000-8000-000000000001" in message and "known probing input" in message


def test_oversize_body_and_batch_are_413(served: Served) -> None:
    big = [served.rows[0]] * 400  # ~100 kB > 64 kB
    error(served.predict("full", big), 413, "body_too_large")
    assert "at most 16" in error(served.predict("full", [served.rows[0]] * 17), 413, "batch_too_large")


@pytest.mark.parametrize(("inputs", "content", "expected"), [
    (None, '{"inputs": [[NaN]]}', "inputs: each input must have shape [30]"),
    ("nan", None, "inputs[1][12]: nan is not a finite number"),
    ("inf", None, "inputs[1][12]: inf is not a finite number"),
    ("big", None, "inputs[1][12]: value 7500.0 above the maximum"),
    ("word", None, "inputs[1][12]: expected a number, got 'x'"),
    ([[1.0] * 29], None, "inputs: each input must have shape [30], got [29]"),
    (None, '{"inputs": 3}', "inputs: expected a non-empty list"),
    (None, "[1, 2]", 'the body must be a JSON object {"inputs": [...]}'),
])
def test_bad_inputs_are_422_naming_field_and_index(served: Served, inputs: object, content: str | None,
                                                   expected: str) -> None:
    if content is not None:
        r = served.client.post(f"/v1/models/{MODEL}:predict", content=content,
                               headers={**served.headers("full"), "Content-Type": "application/json"})
    else:
        if isinstance(inputs, str):
            bad: object = {"nan": "NaN", "inf": "Infinity", "big": 7500.0, "word": "x"}[inputs]
            rows = [list(served.rows[0]), list(served.rows[1])]
            rows[1][12] = bad  # type: ignore[call-overload]
            import json

            text = json.dumps({"inputs": rows}).replace('"NaN"', "NaN").replace('"Infinity"', "Infinity")
            r = served.client.post(f"/v1/models/{MODEL}:predict", content=text,
                                   headers={**served.headers("full"), "Content-Type": "application/json"})
        else:
            r = served.predict("full", inputs)
    assert expected in error(r, 422, "invalid_input"), r.text


def test_the_rate_limit_is_429_with_retry_after(served: Served) -> None:
    codes = [served.predict("slow", served.rows[:1]) for _ in range(3)]
    assert [r.status_code for r in codes[:2]] == [200, 200]
    assert "rate" in error(codes[2], 429, "rate_limited")
    assert int(codes[2].headers["retry-after"]) >= 1


def test_label_only_key_gets_labels_only(served: Served) -> None:
    body = served.predict("label").json()
    assert body["policy"]["label_only"] is True
    assert body["outputs"] == body["labels"] and all(v in (0, 1) for v in body["outputs"])


def test_metrics_need_an_admin_key_and_count_requests(served: Served) -> None:
    error(served.client.get("/metrics", headers=served.headers("full")), 403, "admin_required")
    served.predict(None)
    served.predict("full")
    text = served.client.get("/metrics", headers=served.headers("admin")).text
    assert f'pipeshield_gateway_requests_total{{model="{MODEL}",reason="unauthenticated",status="401"}}' in text
    assert f'pipeshield_gateway_requests_total{{model="{MODEL}",reason="ok",status="200"}}' in text
    assert 'pipeshield_gateway_denials_total{reason="unauthenticated"}' in text
    assert "pipeshield_gateway_request_seconds_bucket" in text
    assert "pipeshield_gateway_models_served 1.0" in text


def test_every_request_is_in_the_audit_log_before_the_answer(served: Served) -> None:
    store = served.gateway.store
    before = store.size()
    answers = [served.predict("full"), served.predict(None), served.predict("scoped"),
               served.predict("full", [[1.0] * 29])]
    assert store.size() == before + len(answers)  # durable before each answer came back
    records = [row.record() for row in store.records(before)]
    assert [r.decision.value for r in records] == ["allowed", "denied", "denied", "denied"]
    assert records[0].key_id == served.ids["full"] and records[0].model == MODEL and records[0].reason is None
    assert records[0].output["labels"] == answers[0].json()["labels"]
    assert records[1].key_id is None and records[1].reason.startswith("unauthenticated: ")
    assert records[2].reason.startswith("forbidden_model: ")
    assert records[3].reason.startswith("invalid_input: inputs: each input must have shape")
    assert verify(store).size == store.size()


def test_readyz_and_healthz(served: Served) -> None:
    assert served.client.get("/healthz").json() == {"status": "ok"}
    assert served.client.get("/readyz").json() == {"ready": True, "models": [MODEL], "failed": {}}


def test_a_tampered_model_is_not_served_and_readyz_says_why(make_gateway: GatewayFactory, demo_pipeline: Path,
                                                            tmp_path: Path) -> None:
    from tests.gateway.app.conftest import copy_pipeline

    pipeline_file = copy_pipeline(demo_pipeline, tmp_path / "tampered")
    model = pipeline_file.parent / "models" / "tabular_forest.skops"
    model.write_bytes(model.read_bytes() + b"\0")
    gateway, client = make_gateway(pipeline_file)
    ready = client.get("/readyz")
    assert ready.status_code == 503
    reason = ready.json()["failed"][MODEL]
    assert reason.startswith("signature: ") and "tabular_forest.skops" in reason
    secret = gateway.keys.create("k", rate="10/s").secret
    r = client.post(f"/v1/models/{MODEL}:predict", json={"inputs": [[0.0] * 30]},
                    headers={"Authorization": f"Bearer {secret}"})
    assert "not served: signature" in error(r, 503, "model_unavailable")


def test_an_unreachable_redis_fails_closed_with_503(make_gateway: GatewayFactory, served: Served) -> None:
    gateway, client = make_gateway(redis="redis://127.0.0.1:9")  # nothing listens on the discard port
    secret = gateway.keys.create("k", rate="10/s").secret
    r = client.post(f"/v1/models/{MODEL}:predict", json={"inputs": served.rows[:1]},
                    headers={"Authorization": f"Bearer {secret}"})
    assert "unreachable" in error(r, 503, "limiter_unavailable")
    assert [row.record().decision.value for row in gateway.store.records()] == ["denied"]


def test_an_extraction_alert_switches_the_key_to_label_only(make_gateway: GatewayFactory, served: Served) -> None:
    from pipeshield.gateway.extraction_monitor import MonitorSettings

    gateway, client = make_gateway(on_alert="label-only", monitor=MonitorSettings(min_samples=5, window=50))
    secret = gateway.keys.create("thief", rate="1000/s").secret
    headers = {"Authorization": f"Bearer {secret}"}
    base = served.rows[0]
    policies = []
    for step in range(10):  # a synthetic walk: equal steps along one feature (PRADA: W = 0)
        row = list(base)
        row[0] = base[0] + 0.01 * step
        policies.append(client.post(f"/v1/models/{MODEL}:predict", json={"inputs": [row]},
                                    headers=headers).json()["policy"]["name"])
    assert policies[0] == "full" and policies[-1] == "label-only"
    assert gateway.keys.get("thief").sanction == "label-only"


def test_the_openapi_spec_lists_every_endpoint_and_error(served: Served) -> None:
    spec = served.client.get("/openapi.json").json()
    assert set(spec["paths"]) == {"/v1/models/{name}:predict", "/v1/models", "/healthz", "/readyz", "/metrics",
                                  "/dashboard", "/dashboard/data"}
    predict = spec["paths"]["/v1/models/{name}:predict"]["post"]
    assert predict["requestBody"]["content"]["application/json"]["schema"]["required"] == ["inputs"]
    for status in ("200", "401", "403", "404", "413", "422", "429", "503"):
        assert status in predict["responses"], status
    assert predict["responses"]["429"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
    assert "Retry-After" in predict["responses"]["429"]["headers"]
    assert {"ErrorResponse", "ErrorBody", "PredictResponse", "ModelsResponse", "ReadyResponse"} <= set(
        spec["components"]["schemas"])


def test_an_alert_is_posted_to_the_webhook_and_can_deny(make_gateway: GatewayFactory, served: Served) -> None:
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from pipeshield.gateway.extraction_monitor import MonitorSettings

    received: list[dict[str, object]] = []
    arrived = threading.Event()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()
            arrived.set()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        gateway, client = make_gateway(on_alert="deny", alert_webhook=f"http://127.0.0.1:{server.server_port}/hook",
                                       monitor=MonitorSettings(min_samples=5, window=50))
        created = gateway.keys.create("thief", rate="1000/s")
        headers = {"Authorization": f"Bearer {created.secret}"}
        codes = []
        for step in range(10):
            row = list(served.rows[0])
            row[0] += 0.01 * step
            codes.append(client.post(f"/v1/models/{MODEL}:predict", json={"inputs": [row]},
                                     headers=headers).status_code)
        assert codes[0] == 200 and codes[-1] == 403
        assert arrived.wait(5)
        assert received[0]["key_id"] == created.key.id and received[0]["detector"] == "prada"
        assert received[0]["action"] == "deny" and received[0]["model"] == MODEL
    finally:
        server.shutdown()


def test_unknown_models_are_404_and_do_not_become_metric_labels(served: Served) -> None:
    r = served.client.post("/v1/models/made-up-42:predict", json={"inputs": [[0.0]]}, headers=served.headers("full"))
    assert "made-up-42" in error(r, 404, "unknown_model")
    text = served.client.get("/metrics", headers=served.headers("admin")).text
    assert "made-up-42" not in text and 'model="-",reason="unknown_model",status="404"' in text
