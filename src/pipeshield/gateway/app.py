"""The guarded inference gateway: FastAPI in front of a pipeline's verified models.

Every prediction request passes, in order: authentication (``Authorization: Bearer KEY`` or
``X-API-Key``; 401) -> the key's model scope and sanctions (403) -> threat intelligence on the
client address and key id (403 naming the indicator) -> body size (413) -> JSON -> threat
intelligence on the input digest (403) -> batch size (413) -> the input policy (422 naming field and
index) -> rate limits and budgets (429 with ``Retry-After``; 503 when the shared limiter is
unreachable: fail closed) -> the model -> the input detector, where configured (its scores are logged;
``flag`` lists the suspicious indices in the answer, ``deny`` answers 422 ``suspicious_input``) -> the
output policy (per key, else per model) -> the
extraction monitor (an alert is logged, POSTed to the webhook, and may throttle, deny or switch the
key to label-only) -> the audit log. The audit record of *every* request, allowed or denied, is
committed durably (group commit) before the response is sent; if it cannot be, the answer is 503.
The record carries the request's ``X-Request-ID``.

The hot path, per prediction: the body is read on the event loop (a too-large body is refused only
after authentication, so the order of answers above holds); then ONE worker-thread hop,
:meth:`Gateway.handle_predict`, runs authentication, the checks, :meth:`Gateway.predict` (input
policy -> limits -> model -> detector -> output policy -> monitor) and queues the audit record
(:meth:`Gateway.queue_record`); the event loop then awaits the record's group commit
(:meth:`Gateway.settle`, no thread parked on the fsync) and only then sends the answer.

    gateway = Gateway(load_pipeline("pipeshield.toml"), GatewaySettings(redis="redis://127.0.0.1:6379"))
    app = create_app(gateway)          # serve with uvicorn; see `pipeshield serve`
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from pipeshield.core.pipeline import Pipeline
from pipeshield.errors import PipeshieldError
from pipeshield.gateway.audit_log import (
    Appended,
    AuditLogStore,
    AuditRecord,
    GroupCommitAppender,
    canonical_json,
)
from pipeshield.gateway.dashboard import (
    NEAR_BUDGET,
    DashboardData,
    DashboardStats,
    KeyBudget,
    dashboard_page,
)
from pipeshield.gateway.detectors import DetectorScreen
from pipeshield.gateway.extraction_monitor import Alert, ExtractionMonitor
from pipeshield.gateway.input_policy import InputRejected
from pipeshield.gateway.keys import (
    DEFAULT_KEYS_DB,
    ApiKey,
    ApiKeyError,
    ApiKeyStore,
    parse_output_policy,
)
from pipeshield.gateway.limits import (
    InProcessLimiter,
    KeyLimits,
    Limiter,
    LimiterUnavailable,
    RedisLimiter,
    parse_rate,
)
from pipeshield.gateway.output_policy import OutputPolicy
from pipeshield.gateway.schemas import (
    HealthResponse,
    ModelInfo,
    ModelsResponse,
    PredictRequest,
    PredictResponse,
    ReadyResponse,
    error_responses,
)
from pipeshield.gateway.serving import ServedModel, load_models
from pipeshield.gateway.settings import GatewaySettings
from pipeshield.gateway.threat_intel import Blocklist

__all__ = ["Answer", "Denied", "Gateway", "create_app"]

log = logging.getLogger("pipeshield.gateway")
DEFAULT_LOG_DB = Path(".pipeshield") / "audit-log.db"


class Denied(Exception):
    """A request the gateway refuses: the status, a stable code and the message the caller reads."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


@dataclass
class _Call:
    """What the audit record of one request needs, filled in as the request is handled."""

    request_id: str
    client: str | None
    started: float
    model: str | None = None
    key: ApiKey | None = None
    inputs: Any = None
    inputs_json: bool = True  # the inputs are valid JSON (no NaN/Infinity): the log may keep them
    digest: str = "sha256:" + hashlib.sha256(b"null").hexdigest()
    detector: dict[str, Any] | None = None  # the input detector's scores: the audit record's output.detector


@dataclass
class Answer:
    """A handled request: what to send once ``pending`` (its audit record's commit) completes."""

    call: _Call
    status: int
    body: dict[str, Any] | None
    headers: dict[str, str]
    reason: str | None
    pending: Future[Appended]


class _Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("pipeshield_gateway_requests", "Requests by model, HTTP status and reason",
                                ["model", "status", "reason"], registry=r)
        self.latency = Histogram("pipeshield_gateway_request_seconds", "Time to answer a request", ["model"],
                                 registry=r, buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
        self.denials = Counter("pipeshield_gateway_denials", "Denied requests by reason", ["reason"], registry=r)
        self.alerts = Counter("pipeshield_gateway_extraction_alerts", "Extraction monitor alerts",
                              ["model", "detector"], registry=r)
        self.inputs = Counter("pipeshield_gateway_inputs", "Inputs predicted", ["model"], registry=r)
        self.served = Gauge("pipeshield_gateway_models_served", "Models being served", registry=r)
        self.failed = Gauge("pipeshield_gateway_models_refused", "Models refused (signature, scan, load)",
                            registry=r)


class Gateway:
    """The gateway's state: key store, limiter, blocklist, audit log, monitors and the served models.

    Models are verified, scanned and loaded here, once; ``close()`` flushes the audit log.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        settings: GatewaySettings | None = None,
        *,
        limiter: Limiter | None = None,
        keys: ApiKeyStore | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.settings = settings = settings or GatewaySettings()
        home = pipeline.base_dir
        self.keys = keys or ApiKeyStore(settings.keys_db or home / DEFAULT_KEYS_DB, cache_s=settings.key_cache_s)
        self.limiter: Limiter = limiter or (
            RedisLimiter.from_url(settings.redis) if settings.redis else InProcessLimiter())
        self.blocklist = Blocklist.load(*settings.intel)
        log_db = settings.log_db or home / DEFAULT_LOG_DB
        if "://" not in str(log_db):
            Path(log_db).parent.mkdir(parents=True, exist_ok=True)
        self.store = AuditLogStore(log_db, synchronous=settings.audit_sync)
        self.audit = GroupCommitAppender(self.store)
        self.metrics = _Metrics()
        self.stats = DashboardStats()
        self.models, self.failed = load_models(pipeline, settings.models, tolerance=settings.range_tolerance,
                                               detectors=settings.detectors)
        self.screen = DetectorScreen(self.metrics.registry)
        self.metrics.served.set(len(self.models))
        self.metrics.failed.set(len(self.failed))
        default = settings.output.get("*", "full")
        self.model_policy = {n: parse_output_policy(settings.output.get(n, default)) for n in self.models}
        self.monitors = {n: ExtractionMonitor(self._monitor_settings(m)) for n, m in self.models.items()}
        self._webhooks = ThreadPoolExecutor(max_workers=2, thread_name_prefix="alert-webhook")

    def _monitor_settings(self, model: ServedModel) -> Any:
        try:
            return replace(self.settings.monitor, bounds=(model.schema.low, model.schema.high))
        except ValueError:  # a constant feature: coverage needs hi > lo everywhere; PRADA does not
            return self.settings.monitor

    def close(self) -> None:
        self.audit.close()
        self.store.close()
        self.keys.close()
        self._webhooks.shutdown(wait=False)

    # --- the steps ---------------------------------------------------------------------------

    def client_address(self, request: Request) -> str | None:
        if self.settings.trust_forwarded_for:
            forwarded = request.headers.get("x-forwarded-for")
            if forwarded:  # the entry the (trusted) proxy appended: the last one
                return forwarded.split(",")[-1].strip()
        return request.client.host if request.client else None

    def authenticate(self, request: Request, call: _Call) -> ApiKey:
        header = request.headers.get("authorization", "")
        secret = header[7:].strip() if header[:7].lower() == "bearer " else request.headers.get("x-api-key", "")
        if not secret:
            raise Denied(401, "unauthenticated", "no API key: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
                         {"WWW-Authenticate": "Bearer"})
        try:
            key = self.keys.authenticate(secret.strip())
        except ApiKeyError as err:
            raise Denied(503, "key_store_unavailable", f"cannot check the API key: {err.message}") from None
        if key is None:
            raise Denied(401, "unauthenticated", "the API key is unknown or revoked", {"WWW-Authenticate": "Bearer"})
        call.key = key
        hit = self.blocklist.match(client=call.client, key_id=key.id, input_digest=None)
        if hit is not None:
            raise Denied(403, "blocklisted", f"blocklisted by indicator {hit.id} ({hit.name})")
        return key

    def check_model(self, key: ApiKey, name: str) -> ServedModel:
        if not key.may_use(name):
            raise Denied(403, "forbidden_model", f"this API key may not use model {name!r}")
        if key.sanction == "deny":
            raise Denied(403, "key_denied", "this API key is suspended after an extraction alert")
        model = self.models.get(name)
        if model is None:
            if name in self.failed:
                raise Denied(503, "model_unavailable", f"model {name!r} is not served: {self.failed[name]}")
            raise Denied(404, "unknown_model", f"no model named {name!r}")
        return model

    def limits(self, key: ApiKey) -> KeyLimits:
        if key.sanction != "throttle":
            return key.limits
        s = self.settings
        return replace(key.limits, requests=parse_rate(s.throttle_rate), inputs=parse_rate(s.throttle_inputs_rate),
                       requests_burst=None, inputs_burst=None)

    def output_policy(self, key: ApiKey, model: str) -> OutputPolicy:
        if key.sanction == "label-only":
            return OutputPolicy(label_only=True)
        if key.output:
            return parse_output_policy(key.output)
        return self.model_policy[model]

    def predict(self, call: _Call, key: ApiKey, model: ServedModel, body: bytes) -> dict[str, Any]:
        """Everything after the body is read; runs in a worker thread (the model and the log block)."""
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as err:
            raise Denied(422, "invalid_json", f"the body is not JSON: {err}") from None
        if not isinstance(payload, dict) or "inputs" not in payload:
            raise Denied(422, "invalid_input", 'the body must be a JSON object {"inputs": [...]}')
        inputs = payload["inputs"]
        call.inputs = inputs
        try:
            call.digest = "sha256:" + hashlib.sha256(canonical_json(inputs)).hexdigest()
        except ValueError:  # NaN/Infinity are not JSON: digest the bytes as sent
            call.digest = "sha256:" + hashlib.sha256(body).hexdigest()
            call.inputs_json = False
        hit = self.blocklist.match(client=None, key_id=None, input_digest=call.digest)
        if hit is not None:
            raise Denied(403, "blocklisted", f"blocklisted by indicator {hit.id} ({hit.name})")
        if isinstance(inputs, list) and len(inputs) > self.settings.max_batch:
            raise Denied(413, "batch_too_large", f"inputs: {len(inputs)} inputs, at most {self.settings.max_batch} "
                                                 "per request")
        try:
            x = model.schema.check(inputs)
        except InputRejected as err:
            raise Denied(422, "invalid_input", err.message) from None
        try:
            decision = self.limiter.check(key.id, self.limits(key), n_inputs=len(x))
        except LimiterUnavailable as err:
            raise Denied(503, "limiter_unavailable", f"the rate limiter is unavailable, so requests are refused "
                                                     f"({err.message})") from None
        if not decision.allowed:
            reason = decision.reason.value if decision.reason else "rate"
            if math.isinf(decision.retry_after):
                raise Denied(429, "rate_limited", f"{reason}: this request can never fit the key's limit")
            wait = max(1, math.ceil(decision.retry_after))
            raise Denied(429, "rate_limited", f"{reason}: retry in {wait} s", {"Retry-After": str(wait)})
        try:
            probs = np.asarray(model.target.predict_proba(x.astype(np.float32)), dtype=np.float64)
        except PipeshieldError as err:
            raise Denied(503, "model_unavailable", f"model {model.name!r} failed: {err.message}") from None
        try:  # the adversarial/OOD detector, if the model has one: scores logged; flag or deny
            screened = self.screen(model.name, model.detector, x, probs)
        except PipeshieldError as err:
            raise Denied(503, "model_unavailable", f"model {model.name!r} detector failed: {err.message}") from None
        if screened is not None:
            call.detector = screened.to_log()
            if screened.denied:
                raise Denied(422, "suspicious_input", screened.message)
        labels = model.labels(probs)
        policy = self.output_policy(key, model.name)
        alert = self.observe(key, model, x, probs)
        if alert is not None and self.settings.on_alert == "deny":
            raise Denied(403, "key_denied", "this API key is suspended after an extraction alert")
        if alert is not None and self.settings.on_alert == "label-only":
            policy = OutputPolicy(label_only=True)
        outputs: list[Any] = labels if policy.label_only else policy.apply(probs).tolist()
        self.metrics.inputs.labels(model.name).inc(len(x))
        result = {"model": model.name, "outputs": outputs, "labels": labels, "policy": policy.to_dict()}
        if screened is not None and screened.action == "flag":
            result["flagged"] = list(screened.flagged)
        return result

    def observe(self, key: ApiKey, model: ServedModel, x: np.ndarray, probs: np.ndarray) -> Alert | None:
        try:
            alert = self.monitors[model.name].observe(key.id, x, probs.argmax(axis=1))
        except ValueError as err:  # never let the monitor break a prediction
            log.warning("extraction monitor skipped a request: %s", err)
            return None
        if alert is None:
            return None
        if alert.first:
            log.warning("extraction alert for key %s on %s: %s", key.id, model.name, alert.to_dict())
            self.metrics.alerts.labels(model.name, alert.detector).inc()
            self.stats.alert(model.name, key.name, alert.to_dict(), self.settings.on_alert)
            if self.settings.alert_webhook:
                self._webhooks.submit(self._notify, {"model": model.name, "key_name": key.name, **alert.to_dict(),
                                                     "action": self.settings.on_alert})
            if self.settings.on_alert != "log":
                self.keys.set_sanction(key.id, self.settings.on_alert)
        return alert

    def _notify(self, body: dict[str, Any]) -> None:
        import httpx

        url = self.settings.alert_webhook
        assert url is not None
        try:
            httpx.post(url, json=body, timeout=self.settings.webhook_timeout_s)
        except httpx.HTTPError as err:
            log.warning("alert webhook %s failed: %s", url, err)

    def queue_record(self, call: _Call, status: int, reason: str | None, output: Any) -> Future[Appended]:
        """Queue the request's audit record for the next group commit; the future completes when it
        is durable, or fails (AuditLogError) when it cannot be written. Never blocks on the disk."""
        latency = (time.perf_counter() - call.started) * 1000
        # only inputs JSON can hold (no NaN) are kept verbatim; predict() found out while digesting them
        logged_input = call.inputs if self.settings.log_inputs and call.inputs_json else None
        try:
            record = AuditRecord(
                time=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                key_id=call.key.id if call.key else None, client=call.client, model=call.model,
                input_digest=call.digest, decision="allowed" if status < 400 else "denied",  # type: ignore[arg-type]
                latency_ms=round(latency, 3), reason=reason, input=logged_input,
                output=output if call.detector is None else {**(output or {}), "detector": call.detector},
                request_id=call.request_id,
            )
            return self.audit.submit(record)
        except PipeshieldError as err:  # the appender is closed: the request fails closed, like a failed commit
            failed: Future[Appended] = Future()
            failed.set_exception(err)
            return failed

    def handle(self, call: _Call, work: Callable[[], tuple[dict[str, Any] | None, Any]]) -> Answer:
        """Run a request's steps (``work`` returns the answer's body and what the log keeps of it) and
        queue its audit record, denied or allowed; runs in a worker thread."""
        try:
            body, logged = work()
        except Denied as denied:
            log.info("denied %s %s key=%s client=%s: %s %s", call.request_id, call.model,
                     call.key.id if call.key else None, call.client, denied.code, denied.message)
            self.metrics.denials.labels(denied.code).inc()
            reason = f"{denied.code}: {denied.message}"
            error = {"error": {"code": denied.code, "message": denied.message, "request_id": call.request_id}}
            return Answer(call, denied.status, error, denied.headers, reason,
                          self.queue_record(call, denied.status, reason, None))
        return Answer(call, 200, body, {}, None, self.queue_record(call, 200, None, logged))

    def handle_predict(self, call: _Call, request: Request, name: str, body: bytes | Denied) -> Answer:
        """The whole prediction after the body is read, in ONE worker-thread hop: authentication,
        scope, body size, :meth:`predict`, and the audit record queued (not yet durable)."""

        def work() -> tuple[dict[str, Any], Any]:
            key = self.authenticate(request, call)
            model = self.check_model(key, name)
            if isinstance(body, Denied):  # too large: refused after authentication, as documented
                raise body
            result = self.predict(call, key, model, body)
            return result, result

        return self.handle(call, work)

    async def settle(self, answer: Answer) -> JSONResponse | None:
        """Wait (on the event loop) until the answer's audit record is durable, then count the request;
        None when logged, else the 503 that replaces the answer."""
        call, status, reason = answer.call, answer.status, answer.reason
        # only names the gateway knows become label values: callers must not mint time series
        model = call.model if call.model in self.models or call.model in self.failed else "-"
        try:
            await asyncio.wrap_future(answer.pending)
        except PipeshieldError as err:
            log.error("audit log unavailable, request %s refused: %s", call.request_id, err.message)
            status, reason = 503, "audit_log_unavailable"
            self.metrics.requests.labels(model, "503", reason).inc()
            self.stats.record(503, reason)
            return _error(503, reason, "the audit log cannot be written, so the request is refused",
                          call.request_id, {})
        self.metrics.requests.labels(model, str(status), (reason or "ok").split(":")[0]).inc()
        self.stats.record(status, reason)
        self.metrics.latency.labels(model).observe(time.perf_counter() - call.started)
        return None

    async def respond(self, answer: Answer) -> JSONResponse:
        """The answer as sent: after its record is durable; a denial as the error body."""
        failed = await self.settle(answer)
        if failed is not None:
            return failed
        return JSONResponse(answer.body, status_code=answer.status,
                            headers={**answer.headers, "X-Request-ID": answer.call.request_id})

    def dashboard_data(self) -> DashboardData:
        """The operator page's numbers; keys near a budget come from the key store and the limiter."""
        near: list[KeyBudget] = []
        for key in self.keys.list():
            if key.revoked:
                continue
            lim = key.limits
            if lim.daily_budget is None and lim.lifetime_budget is None:
                continue
            try:
                usage = self.limiter.usage(key.id)
            except LimiterUnavailable:
                continue
            for budget, used, limit in (("daily", usage.daily_used, lim.daily_budget),
                                        ("lifetime", usage.lifetime_used, lim.lifetime_budget)):
                if limit and used >= NEAR_BUDGET * limit:
                    near.append(KeyBudget(id=key.id, name=key.name, budget=budget, used=used, limit=limit,
                                          fraction=round(used / limit, 4), sanction=key.sanction))
        near.sort(key=lambda k: -k.fraction)
        return DashboardData(**self.stats.snapshot(), near_budget=near)



def _error(status: int, code: str, message: str, request_id: str, headers: dict[str, str]) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "request_id": request_id}}
    return JSONResponse(body, status_code=status, headers={**headers, "X-Request-ID": request_id})


async def _read_body(request: Request, limit: int) -> bytes | Denied:
    """The body, or the 413 to send once the caller is authenticated (the body is not read further)."""
    try:
        return await _read_limited(request, limit)
    except Denied as too_large:
        return too_large


async def _read_limited(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise Denied(413, "body_too_large", f"the body is {length} bytes, at most {limit} are accepted")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Denied(413, "body_too_large", f"the body is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(gateway: Gateway) -> FastAPI:
    """The FastAPI application around ``gateway`` (closed when the app shuts down)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> Any:
        yield
        gateway.close()

    app = FastAPI(title="pipeshield gateway", version="1",
                  description="Guarded inference: authenticated, rate-limited, policy-checked and audit-logged "
                              "predictions from a pipeline's verified models.", lifespan=lifespan)

    def begin(request: Request, model: str | None = None) -> _Call:
        return _Call(uuid.uuid4().hex, gateway.client_address(request), time.perf_counter(), model)

    def admin(request: Request, call: _Call, what: str) -> tuple[None, None]:
        key = gateway.authenticate(request, call)
        if not key.admin:
            raise Denied(403, "admin_required", f"{what} needs an admin key (pipeshield keys create --admin)")
        return None, None

    predict_body = {"requestBody": {"required": True, "content": {
        "application/json": {"schema": PredictRequest.model_json_schema()}}}}

    @app.post("/v1/models/{name}:predict", response_model=PredictResponse, openapi_extra=predict_body,
              responses=error_responses(401, 403, 404, 413, 422, 429, 503), tags=["inference"])
    async def predict(name: str, request: Request) -> JSONResponse:
        """Predict a batch: ``{"inputs": [...]}`` -> outputs after the key's or model's output policy."""
        call = begin(request, name)
        body = await _read_body(request, gateway.settings.max_body_bytes)
        # one worker-thread hop: the key store, the model and the monitor block; the commit is awaited
        answer = await run_in_threadpool(gateway.handle_predict, call, request, name, body)
        return await gateway.respond(answer)

    @app.get("/v1/models", response_model=ModelsResponse, responses=error_responses(401, 403, 503),
             tags=["inference"])
    async def list_models(request: Request) -> JSONResponse:
        """The models this key may use, with their input shape and output policy."""
        call = begin(request)

        def work() -> tuple[dict[str, Any], Any]:
            key = gateway.authenticate(request, call)  # the key store may block
            infos = [ModelInfo(name=n, classes=list(m.classes) if m.classes else None,
                               output_policy=gateway.output_policy(key, n).name, **m.schema.to_dict()).model_dump()
                     for n, m in gateway.models.items() if key.may_use(n)]
            return {"models": infos}, {"models": infos}

        return await gateway.respond(await run_in_threadpool(gateway.handle, call, work))

    @app.get("/healthz", response_model=HealthResponse, tags=["operations"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", response_model=ReadyResponse, responses={503: {"model": ReadyResponse,
             "description": "a model failed verification, scanning or loading (named in failed)"}},
             tags=["operations"])
    async def readyz() -> JSONResponse:
        """Readiness: every model verified, scanned and loaded; otherwise 503 naming each refusal."""
        ready = bool(gateway.models) and not gateway.failed
        body = ReadyResponse(ready=ready, models=sorted(gateway.models), failed=dict(gateway.failed))
        return JSONResponse(body.model_dump(), status_code=200 if ready else 503)

    @app.get("/metrics", responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"},
                                    **error_responses(401, 403, 503)},
             response_class=Response, tags=["operations"])
    async def metrics(request: Request) -> Response:
        """Prometheus metrics (an admin key is required)."""
        call = begin(request)
        answer = await run_in_threadpool(gateway.handle, call, lambda: admin(request, call, "/metrics"))
        if answer.status != 200:
            return await gateway.respond(answer)
        failed = await gateway.settle(answer)
        return failed or Response(generate_latest(gateway.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/dashboard", response_class=HTMLResponse, tags=["operations"],
             responses={200: {"content": {"text/html": {}}, "description": "the operator page (no data in it)"}})
    async def dashboard() -> HTMLResponse:
        """The operator page: asks for an admin key and polls ``/dashboard/data`` with it."""
        html, headers = dashboard_page()
        return HTMLResponse(html, headers=headers)

    @app.get("/dashboard/data", response_model=DashboardData, responses=error_responses(401, 403, 503),
             tags=["operations"])
    async def dashboard_data(request: Request) -> JSONResponse:
        """Request rate, denials by reason, keys near their budget, extraction alerts (admin key)."""
        call = begin(request)
        answer = await run_in_threadpool(gateway.handle, call, lambda: admin(request, call, "/dashboard/data"))
        if answer.status != 200:
            return await gateway.respond(answer)
        failed = await gateway.settle(answer)
        if failed is not None:
            return failed
        data = await run_in_threadpool(gateway.dashboard_data)
        return JSONResponse(data.model_dump(), headers={"Cache-Control": "no-store", "X-Request-ID": call.request_id})

    return app
