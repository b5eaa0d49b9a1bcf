"""What the client raises: every API error as one typed exception carrying the problem details."""

from __future__ import annotations

import httpx
from pydantic import ValidationError

from clipforge.api.models import FieldProblem, ProblemDetails


class ClipForgeError(Exception):
    """Base of everything this client raises on purpose."""


class APIError(ClipForgeError):
    """The gateway answered with an error (RFC 9457 problem details).

    ``status`` is the HTTP status, ``code`` the stable machine-readable code (``job_not_found``,
    ``validation_error``, ``unauthorized``...), ``detail`` the sentence for a person.
    """

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        title: str = "",
        errors: list[FieldProblem] | None = None,
        problem: ProblemDetails | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title
        self.errors = errors or []
        self.problem = problem
        self.retry_after = retry_after

    @classmethod
    def from_response(cls, response: httpx.Response) -> APIError:
        retry_after = _seconds(response.headers.get("retry-after"))
        try:
            problem = ProblemDetails.model_validate_json(response.content)
        except ValidationError:
            text = response.text.strip()[:300] or response.reason_phrase
            return cls(response.status_code, "http_error", text, title=response.reason_phrase, retry_after=retry_after)
        return cls(
            problem.status,
            problem.code,
            problem.detail,
            title=problem.title,
            errors=problem.errors,
            problem=problem,
            retry_after=retry_after,
        )


class ConnectionFailed(ClipForgeError):
    """The gateway could not be reached at all (refused, DNS, timeout)."""


class StreamClosed(ClipForgeError):
    """A live stream ended in a way that resuming cannot fix (bad resume position, too many drops)."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
