"""``/dashboard`` and ``/dashboard/data``: admin only, numbers that match the traffic, and a page that
renders them in a real browser (headless Chromium driven over the DevTools protocol)."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeshield.gateway.app import Gateway, create_app
from pipeshield.gateway.keys import ApiKeyStore
from tests.gateway.app.conftest import MODEL, GatewayFactory
from tests.report.test_html_browser import FLAGS, chromium  # noqa: F401  (the fixture)


def _keys(gateway: Gateway) -> dict[str, str]:
    store: ApiKeyStore = gateway.keys
    return {
        "admin": store.create("ops", admin=True, rate="1000/s").secret,
        "user": store.create("app", rate="1000/s", budget=10).secret,
        "slow": store.create("slow", rate="1/h").secret,
    }


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_dashboard_data_needs_an_admin_key(make_gateway: GatewayFactory) -> None:
    gateway, client = make_gateway()
    keys = _keys(gateway)
    r = client.get("/dashboard/data")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
    r = client.get("/dashboard/data", headers=_bearer(keys["user"]))
    assert r.status_code == 403 and r.json()["error"]["code"] == "admin_required"
    assert client.get("/dashboard/data", headers=_bearer(keys["admin"])).status_code == 200
    page = client.get("/dashboard")  # the page holds no data: it asks for the key
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "http://" not in page.text and "https://" not in page.text  # no external asset
    assert "Bearer " in page.text and "?key=" not in page.text


def test_dashboard_data_matches_the_traffic(make_gateway: GatewayFactory) -> None:
    gateway, client = make_gateway()
    keys = _keys(gateway)
    row = gateway.models[MODEL].schema.low.tolist()
    for _ in range(8):  # 8 inputs of a lifetime budget of 10: near it
        assert client.post(f"/v1/models/{MODEL}:predict", json={"inputs": [row]},
                           headers=_bearer(keys["user"])).status_code == 200
    assert client.post(f"/v1/models/{MODEL}:predict", json={"inputs": [row]}).status_code == 401
    assert client.post(f"/v1/models/{MODEL}:predict", json={"inputs": [row]},
                       headers=_bearer(keys["slow"])).status_code == 200
    for _ in range(2):
        assert client.post(f"/v1/models/{MODEL}:predict", json={"inputs": [row]},
                           headers=_bearer(keys["slow"])).status_code == 429
    assert client.post("/v1/models/nope:predict", json={"inputs": [row]},
                       headers=_bearer(keys["user"])).status_code == 404
    gateway.stats.alert(MODEL, "app", {"key_id": "key-x", "detector": "prada", "statistic": 0.7,
                                       "threshold": 0.9, "queries_seen": 120, "samples": 100, "first": True},
                        "log")
    data = client.get("/dashboard/data", headers=_bearer(keys["admin"])).json()
    # 13 requests before, and this one (logged before it is answered)
    assert (data["requests"], data["allowed"], data["denied"]) == (14, 10, 4)
    assert data["denials"] == {"rate_limited": 2, "unauthenticated": 1, "unknown_model": 1}
    assert data["rate_per_s"] > 0
    near = {(k["name"], k["budget"]): k for k in data["near_budget"]}
    assert list(near) == [("app", "lifetime")] and near["app", "lifetime"]["used"] == 8
    assert near["app", "lifetime"]["limit"] == 10
    assert data["alerts"][0]["detector"] == "prada" and data["alerts"][0]["key_name"] == "app"


# --- the page in headless Chromium ---------------------------------------------------------------


class _DevTools:
    """Just enough of the Chrome DevTools protocol over a WebSocket (RFC 6455) to drive one page."""

    def __init__(self, ws_url: str) -> None:
        rest = ws_url.removeprefix("ws://")
        hostport, _, path = rest.partition("/")
        host, _, port = hostport.partition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        nonce = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {nonce}\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head
        self.next_id = 0

    def _recv_exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("DevTools closed the connection")
            data += chunk
        return data

    def _frame(self) -> bytes:
        message = b""
        while True:
            b0, b1 = self._recv_exact(2)
            size = b1 & 0x7F
            if size == 126:
                size = struct.unpack(">H", self._recv_exact(2))[0]
            elif size == 127:
                size = struct.unpack(">Q", self._recv_exact(8))[0]
            message += self._recv_exact(size)
            if b0 & 0x80:
                return message

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        payload = json.dumps({"id": self.next_id, "method": method, "params": params}).encode()
        mask = os.urandom(4)
        n = len(payload)
        header = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n))
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        while True:
            reply = json.loads(self._frame())
            if reply.get("id") == self.next_id:
                assert "error" not in reply, reply
                return dict(reply.get("result", {}))

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def close(self) -> None:
        self.sock.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live(make_gateway: GatewayFactory) -> Iterator[tuple[Gateway, str, dict[str, str]]]:
    import uvicorn

    gateway, _ = make_gateway()
    keys = _keys(gateway)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(gateway), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield gateway, f"http://127.0.0.1:{port}", keys
    server.should_exit = True
    thread.join(timeout=10)


@pytest.mark.browser
def test_dashboard_renders_live_numbers_in_chromium(chromium: str, live: tuple[Gateway, str, dict[str, str]],  # noqa: F811
                                                    tmp_path: Path) -> None:
    import httpx

    gateway, base, keys = live
    row = gateway.models[MODEL].schema.low.tolist()
    with httpx.Client(base_url=base, timeout=10) as http:
        for _ in range(3):
            assert http.post(f"/v1/models/{MODEL}:predict", json={"inputs": [row]},
                             headers=_bearer(keys["user"])).status_code == 200
        assert http.post(f"/v1/models/{MODEL}:predict", json={"inputs": [row]}).status_code == 401
    devtools_port = _free_port()
    proc = subprocess.Popen([chromium, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                             f"--remote-debugging-port={devtools_port}", "--remote-allow-origins=*",
                             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        targets: list[dict[str, Any]] = []
        deadline = time.monotonic() + 30
        while not any(t.get("type") == "page" for t in targets):
            assert time.monotonic() < deadline and proc.poll() is None, "Chromium did not open DevTools"
            try:
                targets = httpx.get(f"http://127.0.0.1:{devtools_port}/json/list", timeout=2).json()
            except httpx.HTTPError:
                time.sleep(0.2)
        page = next(t for t in targets if t.get("type") == "page")
        tools = _DevTools(page["webSocketDebuggerUrl"])
        try:
            tools.call("Page.enable")
            tools.call("Page.navigate", url=f"{base}/dashboard")
            _wait(tools, "document.readyState === 'complete' && !!document.getElementById('key')")
            assert "admin key" in tools.evaluate("document.body.innerText").lower()
            # type the key and submit, as an operator would
            tools.evaluate(f"document.getElementById('key').value = {json.dumps(keys['admin'])}; "
                           "document.getElementById('login').requestSubmit(); true")
            _wait(tools, "document.getElementById('requests').textContent !== '-'")
            # 4 requests before, plus the page's first poll (logged before it is answered)
            assert tools.evaluate("document.getElementById('requests').textContent") == "5"
            denials = tools.evaluate("document.getElementById('denials').innerText")
            assert "unauthenticated" in denials and "1" in denials
            assert keys["admin"] not in tools.evaluate("location.href + document.cookie")
            assert tools.evaluate("document.getElementById('key').value") == ""
            shot = tools.call("Page.captureScreenshot")["data"]
            assert base64.b64decode(shot)[:8] == b"\x89PNG\r\n\x1a\n"
        finally:
            tools.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        errors = [line for line in (proc.stderr.read() if proc.stderr else "").splitlines()
                  if "Uncaught" in line or "Content Security Policy" in line]
    assert errors == [], errors


def _wait(tools: _DevTools, condition: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not tools.evaluate(f"!!({condition})"):
        assert time.monotonic() < deadline, f"timed out waiting for {condition}; page says: " + str(
            tools.evaluate("document.body ? document.body.innerText : ''"))
        time.sleep(0.1)
