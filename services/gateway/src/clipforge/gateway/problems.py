"""RFC 9457 problem details for every error the API returns."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pymongo.errors import ConnectionFailure, ServerSelectionTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from clipforge.api.models import PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE

log = logging.getLogger(__name__)

__all__ = ["PROBLEM_CONTENT_TYPE", "PROBLEM_TYPE_BASE", "Problem", "install_problem_handlers", "problem_response"]
# What a client is told to wait when a dependency is down: about a restart's worth, not a busy loop.
RETRY_AFTER_SECONDS = 5


class Problem(Exception):
    def __init__(
        self, status: int, code: str, title: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


def problem_response(
    request: Request,
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "code": code,
        **extra,
    }
    return JSONResponse(printable(body), status_code=status, media_type=PROBLEM_CONTENT_TYPE, headers=headers)


def printable(value: Any) -> Any:
    """``value`` with every string made encodable as UTF-8.

    Problems echo what the client sent (a field name, an id); a JSON ``"\\ud800"`` escape decodes
    to a lone surrogate, which would make writing the response fail (a 500 for a client's typo).
    """
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {printable(key): printable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [printable(item) for item in value]
    return value


HTTP_ERROR_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


_UNREADABLE_BODY: dict[type[BaseException], str] = {
    UnicodeDecodeError: "not valid UTF-8 JSON",
    RecursionError: "JSON nested too deeply",
}


def _field_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    errors = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ()) if part != "body"]
        errors.append({"field": ".".join(location) or "body", "message": str(error.get("msg", "invalid"))})
    return errors


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def on_problem(request: Request, exc: Problem) -> JSONResponse:
        headers = dict(exc.headers)
        if exc.status == 503:  # every "unavailable" says when to come back
            headers.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))
        return problem_response(request, exc.status, exc.code, exc.title, exc.detail, headers=headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(exc)
        fields = ", ".join(error["field"] for error in errors)
        return problem_response(
            request, 422, "validation_error", "Invalid request", f"Check these fields: {fields}.", errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.__cause__ is not None:
            # FastAPI could not read the JSON body (not UTF-8, nested deeper than the parser goes):
            # the same answer as for any other body that is not valid JSON.
            message = _UNREADABLE_BODY.get(type(exc.__cause__), "not valid JSON")
            return problem_response(
                request,
                422,
                "validation_error",
                "Invalid request",
                f"The request body is {message}.",
                errors=[{"field": "body", "message": message}],
            )
        code = HTTP_ERROR_CODES.get(exc.status_code, "http_error")
        return problem_response(request, exc.status_code, code, str(exc.detail), str(exc.detail))

    # ConnectionFailure covers ServerSelectionTimeoutError, AutoReconnect and NetworkTimeout: the
    # server is down, restarting or unreachable, which a retry a little later gets past.
    @app.exception_handler(ConnectionFailure)
    async def on_database_down(request: Request, exc: ConnectionFailure) -> JSONResponse:
        log.warning("database unavailable on %s: %s", request.url.path, type(exc).__name__)
        return problem_response(
            request,
            503,
            "database_unavailable",
            "Service temporarily unavailable",
            "The job database is not reachable right now. Please retry in a few seconds.",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    app.add_exception_handler(ServerSelectionTimeoutError, on_database_down)  # type: ignore[arg-type]

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return problem_response(
            request, 500, "internal_error", "Internal error", "Something went wrong on our side; it has been logged."
        )
