"""The gateway's request and response bodies (pydantic), so the OpenAPI spec says what is sent.

Every denial has the same body, :class:`ErrorResponse`::

    {"error": {"code": "rate_limited", "message": "...", "request_id": "..."}}
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = [
    "ERROR_CODES",
    "ErrorBody",
    "ErrorResponse",
    "HealthResponse",
    "ModelInfo",
    "ModelsResponse",
    "PredictRequest",
    "PredictResponse",
    "ReadyResponse",
]

#: HTTP status -> the error codes the gateway answers with it (documented in the spec).
ERROR_CODES: dict[int, tuple[str, ...]] = {
    401: ("unauthenticated",),
    403: ("forbidden_model", "blocklisted", "key_denied", "admin_required"),
    404: ("unknown_model",),
    413: ("body_too_large", "batch_too_large"),
    422: ("invalid_input", "invalid_json", "suspicious_input"),
    429: ("rate_limited",),
    503: ("limiter_unavailable", "model_unavailable", "audit_log_unavailable", "key_store_unavailable"),
}


class ErrorBody(BaseModel):
    code: str = Field(description="stable machine-readable reason, e.g. rate_limited")
    message: str = Field(description="what was wrong, naming the field and index for bad inputs")
    request_id: str = Field(description="also in the X-Request-ID header and the audit log")


class ErrorResponse(BaseModel):
    error: ErrorBody


class PredictRequest(BaseModel):
    inputs: list[Any] = Field(min_length=1, description="a batch: each item one input, flat or shaped like "
                                                        "input_shape")


class PredictResponse(BaseModel):
    model: str
    outputs: list[Any] = Field(description="per input: class scores after the output policy, or the label "
                                           "alone under label-only")
    labels: list[Any] = Field(description="the predicted class of each input")
    policy: dict[str, Any] = Field(description="the output policy applied")
    flagged: list[int] | None = Field(None, description="only under a detector with action 'flag': the indices "
                                                        "of the inputs it flagged as adversarial or "
                                                        "out-of-distribution (answered all the same)")


class ModelInfo(BaseModel):
    name: str
    input_shape: list[int]
    features: int
    minimum: float | None = None
    maximum: float | None = None
    classes: list[Any] | None = None
    output_policy: str


class ModelsResponse(BaseModel):
    models: list[ModelInfo]


class HealthResponse(BaseModel):
    status: str


class ReadyResponse(BaseModel):
    ready: bool
    models: list[str] = Field(description="models being served")
    failed: dict[str, str] = Field(description="models refused, with the reason (signature, scan, load)")


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status with the error body and its possible codes."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        codes = ", ".join(ERROR_CODES[status])
        extra: dict[str, Any] = {"model": ErrorResponse, "description": f"error codes: {codes}"}
        if status == 429:
            extra["headers"] = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
        out[status] = extra
    return out
