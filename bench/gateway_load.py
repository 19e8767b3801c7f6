"""Gateway overhead under real HTTP load: `pipeshield serve` vs a bare FastAPI endpoint (issue 7).

Builds the demo pipeline into a temporary folder, creates one API key whose limits never deny, and
starts the servers as subprocesses on 127.0.0.1, each uvicorn with one worker and the same settings
(``server_config``: uvicorn's "auto" loop and HTTP parser, i.e. uvloop and httptools when installed,
access log off, info logging to a file):

- bare: FastAPI ``POST /v1/models/tabular_forest:predict`` calling the same Target's
  ``predict_proba`` (loaded with ``load_target``), no controls;
- gateway: ``pipeshield serve --model tabular_forest`` with every control on (auth, rate limits,
  input policy, output policy, extraction monitor, durable SQLite audit log: WAL,
  ``synchronous=FULL``, group commit; every answer waits for its record's fsync);
- gateway-normal (leave out with ``--no-normal``): the same with ``--audit-sync normal`` (no fsync
  per answer: survives a process crash, not a power cut), to show what the fsync costs.

Both receive the same bodies: one test-set row per request, rotating over the first 200 test rows
that the gateway's input policy accepts (3 lie outside the training ranges and would get a 422).

1. Saturation (closed loop): ``wrk -t1 -c16 -d{--seconds}s`` with a Lua script for the POST bodies
   (after a short warm-up run); throughput = wrk's Requests/sec.
2. Half load (open loop): a Python asyncio generator on raw keep-alive sockets sends requests on a
   fixed schedule at half the bare endpoint's median peak rate; latency is measured from each
   request's *scheduled* time (corrected for coordinated omission, like wrk2) to the end of its
   response. p50/p99 per run.

Each measurement runs ``--repeats`` times, the servers taking turns (the order rotates each repeat);
medians are reported in a table, with the throughput ratio gateway/bare (target >= 0.70) and the
added p99 (target < 5 ms). Any non-200 answer is counted and reported; the load average is printed
with every run (the machine's other jobs matter: read the spread, not one number).

Run: ``.venv/bin/python bench/gateway_load.py`` (needs ``wrk`` on PATH: ``apt-get install wrk``);
quick look: ``--seconds 5 --repeats 3``; ``--scale-out`` for the two-replica Redis/PostgreSQL test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MODEL = "tabular_forest"
PATH = f"/v1/models/{MODEL}:predict"
ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


# --- the bare endpoint (run as a subprocess of this script) -------------------------------------

def serve_bare(pipeline_file: Path, port: int) -> None:
    import numpy as np
    import uvicorn
    from fastapi import FastAPI

    from pipeshield.core.pipeline import load_pipeline
    from pipeshield.core.targets.base import load_target
    from pipeshield.gateway.server import server_config

    target = load_target(load_pipeline(pipeline_file), MODEL)
    app = FastAPI(title="bare")

    @app.post(PATH)
    def predict(body: dict[str, Any]) -> dict[str, Any]:  # sync: FastAPI runs it in its threadpool
        x = np.asarray(body["inputs"], dtype=np.float32)
        probs = np.asarray(target.predict_proba(x), dtype=np.float64)
        return {"model": MODEL, "outputs": probs.tolist(), "labels": probs.argmax(axis=1).tolist()}

    @app.get("/readyz")
    def readyz() -> dict[str, bool]:
        return {"ready": True}

    uvicorn.Server(server_config(app, host="127.0.0.1", port=port)).run()


# --- set-up -------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server on port {port} exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"server on port {port} not ready after {timeout} s")


def bodies(pipeline_file: Path, n: int = 200) -> list[bytes]:
    from pipeshield.core.datasets import load_dataset
    from pipeshield.core.pipeline import load_pipeline
    from pipeshield.gateway.input_policy import InputRejected, schema_for_model

    pipeline = load_pipeline(pipeline_file)
    schema = schema_for_model(pipeline, MODEL)  # the gateway's default tolerance (5%)
    rows = load_dataset(pipeline, "tabular_test").x[:n].astype(float).tolist()
    kept = []
    for row in rows:  # a few test rows lie outside the training ranges: the gateway rightly answers 422
        try:
            schema.check([row])
        except InputRejected:
            continue
        kept.append(row)
    print(f"{len(kept)} of {len(rows)} test rows pass the input policy; those are the request bodies", flush=True)
    return [json.dumps({"inputs": [r]}, separators=(",", ":")).encode() for r in kept]


# --- closed-loop saturation with wrk ------------------------------------------------------------

def wrk_script(folder: Path, secret: str | None, payloads: list[bytes]) -> Path:
    def lua(b: bytes) -> str:
        return "[==[" + b.decode() + "]==]"  # JSON rows end in "]]"

    auth = f'wrk.headers["Authorization"] = "Bearer {secret}"\n' if secret else ""
    text = (
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n' + auth +
        "local bodies = {" + ",".join(lua(b) for b in payloads) + "}\n"
        "local i = 0\n"
        "request = function()\n"
        "  i = i % #bodies + 1\n"
        "  return wrk.format(nil, nil, nil, bodies[i])\n"
        "end\n"
        "done = function(summary, latency, requests)\n"
        "  io.write(string.format('WRKJSON {\"requests\":%d,\"duration_us\":%d,\"non2xx\":%d,\"errors\":%d,'\n"
        "    .. '\"p50_ms\":%.3f,\"p99_ms\":%.3f}\\n', summary.requests, summary.duration, summary.errors.status,\n"
        "    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,\n"
        "    latency:percentile(50) / 1000, latency:percentile(99) / 1000))\n"
        "end\n"
    )
    path = folder / ("gateway.lua" if secret else "bare.lua")  # the two gateways share one script
    path.write_text(text)
    return path


def run_wrk(port: int, script: Path, seconds: float, connections: int) -> dict[str, float]:
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{round(seconds)}s", "-s", str(script),
                          f"http://127.0.0.1:{port}{PATH}"], capture_output=True, text=True, check=True)
    line = next((x for x in out.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise SystemExit(f"wrk gave no result:\n{out.stdout}\n{out.stderr}")
    res: dict[str, float] = json.loads(line[len("WRKJSON "):])
    res["rps"] = res["requests"] / (res["duration_us"] / 1e6)
    return res


# --- open-loop fixed-rate load ------------------------------------------------------------------

async def _open_loop(port: int, secret: str | None, payloads: list[bytes], rate: float, seconds: float,
                     connections: int) -> dict[str, float]:
    head = f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
    if secret:
        head += f"Authorization: Bearer {secret}\r\n"
    requests = [(head + f"Content-Length: {len(b)}\r\n\r\n").encode() + b for b in payloads]
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    latencies: list[float] = []
    bad = 0

    async def worker() -> None:
        nonlocal bad
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while (item := await queue.get()) is not None:
            i, scheduled = item
            writer.write(requests[i % len(requests)])
            header = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in header.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - scheduled)
            if not header.startswith(b"HTTP/1.1 200"):
                bad += 1
        writer.close()

    tasks = [asyncio.create_task(worker()) for _ in range(connections)]
    await asyncio.sleep(0.2)  # connections open
    total = int(rate * seconds)
    start = time.perf_counter()
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((i, scheduled))
    for _ in tasks:
        queue.put_nowait(None)
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"sent": total, "achieved_rps": len(latencies) / elapsed, "p50_ms": q[49] * 1000,
            "p99_ms": q[98] * 1000, "non200": bad}


def open_loop(port: int, secret: str | None, payloads: list[bytes], rate: float, seconds: float,
              connections: int = 32) -> dict[str, float]:
    return asyncio.run(_open_loop(port, secret, payloads, rate, seconds, connections))


# --- scale-out: two replicas, one Redis limit, one PostgreSQL log --------------------------------

def scale_out(pg_admin_url: str, redis_url: str, rate: int, seconds: float, repeats: int) -> None:
    import uuid

    import psycopg

    from pipeshield.demo import build_demo

    tmp = Path(tempfile.mkdtemp(prefix="pipeshield-scale-"))
    dbname = f"pipeshield_bench_{uuid.uuid4().hex[:8]}"
    conninfo = pg_admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    log_url = pg_admin_url.rsplit("/", 1)[0] + "/" + dbname
    procs: list[subprocess.Popen[bytes]] = []
    try:
        pipeline_file = build_demo(tmp / "pipeline").pipeline_file
        payloads = bodies(pipeline_file)
        ports = [free_port(), free_port()]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # create the key store before the replicas start: two processes creating its tables at once
        # can fail with "table gateway_api_keys already exists" (seen once; a key-store start-up race)
        subprocess.run([str(BIN / "pipeshield"), "keys", "create", "--name", "unused", "--format", "json",
                        "--pipeline", str(pipeline_file)], capture_output=True, check=True)
        for i, port in enumerate(ports):
            with open(tmp / f"replica{i}.out", "wb") as out:
                procs.append(subprocess.Popen(
                    [str(BIN / "pipeshield"), "serve", str(pipeline_file), "--port", str(port), "--model", MODEL,
                     "--redis", redis_url, "--log-db", log_url], stdout=out, stderr=subprocess.STDOUT, env=env))
        for port, proc in zip(ports, procs):
            wait_ready(port, proc)
        print(f"two replicas on :{ports[0]} and :{ports[1]}, Redis {redis_url}, log {log_url}", flush=True)
        ratios = []
        for r in range(repeats):
            created = subprocess.run(  # a fresh key per run: a fresh, full bucket
                [str(BIN / "pipeshield"), "keys", "create", "--name", f"shared{r}", "--rate", f"{rate}/s",
                 "--inputs-rate", "1000000/s", "--format", "json", "--pipeline", str(pipeline_file)],
                capture_output=True, text=True, check=True)
            script = wrk_script(tmp, json.loads(created.stdout)["key"], payloads)
            wrks = [subprocess.Popen(["wrk", "-t1", "-c4", f"-d{round(seconds)}s", "-s", str(script),
                                      f"http://127.0.0.1:{port}{PATH}"], stdout=subprocess.PIPE, text=True)
                    for port in ports]
            results = []
            for w in wrks:
                stdout, _ = w.communicate()
                line = next(x for x in stdout.splitlines() if x.startswith("WRKJSON "))
                results.append(json.loads(line[len("WRKJSON "):]))
            allowed = sum(x["requests"] - x["non2xx"] for x in results)
            total = sum(x["requests"] for x in results)
            elapsed = max(x["duration_us"] for x in results) / 1e6
            expected = rate + rate * elapsed  # burst (= the rate's amount) + refill over the window
            ratios.append(allowed / expected)
            print(f"scale-out run {r + 1}: {total} requests, {allowed} allowed (per replica "
                  f"{[x['requests'] - x['non2xx'] for x in results]}), expected {expected:.0f} "
                  f"(burst {rate} + {rate}/s x {elapsed:.2f} s): {allowed / expected:.3f}", flush=True)
    except BaseException:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        raise
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
    verify = subprocess.run([str(BIN / "pipeshield"), "log", "verify", "--db", log_url],
                            capture_output=True, text=True, check=False)
    with psycopg.connect(conninfo.rsplit("/", 1)[0] + "/" + dbname) as conn:
        tables = [t for (t,) in conn.execute(
            "select table_name from information_schema.tables where table_schema='public'")]
    print(f"log verify --db {log_url}: exit {verify.returncode}\n{(verify.stdout + verify.stderr).strip()}")
    print(f"tables: {tables}")
    med = statistics.median(ratios)
    print(f"allowed/expected, median of {repeats}: {med:.3f}  (target within 5%: "
          f"{'met' if abs(med - 1) <= 0.05 else 'MISSED'}); log verify "
          f"{'passed' if verify.returncode == 0 else 'FAILED'}")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{dbname}"')
    shutil.rmtree(tmp, ignore_errors=True)


# --- main ---------------------------------------------------------------------------------------

def _table(names: list[str], peak: dict[str, float], p50: dict[str, float], p99: dict[str, float], rate: float,
           repeats: int) -> str:
    rows = ["| server | peak req/s (median) | ratio to bare | p50 at half load | p99 at half load | added p99 |",
            "|---|---|---|---|---|---|"]
    for n in names:
        ratio = peak[n] / peak["bare"]
        added = p99[n] - p99["bare"]
        rows.append(f"| {n} | {peak[n]:.1f} | {ratio:.2f} | {p50[n]:.2f} ms | {p99[n]:.2f} ms | "
                    f"{'-' if n == 'bare' else f'{added:+.2f} ms'} |")
    return "\n".join(rows) + f"\n(half load = {rate:.0f} req/s = half the bare peak; medians of {repeats} runs)"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="Length of each measured run.")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16, help="wrk connections at saturation.")
    parser.add_argument("--no-normal", action="store_true",
                        help="Leave out the third server, the gateway with --audit-sync normal (needed to "
                             "measure a pipeshield that has no such option).")
    parser.add_argument("--ref-src", type=Path, metavar="DIR",
                        help="Also run a 'gateway-ref' server from another pipeshield source tree (its src/ "
                             "folder, e.g. from `git archive HEAD src | tar -x -C DIR`), side by side: before/after.")
    parser.add_argument("--scale-out", action="store_true", help="Run the two-replica test instead.")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                        help="A PostgreSQL URL allowed to CREATE DATABASE (scale-out).")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379", help="Redis URL (scale-out).")
    parser.add_argument("--rate", type=int, default=50, help="The shared key's requests/s (scale-out).")
    parser.add_argument("--serve-bare", nargs=2, metavar=("PIPELINE", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(Path(args.serve_bare[0]), int(args.serve_bare[1]))
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install -y wrk")
    if args.scale_out:
        scale_out(args.pg_url, args.redis, args.rate, args.seconds, args.repeats)
        return

    from pipeshield.demo import build_demo

    tmp = Path(tempfile.mkdtemp(prefix="pipeshield-load-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        pipeline_file = build_demo(tmp / "pipeline").pipeline_file
        created = subprocess.run(
            [str(BIN / "pipeshield"), "keys", "create", "--name", "load", "--rate", "1000000/s",
             "--inputs-rate", "1000000/s", "--format", "json", "--pipeline", str(pipeline_file)],
            capture_output=True, text=True, check=True)
        secret = json.loads(created.stdout)["key"]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        serve = [str(BIN / "pipeshield"), "serve", str(pipeline_file), "--model", MODEL]
        commands: dict[str, list[str]] = {"bare": [sys.executable, __file__, "--serve-bare", str(pipeline_file)],
                                          "gateway": serve}
        if not args.no_normal:  # its own log file: the two gateways must not share one SQLite writer
            commands["gateway-normal"] = [*serve, "--audit-sync", "normal", "--log-db",
                                          str(tmp / "audit-normal.db")]
        if args.ref_src:
            commands["gateway-ref"] = [*serve, "--log-db", str(tmp / "audit-ref.db")]
        names = list(commands)
        ports = {n: free_port() for n in names}
        for n in names:
            with open(tmp / f"{n}.out", "wb") as out:
                cmd = commands[n] + ([str(ports[n])] if n == "bare" else ["--port", str(ports[n])])
                env_n = {**env, "PYTHONPATH": str(args.ref_src.resolve())} if n == "gateway-ref" else env
                procs.append(subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env_n))
        for n, proc in zip(names, procs):
            wait_ready(ports[n], proc)
        payloads = bodies(pipeline_file)
        secrets = {n: None if n == "bare" else secret for n in names}
        scripts = {n: wrk_script(tmp, secrets[n], payloads) for n in names}
        print(f"demo pipeline in {tmp}; " + ", ".join(f"{n} on :{ports[n]}" for n in names) +
              f"; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}", flush=True)

        for n in names:  # warm-up
            run_wrk(ports[n], scripts[n], 3, args.connections)

        def order(r: int) -> list[str]:  # rotate who goes first: no server always follows the same one
            return names[r % len(names):] + names[:r % len(names)]

        sat: dict[str, list[dict[str, float]]] = {n: [] for n in names}
        for r in range(args.repeats):
            for n in order(r):
                res = run_wrk(ports[n], scripts[n], args.seconds, args.connections)
                sat[n].append(res)
                print(f"saturation run {r + 1} {n:14s}: {res['rps']:8.1f} req/s  p50 {res['p50_ms']:.2f} ms  "
                      f"p99 {res['p99_ms']:.2f} ms  non-2xx {res['non2xx']}  socket errors {res['errors']}  "
                      f"(load {os.getloadavg()[0]:.1f})", flush=True)
        peak = {n: statistics.median(x["rps"] for x in v) for n, v in sat.items()}
        rate = peak["bare"] / 2

        half: dict[str, list[dict[str, float]]] = {n: [] for n in names}
        for r in range(args.repeats):
            for n in order(r):
                res = open_loop(ports[n], secrets[n], payloads, rate, args.seconds)
                half[n].append(res)
                print(f"half-load run {r + 1} {n:14s}: {rate:.0f} req/s scheduled, {res['achieved_rps']:.1f} "
                      f"done  p50 {res['p50_ms']:.2f} ms  p99 {res['p99_ms']:.2f} ms  non-200 {res['non200']}  "
                      f"(load {os.getloadavg()[0]:.1f})", flush=True)
        p50 = {n: statistics.median(x["p50_ms"] for x in v) for n, v in half.items()}
        p99 = {n: statistics.median(x["p99_ms"] for x in v) for n, v in half.items()}

        ratio = peak["gateway"] / peak["bare"]
        added = p99["gateway"] - p99["bare"]
        print()
        print(_table(names, peak, p50, p99, rate, args.repeats))
        print()
        print(f"throughput ratio gateway/bare: {ratio:.2f}  (target >= 0.70: {'met' if ratio >= 0.70 else 'MISSED'})")
        print(f"added p99 at half load: {added:+.2f} ms  (target < 5 ms: {'met' if added < 5 else 'MISSED'})")
        print("RESULT " + json.dumps({"peak_rps": peak, "ratio": ratio, "rate": rate, "p50_ms": p50, "p99_ms": p99,
                                      "added_p99_ms": added, "saturation": sat, "half_load": half}))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
