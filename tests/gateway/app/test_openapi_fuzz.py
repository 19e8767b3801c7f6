"""schemathesis against the gateway's own OpenAPI spec, in process (ASGI, no network).

Every operation is called with generated requests under a valid admin key; schemathesis's checks
must all pass: no 5xx, status codes, content types, headers and bodies as the spec says.
schemathesis is a test-only dependency (the ``test`` extra): outside CI a missing one skips with
the reason; on CI (``CI=true``) it fails.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import IN_CI
from tests.gateway.app.conftest import MODEL, Served

try:
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from schemathesis import GenerationMode
except ImportError as err:  # pragma: no cover - depends on the environment
    _message = f"schemathesis is not importable ({err}); install the test extra"
    if IN_CI:
        pytest.fail(f"{_message}; CI must provide it", pytrace=False)
    pytest.skip(_message, allow_module_level=True)


def _without_lifespan(app: Any) -> Any:
    """The app with lifespan events answered here: schemathesis's ASGI client runs startup and
    shutdown around every call, and the gateway's shutdown closes its audit log for good."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        await app(scope, receive, send)

    return wrapped


@pytest.fixture(scope="module")
def gateway_schema(served: Served) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", _without_lifespan(served.client.app))


#: The spec's request body says "a list of inputs"; each model's shape and ranges are checked by the
#: input policy (422 naming field and index), which JSON Schema does not describe, so schema-valid
#: bodies are often rightly refused: that one check does not apply. Every other check does.
EXCLUDED = [schemathesis.checks.positive_data_acceptance]
SETTINGS = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


def test_the_gateway_keeps_its_own_spec(gateway_schema: Any, served: Served) -> None:
    headers = served.headers("admin")
    failures: dict[str, str] = {}
    fuzzed, statuses = [], set()

    def on_served_model(case: Any) -> Any:
        if case.path_parameters and "name" in case.path_parameters:
            case.path_parameters["name"] = MODEL
        return case

    for result in gateway_schema.get_all_operations():
        operation = result.ok()
        fuzzed.append(operation.label)
        runs = {"positive": operation.as_strategy(generation_mode=GenerationMode.POSITIVE)}
        if operation.path_parameters or operation.body:  # bad input only where there is input
            runs["negative"] = operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
        if operation.path_parameters:
            runs["positive, a served model"] = runs["positive"].map(on_served_model)
            runs["negative, a served model"] = runs["negative"].map(on_served_model)
        if operation.body:  # real rows, so the model answers and the 200 body is checked too
            runs["valid inputs"] = st.tuples(runs["positive"].map(on_served_model), st.integers(1, len(served.rows)))\
                .map(lambda pair: _with_body(pair[0], {"inputs": served.rows[:pair[1]]}))

        for what, strategy in runs.items():
            @given(case=strategy)
            @SETTINGS
            def run(case: Any) -> None:
                response = case.call_and_validate(headers=headers, excluded_checks=EXCLUDED)
                statuses.add((case.operation.label, response.status_code))

            try:
                run()
            except Exception as err:  # every operation is fuzzed; all failures are reported together
                failures[f"{operation.label} ({what})"] = str(err)
    assert "POST /v1/models/{name}:predict" in fuzzed and "GET /v1/models" in fuzzed
    predict = {code for label, code in statuses if label == "POST /v1/models/{name}:predict"}
    assert {200, 404, 422} <= predict, predict  # the model answered, and bad names and bodies were refused
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())


def _with_body(case: Any, body: Any) -> Any:
    case.body = body
    return case
