"""HttpTarget against a real local HTTP server that serves a real scikit-learn model.

The server (stdlib ``ThreadingHTTPServer`` on 127.0.0.1, port 0) records every request it gets, so
the tests count batches and retries on the wire; planned failures (429, 503, 400, bad JSON) are
queued per test. ``sleep`` is injected to record the waits instead of taking them.
"""

from __future__ import annotations

import email.utils
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from pipeshield.core.targets import load_endpoint_target
from pipeshield.core.targets.http import HttpTarget
from pipeshield.errors import ConfigError, EndpointError

Reply = tuple[int, dict[str, str], bytes]


@dataclass
class ModelServer:
    """A served model: answers ``{"probabilities": predict_proba(inputs)}`` unless a reply is queued."""

    model: Any
    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)  # {"rows": n, "headers": {...}}
    planned: list[Reply | Callable[[list[list[float]]], Reply]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, rows: list[list[float]], headers: dict[str, str]) -> Reply:
        with self.lock:
            self.requests.append({"rows": len(rows), "headers": headers})
            planned = self.planned.pop(0) if self.planned else None
        if callable(planned):
            return planned(rows)
        if planned is not None:
            return planned
        proba = self.model.predict_proba(np.asarray(rows, dtype=np.float64))
        return (
            200,
            {"Content-Type": "application/json"},
            json.dumps({"probabilities": proba.tolist()}).encode(),
        )


def _handler(server: ModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            rows = json.loads(body)["inputs"]
            status, headers, payload = server.answer(
                rows, {k.lower(): v for k, v in self.headers.items()}
            )
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

    return Handler


@pytest.fixture(scope="module")
def iris_model(iris) -> LogisticRegression:
    return LogisticRegression(max_iter=1000).fit(iris.x_train, iris.y_train)


@pytest.fixture
def server(iris_model, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModelServer]:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)  # talk to 127.0.0.1 directly
    state = ModelServer(iris_model)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/predict"
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


class SleepRecorder:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def _target(server: ModelServer, sleep: SleepRecorder, **options: Any) -> HttpTarget:
    return HttpTarget(server.url, sleep=sleep, timeout_s=5.0, **options)


def _rows(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(
        [5.8, 3.0, 3.8, 1.2], [0.8, 0.4, 1.7, 0.7], size=(n, 4)
    )


def test_answers_equal_the_served_model_and_batches_are_counted(
    server: ModelServer, iris_model
) -> None:
    x = _rows(150)
    sleep = SleepRecorder()
    with _target(server, sleep, batch_size=64) as target:
        proba = target.predict_proba(x)

    np.testing.assert_allclose(proba, iris_model.predict_proba(x), rtol=1e-12)
    assert [r["rows"] for r in server.requests] == [64, 64, 22]
    assert target.requests == 3 and target.queries == 150 and target.retries == 0
    assert sleep.calls == []
    np.testing.assert_array_equal(target.classes, [0, 1, 2])


def test_429_with_retry_after_seconds_is_retried(server: ModelServer, iris_model) -> None:
    busy = (429, {"Retry-After": "1"}, b'{"error": "slow down"}')
    server.planned = [busy, busy]
    sleep = SleepRecorder()
    x = _rows(10)

    with _target(server, sleep) as target:
        proba = target.predict_proba(x)

    np.testing.assert_allclose(proba, iris_model.predict_proba(x), rtol=1e-12)
    assert sleep.calls == [1.0, 1.0]
    assert len(server.requests) == 3  # two refusals, then the answer
    assert target.retries == 2 and target.queries == 10


def test_retry_after_as_http_date(server: ModelServer) -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    server.planned = [(503, {"Retry-After": when}, b"maintenance")]
    sleep = SleepRecorder()

    with _target(server, sleep) as target:
        target.predict_proba(_rows(3))

    assert len(sleep.calls) == 1
    assert 28.0 <= sleep.calls[0] <= 30.0  # the date has one-second resolution
    assert len(server.requests) == 2


def test_retry_after_is_capped(server: ModelServer) -> None:
    server.planned = [(429, {"Retry-After": "86400"}, b"")]
    sleep = SleepRecorder()
    with _target(server, sleep) as target:
        target.predict_proba(_rows(2))
    assert sleep.calls == [60.0]


def test_5xx_without_retry_after_backs_off_exponentially(server: ModelServer, iris_model) -> None:
    server.planned = [(500, {}, b"oops"), (502, {}, b"oops"), (503, {}, b"oops")]
    sleep = SleepRecorder()
    with _target(server, sleep, max_retries=3) as target:
        proba = target.predict_proba(_rows(4))
    assert sleep.calls == [0.25, 0.5, 1.0]
    np.testing.assert_allclose(proba, iris_model.predict_proba(_rows(4)), rtol=1e-12)


def test_503_beyond_max_retries_names_url_and_rows(server: ModelServer) -> None:
    server.planned = [(503, {"Retry-After": "2"}, b"overloaded")] * 10
    sleep = SleepRecorder()

    with (
        _target(server, sleep, batch_size=64, max_retries=2) as target,
        pytest.raises(EndpointError) as info,
    ):
        target.predict_proba(_rows(100))

    message = str(info.value)
    assert server.url in message
    assert "rows 0-63" in message
    assert "HTTP 503 after 2 retries" in message and "overloaded" in message
    assert sleep.calls == [2.0, 2.0]
    assert len(server.requests) == 3  # first try + 2 retries; the second batch was never sent


def test_400_fails_at_once_with_body_excerpt(server: ModelServer) -> None:
    server.planned = [(400, {}, b"expected 5 features per row, got 4\n")]
    sleep = SleepRecorder()

    with _target(server, sleep, batch_size=8) as target, pytest.raises(EndpointError) as info:
        target.predict_proba(_rows(20))

    message = str(info.value)
    assert "HTTP 400" in message
    assert "expected 5 features per row, got 4" in message
    assert server.url in message and "rows 0-7" in message
    assert len(server.requests) == 1 and sleep.calls == []


def test_failure_in_a_later_batch_names_its_rows(server: ModelServer) -> None:
    server.planned = [_ok_from(server), (404, {}, b"no such model")]
    with (
        _target(server, SleepRecorder(), batch_size=8) as target,
        pytest.raises(EndpointError) as info,
    ):
        target.predict_proba(_rows(20))
    assert "rows 8-15" in str(info.value)


def _ok_from(server: ModelServer) -> Callable[[list[list[float]]], Reply]:
    def reply(rows: list[list[float]]) -> Reply:
        proba = server.model.predict_proba(np.asarray(rows))
        return 200, {}, json.dumps({"probabilities": proba.tolist()}).encode()

    return reply


def _json(body: Any) -> Reply:
    return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ((200, {}, b"<html>Bad gateway</html>"), "not JSON"),
        (_json({"scores": [[1.0, 0.0, 0.0]] * 5}), "no 'probabilities' field"),
        (_json([[1.0, 0.0, 0.0]] * 5), "no 'probabilities' field"),
        (
            _json({"probabilities": [[1.0, 0.0, 0.0]] * 4}),
            "expected 5 rows of scores, got shape (4, 3)",
        ),
        (
            _json({"probabilities": [1.0, 0.0, 0.0, 1.0, 0.0]}),
            "expected 5 rows of scores, got shape (5,)",
        ),
        (_json({"probabilities": [["a", "b"]] * 5}), "not a matrix of numbers"),
        (_json({"probabilities": [[1.0, 0.0], [1.0]] * 2 + [[1.0]]}), "not a matrix of numbers"),
    ],
    ids=["html", "wrong-field", "bare-list", "too-few-rows", "flat", "strings", "ragged"],
)
def test_malformed_answers_are_endpoint_errors(
    server: ModelServer, reply: Reply, expected: str
) -> None:
    server.planned = [reply]
    with _target(server, SleepRecorder()) as target, pytest.raises(EndpointError) as info:
        target.predict_proba(_rows(5))
    assert expected in str(info.value)
    assert target.queries == 0


def test_batches_with_different_class_counts_are_an_endpoint_error(server: ModelServer) -> None:
    server.planned = [_ok_from(server), _json({"probabilities": [[0.5, 0.5]] * 2})]
    with (
        _target(server, SleepRecorder(), batch_size=4) as target,
        pytest.raises(EndpointError) as info,
    ):
        target.predict_proba(_rows(6))
    assert "different numbers of classes: [2, 3]" in str(info.value)


def test_connection_refused_fails_after_retries() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/predict"
    sleep = SleepRecorder()

    with (
        HttpTarget(url, sleep=sleep, max_retries=2, timeout_s=2.0) as target,
        pytest.raises(EndpointError) as info,
    ):
        target.predict_proba(_rows(3))

    message = str(info.value)
    assert url in message and "rows 0-2" in message
    assert "ConnectError" in message and "after 2 retries" in message
    assert sleep.calls == [0.25, 0.5]
    assert target.requests == 0


def test_endpoint_from_pipeline_sends_header_from_environment(
    server: ModelServer, iris_model, make_pipeline, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PS_TEST_TOKEN", "s3cret-token")
    pipeline = make_pipeline(
        tmp_path,
        endpoint={
            "url": server.url,
            "batch_size": 32,
            "headers": {"Authorization": "Bearer ${PS_TEST_TOKEN}", "X-Team": "ml"},
        },
    )
    x = _rows(40)

    with load_endpoint_target(pipeline, sleep=SleepRecorder()) as target:
        proba = target.predict_proba(x)

    np.testing.assert_allclose(proba, iris_model.predict_proba(x), rtol=1e-12)
    assert [r["rows"] for r in server.requests] == [32, 8]
    assert all(r["headers"]["authorization"] == "Bearer s3cret-token" for r in server.requests)
    assert all(r["headers"]["x-team"] == "ml" for r in server.requests)


def test_endpoint_header_with_unset_variable_is_a_config_error(
    server: ModelServer, make_pipeline, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PS_TEST_TOKEN", raising=False)
    pipeline = make_pipeline(
        tmp_path,
        endpoint={"url": server.url, "headers": {"Authorization": "Bearer ${PS_TEST_TOKEN}"}},
    )
    with pytest.raises(ConfigError) as info:
        load_endpoint_target(pipeline)
    assert "PS_TEST_TOKEN" in str(info.value)
    assert server.requests == []


def test_pipeline_without_endpoint_is_a_config_error(make_pipeline, tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"no \[endpoint\] section"):
        load_endpoint_target(make_pipeline(tmp_path))


def test_errors_never_echo_url_credentials() -> None:
    """A planted password in the URL must not reach the error a user (or a CI log) sees."""
    import socket

    from pipeshield.core.targets.http import HttpTarget
    from pipeshield.errors import EndpointError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: connections are refused
    target = HttpTarget(f"http://bob:hunter2@127.0.0.1:{port}/p", max_retries=0, sleep=lambda _: None)
    with pytest.raises(EndpointError) as info:
        target.predict_proba(np.zeros((1, 4)))
    assert "hunter2" not in info.value.diagnostics()
    assert f"http://***@127.0.0.1:{port}/p" in info.value.diagnostics()
