"""Rate-limiter decisions per second (in-process vs Redis) and the accuracy of one limit shared by
two Redis-backed "replicas".

- Throughput: one thread calling ``check`` on one key with a limit it never reaches, then 4
  threads; for Redis each check is one EVALSHA round trip to 127.0.0.1:6379.
- Accuracy: two RedisLimiter instances (separate connection pools, like two gateway processes),
  ``--threads`` threads each, hammer one key limited to ``--rate``/s (burst 10) for ``--window``
  seconds; allowed / (burst + rate x elapsed) is reported (1.00 = exact). Repeated ``--repeats``
  times.

Run: ``.venv/bin/python bench/gateway_limits.py`` (needs Redis on 127.0.0.1:6379).
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid

import redis

from pipeshield.gateway.limits import InProcessLimiter, KeyLimits, Limiter, RedisLimiter, parse_rate

URL = "redis://127.0.0.1:6379"


def throughput(limiter: Limiter, threads: int, seconds: float) -> float:
    limits = KeyLimits(requests=parse_rate("1000000000/s"), daily_budget=10**12)
    counts: list[int] = []
    stop = time.perf_counter() + seconds

    def work() -> None:
        n = 0
        while time.perf_counter() < stop:
            limiter.check("bench", limits, n_inputs=1)
            n += 1
        counts.append(n)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(counts) / seconds


def accuracy(rate: int, threads: int, window: float) -> tuple[int, float, int]:
    prefix = f"bench:{uuid.uuid4().hex}"
    replicas = [RedisLimiter.from_url(URL, prefix=prefix) for _ in range(2)]
    limits = KeyLimits(requests=parse_rate(f"{rate}/s"), requests_burst=10)
    results: list[tuple[int, int]] = []
    start = time.monotonic()

    def work(limiter: RedisLimiter) -> None:
        ok = n = 0
        while time.monotonic() - start < window:
            ok += limiter.check("shared", limits).allowed
            n += 1
        results.append((ok, n))

    pool = [threading.Thread(target=work, args=(replicas[i % 2],)) for i in range(2 * threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.monotonic() - start
    replicas[0].reset("shared")
    allowed = sum(ok for ok, _ in results)
    return allowed, allowed / (10 + rate * elapsed), sum(n for _, n in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--threads", type=int, default=3)
    parser.add_argument("--window", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    redis.Redis.from_url(URL).ping()
    print("| limiter | threads | decisions/s |")
    print("|---|---|---|")
    for threads in (1, 4):
        print(
            f"| in-process | {threads} | {throughput(InProcessLimiter(), threads, args.seconds):,.0f} |"
        )
        red = RedisLimiter.from_url(URL, prefix=f"bench:{uuid.uuid4().hex}")
        print(f"| Redis (Lua) | {threads} | {throughput(red, threads, args.seconds):,.0f} |")
        red.reset("bench")
    print(
        f"\ntwo replicas x {args.threads} threads, {args.rate}/s burst 10, {args.window:g} s windows:"
    )
    for i in range(args.repeats):
        allowed, ratio, tried = accuracy(args.rate, args.threads, args.window)
        print(f"  run {i}: allowed {allowed} of {tried} attempts; allowed / expected = {ratio:.4f}")


if __name__ == "__main__":
    main()
