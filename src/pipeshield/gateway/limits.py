"""Rate limits and query budgets per API key: the gateway's first defence against extraction and abuse.

Each key may carry four limits (:class:`KeyLimits`), all counted in *inputs*, because a batch of
1,000 inputs teaches a thief as much as 1,000 single requests:

- ``requests``: a token bucket of requests per time (a request costs 1 whatever its size);
- ``inputs``: a token bucket of inputs per time (a batch of n inputs costs n);
- ``daily_budget``: total inputs per UTC calendar day (resets at 00:00 UTC);
- ``lifetime_budget``: total inputs ever.

A bucket holds ``burst`` tokens (default: the rate's amount, so ``"600/min"`` allows 600 at once and
then 10 a second) and refills continuously at the rate. A request is all-or-nothing: it consumes
from every limit or from none. A denial says why (:class:`DenyReason`: the limit with the longest wait;
on a tie budgets come before rates) and ``retry_after``: the seconds until every limit that refused would
allow it, ``math.inf`` when waiting cannot help (a batch larger than the bucket or the budget, a
spent lifetime budget). Rates are rolling buckets; ``"5000/day"`` as a rate is therefore *not* the
calendar-day budget.

Two implementations of the :class:`Limiter` protocol:

- :class:`InProcessLimiter`: one process, thread-safe (one lock), state in a dict.
- :class:`RedisLimiter`: check-and-consume is **one Lua script**, so it is atomic in Redis and
  several gateway replicas enforce one shared limit. By default it reads Redis' own clock (``TIME``)
  so that replicas with skewed clocks agree. It **fails closed**: when Redis cannot be reached or
  times out it raises :class:`LimiterUnavailable`, which the gateway answers with 503 (never an
  allow); it recovers by itself once Redis is back (redis-py reconnects; the script is reloaded
  when Redis restarted empty). One immediate retry covers a connection that was dropped while idle;
  if a reply is lost after Redis ran the script, the retry may count that request twice (the safe
  direction). Redis keys are ``{prefix}:{key_id}:…`` (pass key *ids*, never secrets) and expire
  once idle long enough that a fresh bucket would be identical; the lifetime counter never expires.

    >>> limiter = InProcessLimiter()
    >>> limits = KeyLimits(requests=parse_rate("10/s"), inputs=parse_rate("1000/min"),
    ...                    daily_budget=50_000)
    >>> limiter.check("key-1", limits, n_inputs=32).allowed
    True
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from pipeshield.errors import ConfigError, PipeshieldError

__all__ = [
    "Decision",
    "DenyReason",
    "InProcessLimiter",
    "KeyLimits",
    "Limiter",
    "LimiterUnavailable",
    "Rate",
    "RateSpecError",
    "RedisLimiter",
    "Usage",
    "parse_rate",
]

DAY = 86400.0

_UNITS = {
    "s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0,
    "m": 60.0, "min": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "d": DAY, "day": DAY, "days": DAY,
}  # fmt: skip
_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([A-Za-z]+)\s*$")


class RateSpecError(ConfigError):
    """A rate such as ``"10/s"`` could not be parsed, or a limit holds an invalid value."""


class LimiterUnavailable(PipeshieldError):
    """The shared limiter store (Redis) cannot be reached: the gateway must deny with 503."""


class DenyReason(StrEnum):
    """Which limit refused a request (string values, stable for logs and JSON)."""

    LIFETIME_BUDGET = "lifetime_budget"
    DAILY_BUDGET = "daily_budget"
    RATE = "rate"
    INPUTS_RATE = "inputs_rate"


@dataclass(frozen=True)
class Rate:
    """``amount`` per ``period_s`` seconds, e.g. ``Rate(600, 60.0)`` for ``"600/min"``."""

    amount: int
    period_s: float

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or self.amount < 1:
            raise RateSpecError(f"a rate's amount must be a positive integer, got {self.amount!r}")
        if not (
            isinstance(self.period_s, (int, float))
            and math.isfinite(self.period_s)
            and self.period_s > 0
        ):
            raise RateSpecError(
                f"a rate's period must be a positive number of seconds, got {self.period_s!r}"
            )

    @property
    def per_second(self) -> float:
        return self.amount / self.period_s

    def __str__(self) -> str:
        return f"{self.amount}/{self.period_s:g}s"


def parse_rate(spec: str) -> Rate:
    """Parse ``"10/s"``, ``"600/min"``, ``"5000/day"``, ``"100/5m"`` (units s, min, h, day)."""
    if not isinstance(spec, str):
        raise RateSpecError(f"a rate must be a string like '10/s', got {spec!r}")
    match = _SPEC.match(spec)
    if match is None:
        raise RateSpecError(
            f"cannot parse rate {spec!r}: expected AMOUNT/UNIT",
            hint="for example '10/s', '600/min', '100/5m', '5000/day'",
        )
    amount, count, unit = int(match[1]), match[2], match[3].lower()
    if unit not in _UNITS:
        raise RateSpecError(
            f"unknown time unit {match[3]!r} in rate {spec!r}",
            hint="use s, min, h or day (also second, minute, hour, m, d)",
        )
    if amount < 1:
        raise RateSpecError(f"rate {spec!r} allows nothing: the amount must be at least 1")
    multiple = int(count) if count else 1
    if multiple < 1:
        raise RateSpecError(f"rate {spec!r} has a period of 0 {unit}")
    return Rate(amount, multiple * _UNITS[unit])


def _check_count(name: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise RateSpecError(f"{name} must be a positive integer or None, got {value!r}")


@dataclass(frozen=True)
class KeyLimits:
    """The limits of one API key; ``None`` disables that limit. Bursts default to the amounts."""

    requests: Rate | None = None
    inputs: Rate | None = None
    daily_budget: int | None = None
    lifetime_budget: int | None = None
    requests_burst: int | None = None
    inputs_burst: int | None = None

    def __post_init__(self) -> None:
        for name in ("requests", "inputs"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Rate):
                raise RateSpecError(f"{name} must be a Rate (see parse_rate), got {value!r}")
        for name in ("daily_budget", "lifetime_budget", "requests_burst", "inputs_burst"):
            _check_count(name, getattr(self, name))

    @property
    def request_capacity(self) -> float:
        if self.requests is None:
            return 0.0
        return float(self.requests_burst or self.requests.amount)

    @property
    def input_capacity(self) -> float:
        if self.inputs is None:
            return 0.0
        return float(self.inputs_burst or self.inputs.amount)


@dataclass(frozen=True)
class Decision:
    """The answer to one request: allowed, or denied with the reason and when to retry."""

    allowed: bool
    reason: DenyReason | None = None
    retry_after: float = 0.0
    daily_remaining: int | None = None
    lifetime_remaining: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "reason": None if self.reason is None else self.reason.value,
            "retry_after": None if math.isinf(self.retry_after) else self.retry_after,
            "daily_remaining": self.daily_remaining,
            "lifetime_remaining": self.lifetime_remaining,
        }


@dataclass(frozen=True)
class Usage:
    """Inputs a key has spent today (UTC day number ``day``) and in its lifetime."""

    day: int
    daily_used: int
    lifetime_used: int


class Limiter(Protocol):
    """Check-and-consume for one request of ``n_inputs`` inputs by ``key_id``."""

    def check(self, key_id: str, limits: KeyLimits, n_inputs: int = 1) -> Decision: ...

    def usage(self, key_id: str) -> Usage: ...


def _validate(key_id: str, n_inputs: int) -> None:
    if not isinstance(key_id, str) or not key_id:
        raise ValueError(f"key_id must be a non-empty string, got {key_id!r}")
    if isinstance(n_inputs, bool) or not isinstance(n_inputs, int) or n_inputs < 1:
        raise ValueError(f"n_inputs must be a positive integer, got {n_inputs!r}")


# --- the arithmetic, once in Python; _LUA below is the same steps in the same order ----------------


@dataclass
class _Bucket:
    tokens: float
    ts: float


@dataclass
class _State:
    requests: _Bucket | None = None
    inputs: _Bucket | None = None
    day: int = -1
    daily_used: int = 0
    lifetime_used: int = 0


def _refill(bucket: _Bucket | None, rate: float, burst: float, now: float) -> _Bucket:
    if bucket is None:
        return _Bucket(burst, now)
    tokens = bucket.tokens
    if now > bucket.ts:
        tokens = min(burst, tokens + (now - bucket.ts) * rate)
    return _Bucket(min(tokens, burst), max(now, bucket.ts))


def _wait(bucket: _Bucket, rate: float, burst: float, cost: float) -> float:
    if cost > burst:
        return math.inf
    if bucket.tokens >= cost:
        return 0.0
    return (cost - bucket.tokens) / rate


def _decide(state: _State, limits: KeyLimits, cost: int, now: float) -> Decision:
    """Check and (when allowed) consume; mutates ``state``."""
    day = int(math.floor(now / DAY))
    if state.day != day:
        state.day, state.daily_used = day, 0
    reasons: list[tuple[DenyReason, float]] = []
    if limits.lifetime_budget is not None and state.lifetime_used + cost > limits.lifetime_budget:
        reasons.append((DenyReason.LIFETIME_BUDGET, math.inf))
    if limits.daily_budget is not None and state.daily_used + cost > limits.daily_budget:
        wait = math.inf if cost > limits.daily_budget else (day + 1) * DAY - now
        reasons.append((DenyReason.DAILY_BUDGET, wait))
    req = inp = None
    if limits.requests is not None:
        rate, burst = limits.requests.per_second, limits.request_capacity
        req = _refill(state.requests, rate, burst, now)
        wait = _wait(req, rate, burst, 1.0)
        if wait > 0:
            reasons.append((DenyReason.RATE, wait))
    if limits.inputs is not None:
        rate, burst = limits.inputs.per_second, limits.input_capacity
        inp = _refill(state.inputs, rate, burst, now)
        wait = _wait(inp, rate, burst, float(cost))
        if wait > 0:
            reasons.append((DenyReason.INPUTS_RATE, wait))
    # Refilled buckets are stored either way (the same tokens, a later timestamp).
    state.requests, state.inputs = req, inp
    allowed = not reasons
    if allowed:
        if req is not None:
            req.tokens -= 1.0
        if inp is not None:
            inp.tokens -= float(cost)
        state.daily_used += cost
        state.lifetime_used += cost
    # The binding reason: the longest wait (on a tie, the first in precedence order).
    reason, retry = None, 0.0
    for why, wait in reasons:
        if reason is None or wait > retry:
            reason, retry = why, wait
    return Decision(
        allowed=allowed,
        reason=reason,
        retry_after=retry,
        daily_remaining=None
        if limits.daily_budget is None
        else limits.daily_budget - state.daily_used,
        lifetime_remaining=(
            None if limits.lifetime_budget is None else limits.lifetime_budget - state.lifetime_used
        ),
    )


class InProcessLimiter:
    """Limits kept in this process (one gateway). Thread-safe; ``clock`` returns UTC epoch seconds.

    Memory grows with the number of distinct keys (a few hundred bytes each); keys are API key ids,
    which the gateway only passes after authentication, so strangers cannot grow it.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._states: dict[str, _State] = {}

    def check(self, key_id: str, limits: KeyLimits, n_inputs: int = 1) -> Decision:
        _validate(key_id, n_inputs)
        with self._lock:
            state = self._states.setdefault(key_id, _State())
            return _decide(state, limits, n_inputs, float(self._clock()))

    def usage(self, key_id: str) -> Usage:
        with self._lock:
            day = int(math.floor(float(self._clock()) / DAY))
            state = self._states.get(key_id, _State())
            return Usage(day, state.daily_used if state.day == day else 0, state.lifetime_used)


_LUA = """
-- KEYS: requests bucket, inputs bucket, daily hash, lifetime counter
-- ARGV: now ('' = Redis TIME), cost, req rate/s, req burst, in rate/s, in burst (rate 0 = off),
--       daily budget, lifetime budget (-1 = off)
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
else
  now = tonumber(ARGV[1])
end
local cost = tonumber(ARGV[2])
local daily, lifetime = tonumber(ARGV[7]), tonumber(ARGV[8])
local DAY = 86400
local day = math.floor(now / DAY)
local INF = 1/0
local reasons, waits = {}, {}

local lifetime_used = tonumber(redis.call('GET', KEYS[4]) or '0')
local d = redis.call('HMGET', KEYS[3], 'day', 'used')
local daily_used = 0
if tonumber(d[1]) == day then daily_used = tonumber(d[2]) end

if lifetime >= 0 and lifetime_used + cost > lifetime then
  table.insert(reasons, 'lifetime_budget'); table.insert(waits, INF)
end
if daily >= 0 and daily_used + cost > daily then
  local w = (day + 1) * DAY - now
  if cost > daily then w = INF end
  table.insert(reasons, 'daily_budget'); table.insert(waits, w)
end

local function refill(key, rate, burst)
  local s = redis.call('HMGET', key, 't', 'ts')
  local tokens, ts = tonumber(s[1]), tonumber(s[2])
  if tokens == nil or ts == nil then return burst, now end
  if now > ts then tokens = math.min(burst, tokens + (now - ts) * rate) end
  return math.min(tokens, burst), math.max(now, ts)
end
local function wait(tokens, rate, burst, need)
  if need > burst then return INF end
  if tokens >= need then return 0 end
  return (need - tokens) / rate
end

local rr, rb, ir, ib = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local rt, rts, it, its
if rr > 0 then
  rt, rts = refill(KEYS[1], rr, rb)
  local w = wait(rt, rr, rb, 1)
  if w > 0 then table.insert(reasons, 'rate'); table.insert(waits, w) end
end
if ir > 0 then
  it, its = refill(KEYS[2], ir, ib)
  local w = wait(it, ir, ib, cost)
  if w > 0 then table.insert(reasons, 'inputs_rate'); table.insert(waits, w) end
end

local allowed = #reasons == 0
if allowed then
  if rr > 0 then rt = rt - 1 end
  if ir > 0 then it = it - cost end
  daily_used = daily_used + cost
  lifetime_used = lifetime_used + cost
  redis.call('HSET', KEYS[3], 'day', day, 'used', daily_used)
  redis.call('EXPIRE', KEYS[3], 2 * DAY)
  redis.call('SET', KEYS[4], lifetime_used)
end
if rr > 0 then
  redis.call('HSET', KEYS[1], 't', string.format('%.17g', rt), 'ts', string.format('%.17g', rts))
  redis.call('EXPIRE', KEYS[1], math.ceil(rb / rr) + 60)
end
if ir > 0 then
  redis.call('HSET', KEYS[2], 't', string.format('%.17g', it), 'ts', string.format('%.17g', its))
  redis.call('EXPIRE', KEYS[2], math.ceil(ib / ir) + 60)
end

local retry, reason = 0, ''
for i, w in ipairs(waits) do
  if i == 1 or w > retry then retry = w; reason = reasons[i] end
end
local retry_text = 'inf'
if retry ~= INF then retry_text = string.format('%.17g', retry) end
return {allowed and 1 or 0, reason, retry_text, daily_used, lifetime_used}
"""


class RedisLimiter:
    """Limits shared by every gateway replica through one Redis; one atomic Lua script per check.

    ``client``: a ``redis.Redis`` (or build one with :meth:`from_url`). ``clock``: ``None`` (the
    default) uses Redis' clock, which replicas share; tests inject one. Raises
    :class:`LimiterUnavailable` whenever Redis does not answer: fail closed, 503.
    """

    def __init__(
        self,
        client: Any,
        *,
        prefix: str = "pipeshield:limits",
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._clock = clock
        self._script = client.register_script(_LUA)

    @classmethod
    def from_url(
        cls, url: str = "redis://127.0.0.1:6379", *, timeout_s: float = 1.0, **kwargs: Any
    ) -> RedisLimiter:
        """A limiter on a new client with short timeouts (a gateway must not hang on Redis)."""
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 1),
            health_check_interval=0,
        )
        return cls(client, **kwargs)

    def _keys(self, key_id: str) -> list[str]:
        base = f"{self._prefix}:{{{key_id}}}"  # hash tag: one cluster slot per key
        return [f"{base}:requests", f"{base}:inputs", f"{base}:daily", f"{base}:lifetime"]

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        import redis

        try:
            return fn()
        except (redis.ConnectionError, redis.TimeoutError) as err:
            raise LimiterUnavailable(
                f"the rate limiter's Redis is unreachable while {what}: {err}",
                hint="requests are denied (503) until Redis answers again; check the --redis URL",
            ) from err

    def check(self, key_id: str, limits: KeyLimits, n_inputs: int = 1) -> Decision:
        _validate(key_id, n_inputs)
        now = "" if self._clock is None else repr(float(self._clock()))
        args = [
            now,
            n_inputs,
            repr(limits.requests.per_second) if limits.requests else "0",
            repr(limits.request_capacity),
            repr(limits.inputs.per_second) if limits.inputs else "0",
            repr(limits.input_capacity),
            -1 if limits.daily_budget is None else limits.daily_budget,
            -1 if limits.lifetime_budget is None else limits.lifetime_budget,
        ]
        raw = self._call(
            f"checking key {key_id!r}", lambda: self._script(keys=self._keys(key_id), args=args)
        )
        allowed, reason, retry, daily_used, lifetime_used = raw
        reason = reason.decode() if isinstance(reason, bytes) else str(reason)
        retry = retry.decode() if isinstance(retry, bytes) else str(retry)
        return Decision(
            allowed=bool(int(allowed)),
            reason=DenyReason(reason) if reason else None,
            retry_after=math.inf if retry == "inf" else float(retry),
            daily_remaining=None
            if limits.daily_budget is None
            else limits.daily_budget - int(daily_used),
            lifetime_remaining=(
                None
                if limits.lifetime_budget is None
                else limits.lifetime_budget - int(lifetime_used)
            ),
        )

    def _now(self) -> float:
        if self._clock is not None:
            return float(self._clock())
        seconds, micros = self._call("reading its clock", self._client.time)
        return float(seconds) + float(micros) / 1e6

    def usage(self, key_id: str) -> Usage:
        day = int(math.floor(self._now() / DAY))
        keys = self._keys(key_id)

        def read() -> tuple[Any, Any]:
            pipe = self._client.pipeline(transaction=True)
            pipe.hmget(keys[2], "day", "used")
            pipe.get(keys[3])
            daily, lifetime = pipe.execute()
            return daily, lifetime

        daily, lifetime = self._call(f"reading the usage of key {key_id!r}", read)
        used = int(daily[1]) if daily[0] is not None and int(daily[0]) == day else 0
        return Usage(day, used, int(lifetime or 0))

    def reset(self, key_id: str) -> None:
        """Forget every counter of ``key_id`` (tests, or an operator restoring a key's budget)."""
        self._call(f"resetting key {key_id!r}", lambda: self._client.delete(*self._keys(key_id)))
