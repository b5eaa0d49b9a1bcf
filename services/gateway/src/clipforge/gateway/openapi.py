"""The OpenAPI document, completed where FastAPI leaves gaps.

FastAPI documents what routes declare. On top of that, every operation gets:
- error responses as RFC 9457 problem details (``application/problem+json``, the
  ``ProblemDetails`` schema) with an example, instead of FastAPI's own validation error shape;
- 401 where an API key is required and 503 on every ``/v1`` operation (database or broker down);
- an example on each JSON request and response body (``clipforge.gateway.examples``, or the
  model's own ``examples``); binary and text bodies a string schema;
- ``RateLimit-*`` headers on the success response of a rate-limited operation.
The job notifications sent to ``callback_url`` are documented under ``webhooks``.
"""

from __future__ import annotations

import copy
import json
from typing import Annotated, Any

from fastapi import FastAPI, Header
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from clipforge.gateway.examples import JOB_ID, example_for
from clipforge.gateway.problem_docs import (
    PROBLEM_SCHEMA_REF,
    ProblemDetails,
    problem_content,
    problem_example,
)
from clipforge.gateway.problems import PROBLEM_CONTENT_TYPE
from clipforge.gateway.webhooks import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, WebhookPayload

Document = dict[str, Any]

# Status -> (code, title) of the example for an error response a route declared with a description
# only: the code this API most often answers with that status.
GENERIC_PROBLEMS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "Bad request"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("job_not_found", "Job not found"),
    409: ("conflict", "Conflict"),
    410: ("gone", "Gone"),
    413: ("upload_too_large", "File too large"),
    415: ("not_media", "Not a video"),
    422: ("validation_error", "Invalid request"),
    429: ("rate_limited", "Too many jobs"),
    500: ("internal_error", "Internal error"),
    503: ("database_unavailable", "Service temporarily unavailable"),
}

UNAUTHORIZED = {
    "description": "No API key, or one that is not valid or has been revoked.",
    "headers": {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
}
UNAVAILABLE = {
    "description": "The database or the message broker is not reachable right now; retry shortly.",
    "headers": {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}},
}
RATE_LIMIT_HEADERS = {
    name: {"description": description, "schema": {"type": "integer"}}
    for name, description in (
        ("RateLimit-Limit", "Jobs allowed per window."),
        ("RateLimit-Remaining", "Jobs left in this window."),
        ("RateLimit-Reset", "Seconds until the window resets."),
    )
}
VALIDATION_EXAMPLE_ERRORS = [{"field": "options.max_clips", "message": "Input should be less than or equal to 20"}]
BINARY_TYPES = ("video/", "image/", "audio/", "application/octet-stream")
METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")


def operation_id(route: APIRoute) -> str:
    """Operation ids are the route function names (``create_job``), friendly to generated clients."""
    return route.name


def _instance(path: str) -> str:
    return path.replace("{job_id}", JOB_ID).replace("{index}", "1")


def _error_response(status: int, response: Document, path: str) -> None:
    content: Document = response.setdefault("content", {})
    for media_type, media in list(content.items()):
        schema = media.get("schema") or {}
        if media_type != PROBLEM_CONTENT_TYPE and (not schema or _schema_name(schema) == "HTTPValidationError"):
            del content[media_type]  # FastAPI's placeholders: our errors are problem details
    if content and PROBLEM_CONTENT_TYPE not in content:
        return  # the route documents a body of its own (e.g. readiness answers 503 with its checks)
    problem = content.get(PROBLEM_CONTENT_TYPE)
    if problem and "example" in problem:
        problem["schema"] = {"$ref": PROBLEM_SCHEMA_REF}
        problem["example"]["instance"] = _instance(path)
        return
    code, title = GENERIC_PROBLEMS.get(status, ("http_error", response.get("description", "Error")))
    extra: Document = {"errors": VALIDATION_EXAMPLE_ERRORS} if status == 422 else {}
    if status == 422 and response.get("description") in (None, "Validation Error"):
        response["description"] = "The request is invalid; `errors` names each offending field."
        detail = "Check these fields: options.max_clips."
    else:
        detail = response.get("description") or title
    content.update(problem_content(problem_example(status, code, title, detail, _instance(path), **extra)))


def _schema_name(schema: Document) -> str | None:
    ref = schema.get("$ref", "")
    return ref.rsplit("/", 1)[-1] if ref.startswith("#/components/schemas/") else None


def _add_example(media: Document, schemas: Document) -> None:
    if "example" in media or "examples" in media:
        return
    name = _schema_name(media.get("schema") or {})
    if name is None:
        return
    example = example_for(name)
    if example is None:
        own = schemas.get(name, {}).get("examples") or []
        example = own[0] if own else None
    if example is not None:
        media["example"] = example


def _success_content(response: Document, schemas: Document) -> None:
    for media_type, media in (response.get("content") or {}).items():
        if not media.get("schema"):
            binary = media_type.startswith(BINARY_TYPES)
            media["schema"] = {"type": "string", "format": "binary"} if binary else {"type": "string"}
        if "json" in media_type:
            _add_example(media, schemas)


def _complete_operation(path: str, operation: Document, schemas: Document) -> None:
    # FastAPI shares the dicts of a ``responses=`` constant between operations: copy before editing.
    responses: Document = copy.deepcopy(operation.get("responses", {}))
    if operation.get("security"):
        responses.setdefault("401", copy.deepcopy(UNAUTHORIZED))
    if path.startswith("/v1/"):
        responses.setdefault("503", copy.deepcopy(UNAVAILABLE))
    rate_limited = "429" in responses
    for status, response in responses.items():
        if status.isdigit() and int(status) >= 400:
            _error_response(int(status), response, path)
        elif status.startswith("2"):
            _success_content(response, schemas)
            if rate_limited:
                response.setdefault("headers", {}).update(copy.deepcopy(RATE_LIMIT_HEADERS))
    for media in ((operation.get("requestBody") or {}).get("content") or {}).values():
        _add_example(media, schemas)
    operation["responses"] = dict(sorted(responses.items()))


def _complete_webhook(operation: Document, schemas: Document) -> None:
    operation["responses"] = {
        "2XX": {"description": "Any 2xx answer acknowledges the notification; anything else is retried."}
    }
    for media in ((operation.get("requestBody") or {}).get("content") or {}).values():
        _add_example(media, schemas)


def _drop_unreferenced(document: Document, names: tuple[str, ...]) -> None:
    schemas: Document = document["components"]["schemas"]
    for name in names:
        others = {key: value for key, value in schemas.items() if key != name}
        text = json.dumps([document.get("paths"), document.get("webhooks"), others])
        if f'"#/components/schemas/{name}"' not in text:
            schemas.pop(name, None)


def complete(document: Document) -> Document:
    components = document.setdefault("components", {})
    schemas: Document = components.setdefault("schemas", {})
    problem_schema = ProblemDetails.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem_schema.pop("$defs", {}))
    schemas["ProblemDetails"] = problem_schema
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                _complete_operation(path, item[method], schemas)
    for item in document.get("webhooks", {}).values():
        for method in METHODS:
            if method in item:
                _complete_webhook(item[method], schemas)
    _drop_unreferenced(document, ("HTTPValidationError", "ValidationError"))
    document["components"]["schemas"] = dict(sorted(schemas.items()))
    return document


def _declare_webhooks(app: FastAPI) -> None:
    @app.webhooks.post(
        "job-notification",
        summary="A job completed or failed (sent to the job's callback_url)",
        description=(
            "POSTed when a job with a `callback_url` completes or fails. Verify the signature before trusting "
            f"the body: `{SIGNATURE_HEADER}: t=<unix seconds>,v1=<hex>` where the hex is HMAC-SHA256 with "
            "your signing secret (`GET /v1/webhooks/secret`) over `<t>.<raw body>`. Reject timestamps older "
            "than five minutes. After a secret rotation a second `v1` signed with the previous secret is "
            "included for a grace period. Failed deliveries (no 2xx within the timeout) are retried with "
            "exponential backoff; the same notification keeps its `id`, so deduplicate on it."
        ),
        operation_id="job_notification",
    )
    async def job_notification(
        payload: WebhookPayload,
        signature: Annotated[str, Header(alias=SIGNATURE_HEADER, description="t=<unix>,v1=<hex>[,v1=<hex>]")],
        event: Annotated[str, Header(alias=EVENT_HEADER, description="job.completed or job.failed")],
        delivery: Annotated[str, Header(alias=DELIVERY_HEADER, description="The notification id.")],
    ) -> None:
        """Documentation only: ClipForge sends this request, your server receives it."""


def install_openapi(app: FastAPI) -> None:
    _declare_webhooks(app)

    def openapi() -> Document:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                description=app.description,
                routes=app.routes,
                webhooks=app.webhooks.routes,
                tags=app.openapi_tags,
                servers=app.servers,
            )
            app.openapi_schema = complete(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
