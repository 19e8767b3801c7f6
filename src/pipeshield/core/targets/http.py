"""A served model as a black-box target: JSON over HTTP, batched, with retries.

Requests are ``POST url`` with ``{"inputs": [[...], ...]}``; the answer holds
``{"probabilities": [[...], ...]}`` (field names configurable). 429 and 503 answers are honoured:
the client waits for ``Retry-After`` (seconds or an HTTP date, capped) before retrying; other 5xx
and connection errors back off exponentially; any other 4xx fails at once, naming the batch.
The transport is injectable (``httpx.MockTransport``) for tests at the network edge.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeshield.core.pipeline import redact_url
from pipeshield.errors import EndpointError

if TYPE_CHECKING:
    import httpx

    from pipeshield.core.pipeline import EndpointSpec

__all__ = ["HttpTarget"]

_MAX_WAIT_S = 60.0


class HttpTarget:
    """Black-box target behind an HTTP JSON API. ``queries`` counts rows sent (for budgets)."""

    white_box = False

    def __init__(
        self,
        url: str,
        *,
        batch_size: int = 64,
        timeout_s: float = 30.0,
        max_retries: int = 3,
        headers: dict[str, str] | None = None,
        input_field: str = "inputs",
        output_field: str = "probabilities",
        name: str = "endpoint",
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import httpx

        self.name = name
        self.url = url
        self._shown_url = redact_url(url)  # never echo user:password@ into errors
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.input_field = input_field
        self.output_field = output_field
        self.classes: np.ndarray | None = None
        self.queries = 0
        self.requests = 0
        self.retries = 0
        self._sleep = sleep
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s), headers=headers or {}, transport=transport, verify=True
        )

    @classmethod
    def from_spec(cls, spec: EndpointSpec, **options: Any) -> HttpTarget:
        return cls(
            spec.url,
            batch_size=spec.batch_size,
            timeout_s=spec.timeout_s,
            max_retries=spec.max_retries,
            headers=spec.resolved_headers(),
            input_field=spec.input_field,
            output_field=spec.output_field,
            name=spec.model or "endpoint",
            **options,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpTarget:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        rows = x.reshape(len(x), -1)
        parts = [self._batch(rows[i : i + self.batch_size], i) for i in range(0, len(rows), self.batch_size)]
        widths = sorted({p.shape[1] for p in parts})
        if len(widths) > 1:  # np.concatenate would raise a bare ValueError
            raise EndpointError(f"{self.url}: batches answered different numbers of classes: {widths}")
        out = np.concatenate(parts) if parts else np.zeros((0, 0))
        if self.classes is None and out.ndim == 2:
            self.classes = np.arange(out.shape[1])
        return out

    def _batch(self, rows: np.ndarray, offset: int) -> np.ndarray:
        import httpx

        what = f"{self._shown_url} (rows {offset}-{offset + len(rows) - 1})"
        attempt = 0
        while True:
            try:
                response = self._client.post(self.url, json={self.input_field: rows.tolist()})
                self.requests += 1
            except httpx.TransportError as err:
                if attempt >= self.max_retries:
                    raise EndpointError(f"{what}: {type(err).__name__}: {err} (after {attempt} retries)") from None
                self._wait(attempt, None)
                attempt += 1
                continue
            if response.status_code in (429, 503) or response.status_code >= 500:
                if attempt >= self.max_retries:
                    raise EndpointError(
                        f"{what}: HTTP {response.status_code} after {attempt} retries: {_excerpt(response)}"
                    )
                self._wait(attempt, response.headers.get("Retry-After"))
                attempt += 1
                continue
            if response.status_code >= 400:
                raise EndpointError(f"{what}: HTTP {response.status_code}: {_excerpt(response)}")
            return self._parse(response, rows, what)

    def _wait(self, attempt: int, retry_after: str | None) -> None:
        self.retries += 1
        delay = _retry_after_seconds(retry_after)
        if delay is None:
            delay = min(0.25 * (2**attempt), _MAX_WAIT_S)
        self._sleep(min(delay, _MAX_WAIT_S))

    def _parse(self, response: httpx.Response, rows: np.ndarray, what: str) -> np.ndarray:
        try:
            body = response.json()
        except ValueError:
            raise EndpointError(f"{what}: answer is not JSON: {_excerpt(response)}") from None
        if not isinstance(body, dict) or self.output_field not in body:
            raise EndpointError(f"{what}: answer has no {self.output_field!r} field")
        try:
            probs = np.asarray(body[self.output_field], dtype=np.float64)
        except (TypeError, ValueError):
            raise EndpointError(f"{what}: {self.output_field!r} is not a matrix of numbers") from None
        if probs.ndim != 2 or len(probs) != len(rows):
            raise EndpointError(f"{what}: expected {len(rows)} rows of scores, got shape {probs.shape}")
        self.queries += len(rows)
        return probs


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _excerpt(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:200] + ("..." if len(text) > 200 else "")
