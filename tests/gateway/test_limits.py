"""Rate limits and budgets: exact bucket arithmetic (injected clock), UTC-midnight rollover, one
shared limit across two Redis "replicas", and fail-closed behaviour when Redis goes away."""

from __future__ import annotations

import math
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from pipeshield.errors import ConfigError, PipeshieldError
from pipeshield.gateway.limits import (
    DAY,
    DenyReason,
    InProcessLimiter,
    KeyLimits,
    Limiter,
    LimiterUnavailable,
    Rate,
    RateSpecError,
    RedisLimiter,
    parse_rate,
)
from tests.conftest import require_service
from tests.gateway.proxy import Cuttable

REDIS = ("127.0.0.1", 6379)
T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _redis_limiter(clock: Callable[[], float] | None) -> RedisLimiter:
    require_service("Redis", *REDIS)
    prefix = f"pipeshield-test:{uuid.uuid4().hex}"
    return RedisLimiter.from_url(f"redis://{REDIS[0]}:{REDIS[1]}", prefix=prefix, clock=clock)


@pytest.fixture(scope="module", autouse=True)
def _clean_redis() -> Iterator[None]:
    """Delete the keys these tests wrote (the lifetime counters never expire on their own)."""
    yield
    import redis

    try:
        client = redis.Redis(*REDIS, socket_connect_timeout=1.0)
        keys = list(client.scan_iter("pipeshield-test:*", count=1000))
        if keys:
            client.delete(*keys)
    except redis.ConnectionError:
        pass


@pytest.fixture(params=["in-process", "redis"])
def make(request: pytest.FixtureRequest) -> Callable[[Clock], Limiter]:
    def build(clock: Clock) -> Limiter:
        if request.param == "redis":
            return _redis_limiter(clock)
        return InProcessLimiter(clock=clock)

    return build


# --- specs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "amount", "period"),
    [
        ("10/s", 10, 1.0),
        ("600/min", 600, 60.0),
        ("5000/day", 5000, DAY),
        (" 100 / 5m ", 100, 300.0),
        ("3/h", 3, 3600.0),
        ("7/2days", 7, 2 * DAY),
    ],
)
def test_parse_rate(spec: str, amount: int, period: float) -> None:
    rate = parse_rate(spec)
    assert rate == Rate(amount, period)
    assert rate.per_second == pytest.approx(amount / period)


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("10", "expected AMOUNT/UNIT"),
        ("ten/s", "expected AMOUNT/UNIT"),
        ("10/fortnight", "unknown time unit 'fortnight'"),
        ("0/s", "allows nothing"),
        ("5/0s", "period of 0"),
        ("-1/s", "expected AMOUNT/UNIT"),
        ("", "expected AMOUNT/UNIT"),
    ],
)
def test_bad_rate_specs_say_what_is_wrong(spec: str, fragment: str) -> None:
    with pytest.raises(RateSpecError) as info:
        parse_rate(spec)
    assert fragment in info.value.message and isinstance(info.value, ConfigError)
    assert repr(spec) in info.value.message or "unknown time unit" in info.value.message


def test_invalid_limits_cannot_exist() -> None:
    with pytest.raises(RateSpecError, match="daily_budget must be a positive integer"):
        KeyLimits(daily_budget=0)
    with pytest.raises(RateSpecError, match="requests must be a Rate"):
        KeyLimits(requests="10/s")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_inputs must be a positive integer"):
        InProcessLimiter().check("k", KeyLimits(), n_inputs=0)


# --- arithmetic (both implementations, the same numbers) -----------------------------------------


def test_request_bucket_arithmetic_is_exact(make: Callable[[Clock], Limiter]) -> None:
    clock = Clock()
    limiter = make(clock)
    limits = KeyLimits(requests=parse_rate("4/s"), requests_burst=2)
    assert [limiter.check("k", limits).allowed for _ in range(3)] == [True, True, False]
    denied = limiter.check("k", limits)
    assert denied.reason is DenyReason.RATE and denied.retry_after == 0.25
    clock.now += 0.125  # half a token
    assert limiter.check("k", limits).retry_after == 0.125
    clock.now += 0.125
    assert limiter.check("k", limits).allowed
    clock.now += 100.0  # refill stops at the burst
    assert [limiter.check("k", limits).allowed for _ in range(3)] == [True, True, False]
    assert limiter.check("other", limits).allowed  # keys are independent


def test_inputs_bucket_charges_a_batch_by_its_size(make: Callable[[Clock], Limiter]) -> None:
    clock = Clock()
    limiter = make(clock)
    limits = KeyLimits(requests=parse_rate("100/s"), inputs=parse_rate("1000/s"))
    assert limiter.check("k", limits, n_inputs=1000).allowed
    denied = limiter.check("k", limits, n_inputs=500)
    assert denied.reason is DenyReason.INPUTS_RATE and denied.retry_after == 0.5
    clock.now += 0.25
    assert limiter.check("k", limits, n_inputs=250).allowed
    too_big = limiter.check("k", limits, n_inputs=1001)  # larger than the bucket: never
    assert too_big.reason is DenyReason.INPUTS_RATE and math.isinf(too_big.retry_after)
    assert too_big.to_dict()["retry_after"] is None


def test_a_denied_request_consumes_nothing(make: Callable[[Clock], Limiter]) -> None:
    clock = Clock()
    limiter = make(clock)
    limits = KeyLimits(requests=parse_rate("10/s"), inputs=parse_rate("10/s"), daily_budget=100)
    assert limiter.check("k", limits, n_inputs=10).allowed
    for _ in range(5):  # refused by the inputs bucket: the request bucket and budget are untouched
        assert limiter.check("k", limits, n_inputs=5).reason is DenyReason.INPUTS_RATE
    assert limiter.usage("k").daily_used == 10
    clock.now += 1.0
    assert all(limiter.check("k", limits, n_inputs=1).allowed for _ in range(9))


def test_budgets_roll_over_at_utc_midnight(make: Callable[[Clock], Limiter]) -> None:
    midnight = math.floor(T0 / DAY + 1) * DAY
    clock = Clock(midnight - 10.0)
    limiter = make(clock)
    limits = KeyLimits(daily_budget=100, lifetime_budget=250)
    first = limiter.check("k", limits, n_inputs=60)
    assert first.allowed and first.daily_remaining == 40 and first.lifetime_remaining == 190
    denied = limiter.check("k", limits, n_inputs=41)
    assert denied.reason is DenyReason.DAILY_BUDGET and denied.retry_after == 10.0
    assert limiter.check("k", limits, n_inputs=40).allowed
    clock.now = midnight - 0.5
    assert limiter.check("k", limits).reason is DenyReason.DAILY_BUDGET
    clock.now = midnight  # 00:00:00 UTC: a new day
    usage = limiter.usage("k")
    assert (usage.daily_used, usage.lifetime_used, usage.day) == (0, 100, int(midnight // DAY))
    assert limiter.check("k", limits, n_inputs=100).allowed
    clock.now += DAY
    assert limiter.check("k", limits, n_inputs=50).allowed
    spent = limiter.check("k", limits, n_inputs=1)
    assert spent.reason is DenyReason.LIFETIME_BUDGET and math.isinf(spent.retry_after)
    assert spent.lifetime_remaining == 0
    never = limiter.check("k2", limits, n_inputs=101)  # more than a day's budget
    assert never.reason is DenyReason.DAILY_BUDGET and math.isinf(never.retry_after)


def test_the_binding_reason_is_the_longest_wait(make: Callable[[Clock], Limiter]) -> None:
    limiter = make(Clock())
    limits = KeyLimits(requests=parse_rate("1/s"), inputs=parse_rate("10/min"))
    assert limiter.check("k", limits, n_inputs=10).allowed
    denied = limiter.check("k", limits, n_inputs=5)  # rate: 1 s; inputs: 30 s
    assert denied.reason is DenyReason.INPUTS_RATE and denied.retry_after == 30.0


def test_in_process_limiter_is_thread_safe() -> None:
    limiter = InProcessLimiter(clock=Clock())  # frozen clock: exactly the burst may pass
    limits = KeyLimits(requests=parse_rate("500/s"), daily_budget=10_000)
    allowed: list[int] = []

    def hammer() -> None:
        allowed.append(sum(limiter.check("k", limits).allowed for _ in range(400)))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == 500 and limiter.usage("k").daily_used == 500


# --- Redis: one shared limit, fail closed --------------------------------------------------------


def test_two_replicas_enforce_one_limit_within_5_percent() -> None:
    """Two limiters with their own connection pools (two gateway replicas), three threads each,
    Redis' clock: the allowed count over the window matches burst + rate * elapsed."""
    a = _redis_limiter(None)
    b = RedisLimiter.from_url(f"redis://{REDIS[0]}:{REDIS[1]}", prefix=a._prefix)
    rate, burst, window = 200, 10, 2.0
    limits = KeyLimits(requests=parse_rate(f"{rate}/s"), requests_burst=burst)
    counts: list[tuple[int, int]] = []
    start = time.monotonic()

    def hammer(limiter: RedisLimiter) -> None:
        ok = tried = 0
        while time.monotonic() - start < window:
            tried += 1
            ok += limiter.check("shared", limits).allowed
        counts.append((ok, tried))

    threads = [threading.Thread(target=hammer, args=(lim,)) for lim in (a, b, a, b, a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    allowed = sum(ok for ok, _ in counts)
    tried = sum(n for _, n in counts)
    expected = burst + rate * elapsed
    assert tried > 2 * expected, f"load too light to test the limit: {tried} attempts"
    assert abs(allowed - expected) / expected < 0.05, (allowed, expected, tried)


@pytest.fixture
def proxy() -> Iterator[Cuttable]:
    require_service("Redis", *REDIS)
    p = Cuttable(REDIS)
    yield p
    p.stop()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_redis_fails_closed_with_a_specific_error() -> None:
    limiter = RedisLimiter.from_url(f"redis://127.0.0.1:{_closed_port()}", timeout_s=0.5)
    with pytest.raises(LimiterUnavailable) as info:
        limiter.check("k", KeyLimits(requests=parse_rate("10/s")))
    assert "unreachable while checking key 'k'" in info.value.message
    assert "503" in info.value.diagnostics() and isinstance(info.value, PipeshieldError)
    with pytest.raises(LimiterUnavailable):
        limiter.usage("k")


def test_redis_going_away_mid_run_denies_then_recovers(proxy: Cuttable) -> None:
    limiter = RedisLimiter.from_url(
        f"redis://127.0.0.1:{proxy.port}",
        timeout_s=0.5,
        prefix=f"pipeshield-test:{uuid.uuid4().hex}",
    )
    limits = KeyLimits(requests=parse_rate("1000/s"), daily_budget=1000)
    assert all(limiter.check("k", limits).allowed for _ in range(20))
    proxy.stop()  # Redis vanishes: every check raises, none is allowed
    for _ in range(3):
        with pytest.raises(LimiterUnavailable):
            limiter.check("k", limits)
    proxy.start()  # back on the same address: the limiter reconnects by itself
    assert limiter.check("k", limits).allowed
    assert limiter.usage("k").daily_used == 21


def test_a_killed_connection_is_reopened() -> None:
    import redis

    limiter = _redis_limiter(None)
    limits = KeyLimits(daily_budget=1000)
    assert limiter.check("k", limits).allowed
    admin = redis.Redis(*REDIS)
    admin.client_kill_filter(_type="normal", skipme=True, laddr=None)  # drops every other client
    assert limiter.check("k", limits).allowed  # one immediate retry on a fresh connection
    assert limiter.usage("k").daily_used == 2
