"""Crash test: drive load at the real ``pipeshield serve``, ``kill -9`` it mid-load, restart it.

Every request that got a 2xx must be in the audit log afterwards, and ``pipeshield log verify``
must pass. Each acknowledged request is matched by its ``X-Request-ID``, which its audit record
carries; each also sends a distinct input, and the record's input digest must be that input's.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from pipeshield.core.datasets import load_dataset
from pipeshield.core.pipeline import load_pipeline
from pipeshield.gateway.audit_log import AuditLogStore
from pipeshield.gateway.keys import ApiKeyStore
from tests.gateway.app.conftest import MODEL, copy_pipeline, digest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="kill -9 is POSIX")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(pipeline_file: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).parent / "pipeshield"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "pipeshield"]
    with log.open("ab") as out:
        return subprocess.Popen([*cmd, "serve", str(pipeline_file), "--port", str(port), "--model", MODEL],
                                cwd=pipeline_file.parent, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _wait_ready(proc: subprocess.Popen[bytes], base: str, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"pipeshield serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"pipeshield serve did not become ready in {timeout} s:\n{log.read_text()}")


def test_kill_9_loses_no_acknowledged_request(demo_pipeline: Path, tmp_path: Path) -> None:
    pipeline_file = copy_pipeline(demo_pipeline, tmp_path / "pipeline")
    pipeline = load_pipeline(pipeline_file)
    store = ApiKeyStore(pipeline.base_dir / ".pipeshield" / "gateway.db")
    secret = store.create("crash", rate="100000/s").secret
    store.close()
    rows = load_dataset(pipeline, "tabular_test").x[:8].astype(float)
    base_row, feature = rows[0], int(np.argmax(rows.std(axis=0)))  # a feature that varies: not pinned

    def unique_input(i: int) -> list[list[float]]:  # distinct per request, a hair away from a real row
        row = base_row.copy()
        row[feature] += 1e-9 * i * max(1.0, abs(row[feature]))
        return [row.tolist()]
    log, port = tmp_path / "serve.log", _free_port()
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {secret}"}

    acknowledged: list[tuple[str, str]] = []  # (request id, input digest) of every 2xx
    lock, stop = threading.Lock(), threading.Event()
    counter = iter(range(10**9))

    def drive() -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=5.0) as client:
            while not stop.is_set():
                with lock:
                    i = next(counter)
                inputs = unique_input(i)
                try:
                    response = client.post(f"/v1/models/{MODEL}:predict", json={"inputs": inputs})
                except httpx.HTTPError:
                    continue  # the server died under this request: it was never acknowledged
                if 200 <= response.status_code < 300:
                    with lock:
                        acknowledged.append((response.headers["x-request-id"], digest(inputs)))

    proc = _serve(pipeline_file, port, log)
    try:
        _wait_ready(proc, base, log)
        threads = [threading.Thread(target=drive, daemon=True) for _ in range(4)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while len(acknowledged) < 150 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)  # mid-load: requests are in flight
        proc.wait(10)
        stop.set()
        for t in threads:
            t.join(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    assert len(acknowledged) >= 50, f"too little load before the kill: {len(acknowledged)}\n{log.read_text()}"
    assert len({rid for rid, _ in acknowledged}) == len(acknowledged)

    # restart on the same files: it must come up over the log the crash left, and keep appending
    proc = _serve(pipeline_file, port, log)
    try:
        _wait_ready(proc, base, log)
        for j in range(3):
            inputs = unique_input(-1 - j)
            r = httpx.post(f"{base}/v1/models/{MODEL}:predict", json={"inputs": inputs}, headers=headers, timeout=5)
            assert r.status_code == 200, r.text
            acknowledged.append((r.headers["x-request-id"], digest(inputs)))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    db = pipeline.base_dir / ".pipeshield" / "audit-log.db"
    with AuditLogStore(db, create=False) as audit:
        records = [r.record() for r in audit.records()]
    logged = {r.request_id: r for r in records if r.decision.value == "allowed"}
    assert len(logged) == sum(r.decision.value == "allowed" for r in records)  # one record per request id
    missing = [rid for rid, _ in acknowledged if rid not in logged]
    assert not missing, f"{len(missing)} acknowledged requests are not in the log, e.g. {missing[:3]}"
    wrong = [rid for rid, d in acknowledged if logged[rid].input_digest != "sha256:" + d]
    assert not wrong, f"records whose input digest is not their request's input: {wrong[:3]}"
    assert len(logged) >= len(acknowledged)  # the log may hold more: committed, then the answer never sent
    verify = subprocess.run([sys.executable, "-m", "pipeshield", "log", "verify", "--db", str(db)],
                            capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "verified" in verify.stdout + verify.stderr
