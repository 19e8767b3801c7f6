"""The operator page: ``GET /dashboard`` (a self-contained HTML page) fed by ``GET /dashboard/data``.

The page holds no data and no secret: it asks the operator for an admin key, keeps it in a
JavaScript variable only (never in the URL, a cookie or browser storage) and polls
``/dashboard/data`` with ``Authorization: Bearer KEY`` every few seconds. ``/dashboard/data``
answers 401 without a key and 403 for a key that is not an admin key, like ``/metrics``.

It shows the request rate over the last minute, totals, denials by reason code, keys that have
used at least ``NEAR_BUDGET`` of a daily or lifetime budget, and the latest extraction alerts.
Everything is rendered with ``textContent`` (no HTML is built from data), and the page is served
with a Content-Security-Policy that allows only its own nonce'd script and style and
``connect-src 'self'``: no external asset, no CDN.

    stats = DashboardStats()
    stats.record(status=429, reason="rate_limited: requests: retry in 1 s")
    stats.snapshot()["denials"]   # {"rate_limited": 1}
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

__all__ = ["DashboardData", "DashboardStats", "NEAR_BUDGET", "dashboard_page"]

#: A key counts as "near its budget" once it has used this fraction of a daily or lifetime budget.
NEAR_BUDGET = 0.8
WINDOW_S = 60.0


class KeyBudget(BaseModel):
    id: str
    name: str
    budget: str = Field(description="daily or lifetime")
    used: int
    limit: int
    fraction: float
    sanction: str | None = None


class DashboardData(BaseModel):
    """What ``/dashboard/data`` returns (numbers since the gateway started, unless said)."""

    uptime_s: float
    requests: int
    allowed: int
    denied: int
    rate_per_s: float = Field(description="requests per second over the last minute")
    denials: dict[str, int] = Field(description="denied requests by reason code")
    near_budget: list[KeyBudget]
    alerts: list[dict[str, Any]] = Field(description="the latest extraction alerts, newest first")


class DashboardStats:
    """Thread-safe counters the gateway feeds for every logged request and every first alert."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, max_alerts: int = 50) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._started = clock()
        self._recent: deque[float] = deque()
        self._requests = self._allowed = 0
        self._denials: Counter[str] = Counter()
        self._alerts: deque[dict[str, Any]] = deque(maxlen=max_alerts)

    def _trim(self, now: float) -> None:
        while self._recent and self._recent[0] < now - WINDOW_S:
            self._recent.popleft()

    def record(self, status: int, reason: str | None) -> None:
        now = self._clock()
        with self._lock:
            self._requests += 1
            self._recent.append(now)
            self._trim(now)
            if status < 400:
                self._allowed += 1
            else:
                self._denials[(reason or str(status)).split(":")[0]] += 1

    def alert(self, model: str, key_name: str, alert: dict[str, Any], action: str) -> None:
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "model": model,
                 "key_name": key_name, "action": action, **alert}
        entry.pop("coverage", None)
        with self._lock:
            self._alerts.appendleft(entry)

    def snapshot(self) -> dict[str, Any]:
        now = self._clock()
        with self._lock:
            self._trim(now)
            uptime = now - self._started
            return {
                "uptime_s": round(uptime, 3),
                "requests": self._requests,
                "allowed": self._allowed,
                "denied": self._requests - self._allowed,
                "rate_per_s": round(len(self._recent) / max(1.0, min(WINDOW_S, uptime)), 3),
                "denials": dict(self._denials.most_common()),
                "alerts": list(self._alerts)[:20],
            }


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pipeshield gateway</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style nonce="{nonce}">
body{{font:14px system-ui,sans-serif;margin:2rem;color:#1b1f24;background:#f6f8fa}}
h1{{font-size:1.3rem}} h2{{font-size:1rem;margin-top:1.5rem}}
.tiles{{display:flex;gap:1rem;flex-wrap:wrap}}
.tile{{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:.8rem 1.2rem;min-width:8rem}}
.tile b{{display:block;font-size:1.6rem}}
table{{border-collapse:collapse;background:#fff}} td,th{{border:1px solid #d0d7de;padding:.3rem .6rem;text-align:left}}
#status{{color:#6e7781}} .err{{color:#b42318}} .hidden{{display:none}}
</style></head><body>
<h1>pipeshield gateway</h1>
<form id="login"><label>Admin API key <input id="key" type="password" autocomplete="off" required></label>
<button type="submit">Show</button></form>
<p id="status">Enter an admin key (it stays in this page's memory and is sent only as a header).</p>
<div id="board" class="hidden">
<div class="tiles">
<div class="tile">requests/s (last minute)<b id="rate">-</b></div>
<div class="tile">requests<b id="requests">-</b></div>
<div class="tile">allowed<b id="allowed">-</b></div>
<div class="tile">denied<b id="denied">-</b></div>
</div>
<h2>Denials by reason</h2><table><thead><tr><th>reason</th><th>count</th></tr></thead><tbody id="denials"></tbody></table>
<h2>Keys near their budget</h2><table><thead><tr><th>key</th><th>budget</th><th>used</th><th>limit</th><th>sanction</th></tr></thead><tbody id="budgets"></tbody></table>
<h2>Extraction alerts</h2><table><thead><tr><th>time</th><th>model</th><th>key</th><th>detector</th><th>statistic</th><th>threshold</th><th>queries</th><th>action</th></tr></thead><tbody id="alerts"></tbody></table>
</div>
<script nonce="{nonce}">
"use strict";
let key = null, timer = null;
const $ = (id) => document.getElementById(id);
function rows(id, items, cells, empty) {{
  const body = $(id);
  body.replaceChildren();
  if (!items.length) {{ items = [null]; }}
  for (const item of items) {{
    const tr = document.createElement("tr");
    for (const value of item === null ? [empty] : cells(item)) {{
      const td = document.createElement("td");
      td.textContent = String(value ?? "");
      tr.appendChild(td);
    }}
    body.appendChild(tr);
  }}
}}
async function poll() {{
  try {{
    const r = await fetch("/dashboard/data", {{headers: {{"Authorization": "Bearer " + key}}, cache: "no-store"}});
    const d = await r.json();
    if (!r.ok) {{
      $("status").textContent = (d.error && d.error.message) || ("HTTP " + r.status);
      $("status").className = "err";
      if (r.status === 401 || r.status === 403) {{ clearInterval(timer); key = null; }}
      return;
    }}
    $("board").className = "";
    $("status").className = "";
    $("status").textContent = "updated " + new Date().toLocaleTimeString() + " (every {interval} s)";
    for (const k of ["rate", "requests", "allowed", "denied"]) {{
      $(k).textContent = String(k === "rate" ? d.rate_per_s : d[k]);
    }}
    rows("denials", Object.entries(d.denials), (e) => e, "no denials");
    rows("budgets", d.near_budget, (k) => [k.name + " (" + k.id + ")", k.budget, k.used, k.limit, k.sanction],
         "no key near its budget");
    rows("alerts", d.alerts, (a) => [a.time, a.model, a.key_name + " (" + a.key_id + ")", a.detector,
         a.statistic, a.threshold, a.queries_seen, a.action], "no alerts");
  }} catch (err) {{
    $("status").textContent = "cannot reach the gateway: " + err;
    $("status").className = "err";
  }}
}}
$("login").addEventListener("submit", (event) => {{
  event.preventDefault();
  key = $("key").value.trim();
  $("key").value = "";
  clearInterval(timer);
  poll();
  timer = setInterval(poll, {interval_ms});
}});
</script></body></html>
"""


def dashboard_page(*, interval_s: int = 3) -> tuple[str, dict[str, str]]:
    """The page and its security headers (a fresh CSP nonce for each response)."""
    nonce = secrets.token_urlsafe(16)
    html = _PAGE.format(nonce=nonce, interval=interval_s, interval_ms=interval_s * 1000)
    headers = {
        "Content-Security-Policy": f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
                                   "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'",
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
    }
    return html, headers
