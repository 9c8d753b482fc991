"""Schemathesis against the OpenAPI document, in-process through the WSGI app with a real API token: for every
operation, requests generated from the document (valid and invalid ones) never get a server error, and every
answer matches what the document says (status code, content type, body schema)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from engine import Engine
from cli.demo import Scenario

from tests.reliability.conftest import API

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def api_schema(app: Flask, engine: Engine, scenarios: dict[str, Scenario]) -> Any:
    """The document as the app serves it, bound to the app; with one waiting application to find."""
    engine.start("lv", scenarios["lv_residential"].start, "frontdesk")
    return schemathesis.openapi.from_wsgi(f"{API}/openapi.json", app)


@pytest.fixture
def token(engine: Engine) -> str:
    """营销部 may use every operation (all tasks included), so generated requests get past the role checks."""
    return engine.create_api_token("marketing", "schemathesis", by="admin")


EXAMPLES = 30


def test_the_api_answers_every_generated_request_as_its_document_says(api_schema: Any, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    documented = {f"{method.upper()} {path}" for path, item in api_schema.raw_schema["paths"].items() for method in item}
    described = {"GET /docs", "GET /openapi.json"}  # the description itself: schemathesis leaves it out
    assert documented - described <= {operation.label for operation in operations}, "operations not tested"
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(mode))
            def check(case: Any) -> None:
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                check()
            except Unsatisfiable:
                if mode is not GenerationMode.NEGATIVE:
                    raise  # only an operation without parameters or body has no invalid request to make
            except Exception as exc:  # noqa: BLE001  - every operation is tried; all failures reported together
                failures.append(f"{operation.method.upper()} {operation.path} ({mode}): {exc}")
    assert not failures, "\n\n".join(failures)
