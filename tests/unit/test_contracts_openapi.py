"""The OpenAPI document is complete: summaries, typed responses, problem details, examples that validate."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from clipforge.gateway.app import create_app
from clipforge.gateway.settings import GatewaySettings

Document = dict[str, Any]
METHODS = ("get", "put", "post", "delete", "patch")
PROBLEM_REF = "#/components/schemas/ProblemDetails"
BASE = "urn:clipforge-openapi"


@pytest.fixture(scope="module")
def document() -> Document:
    return create_app(GatewaySettings()).openapi()


def operations(document: Document, section: str = "paths") -> Iterator[tuple[str, str, Document]]:
    for path, item in document.get(section, {}).items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def validator_for(document: Document, schema: Document) -> Draft202012Validator:
    """A validator that resolves ``#/components/...`` against the whole document."""
    absolute = json.loads(json.dumps(document).replace('"#/components/', f'"{BASE}#/components/'))
    registry: Registry = Registry().with_resource(BASE, Resource.from_contents(absolute, DRAFT202012))
    schema = json.loads(json.dumps(schema).replace('"#/components/', f'"{BASE}#/components/'))
    return Draft202012Validator(schema, registry=registry)


def test_every_operation_has_a_written_summary_and_a_readable_unique_id(document: Document) -> None:
    seen: set[str] = set()
    for path, method, operation in operations(document):
        where = f"{method.upper()} {path}"
        summary = operation.get("summary", "")
        generated = operation["operationId"].replace("_", " ").title()
        assert summary and summary != generated, f"{where}: give the route a summary="
        assert re.fullmatch(r"[a-z][a-z0-9_]*", operation["operationId"]), where
        assert operation["operationId"] not in seen, f"{where}: duplicate operationId"
        seen.add(operation["operationId"])
    assert len(seen) >= 15


def test_every_api_operation_requires_a_key_and_documents_401_and_503(document: Document) -> None:
    for path, method, operation in operations(document):
        if not path.startswith("/v1/"):
            continue
        assert operation.get("security"), f"{method.upper()} {path} is not authenticated"
        assert {"401", "503"} <= set(operation["responses"]), f"{method.upper()} {path}"


def test_every_error_response_is_a_problem_with_a_matching_example(document: Document) -> None:
    problem = validator_for(document, {"$ref": PROBLEM_REF})
    checked = 0
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            if not status.startswith("4") and not (status.startswith("5") and path.startswith("/v1/")):
                continue
            where = f"{method.upper()} {path} {status}"
            assert list(response.get("content", {})) == ["application/problem+json"], where
            media = response["content"]["application/problem+json"]
            assert media["schema"] == {"$ref": PROBLEM_REF}, where
            example = media["example"]
            problem.validate(example)
            assert example["status"] == int(status), where
            assert example["type"].endswith("/" + example["code"]), where
            checked += 1
    assert checked > 40
    assert "HTTPValidationError" not in json.dumps(document)


def test_every_success_response_has_a_schema_and_json_ones_an_example(document: Document) -> None:
    for path, method, operation in operations(document):
        successes = {status: r for status, r in operation["responses"].items() if status.startswith("2")}
        assert successes, f"{method.upper()} {path}"
        for status, response in successes.items():
            where = f"{method.upper()} {path} {status}"
            if status == "204":
                assert not response.get("content"), where
                continue
            assert response.get("content"), f"{where}: no response model"
            for media_type, media in response["content"].items():
                assert media.get("schema"), f"{where} {media_type}: no schema"
                if "json" in media_type:
                    assert "example" in media, f"{where} {media_type}: no example"


def test_json_request_bodies_have_examples(document: Document) -> None:
    bodies = 0
    for path, method, operation in operations(document):
        for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
            if "json" in media_type:
                assert "example" in media, f"{method.upper()} {path}: no request example"
                bodies += 1
    assert bodies >= 1


def test_every_example_validates_against_its_schema(document: Document) -> None:
    checked = 0
    for section in ("paths", "webhooks"):
        for path, method, operation in operations(document, section):
            media_objects = [
                *operation.get("requestBody", {}).get("content", {}).values(),
                *(m for r in operation["responses"].values() for m in r.get("content", {}).values()),
            ]
            for media in media_objects:
                if "example" in media:
                    errors = list(validator_for(document, media["schema"]).iter_errors(media["example"]))
                    assert not errors, f"{method.upper()} {path}: {errors[0].message}"
                    checked += 1
    assert checked > 50


def test_job_creation_documents_the_rate_limit(document: Document) -> None:
    for path in ("/v1/jobs", "/v1/jobs/upload"):
        operation = document["paths"][path]["post"]
        refused = operation["responses"]["429"]
        assert "Retry-After" in refused["headers"]
        assert refused["content"]["application/problem+json"]["example"]["code"] == "rate_limited"
        assert "RateLimit-Remaining" in operation["responses"]["202"]["headers"]


def test_job_notifications_are_documented_as_a_webhook(document: Document) -> None:
    notification = document["webhooks"]["job-notification"]["post"]
    media = notification["requestBody"]["content"]["application/json"]
    assert media["schema"] == {"$ref": "#/components/schemas/WebhookPayload"}
    headers = {p["name"] for p in notification["parameters"] if p["in"] == "header"}
    assert "X-ClipForge-Signature" in headers
    assert set(notification["responses"]) == {"2XX"}
