"""How error responses are documented in OpenAPI: RFC 9457 problem details with an example.

Routes declare an error with ``responses=problem_doc(404, "job_not_found", ...)``; any error
response declared with a description only still gets the problem schema and a generic example
from ``clipforge.gateway.openapi``.
"""

from __future__ import annotations

from typing import Any

from clipforge.api.models import FieldProblem as FieldProblem
from clipforge.api.models import ProblemDetails as ProblemDetails
from clipforge.gateway.problems import PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE

PROBLEM_SCHEMA_REF = "#/components/schemas/ProblemDetails"

ResponseDocs = dict[int | str, dict[str, Any]]


def problem_example(status: int, code: str, title: str, detail: str, instance: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "code": code,
        **extra,
    }


def problem_content(example: dict[str, Any]) -> dict[str, Any]:
    return {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": PROBLEM_SCHEMA_REF}, "example": example}}


def problem_doc(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    description: str | None = None,
    instance: str = "/v1/jobs",
    headers: dict[str, Any] | None = None,
) -> ResponseDocs:
    """An entry for a route's ``responses=``: the problem schema with a concrete example."""
    doc: dict[str, Any] = {
        "description": description or detail,
        "content": problem_content(problem_example(status, code, title, detail, instance)),
    }
    if headers:
        doc["headers"] = headers
    return {status: doc}
