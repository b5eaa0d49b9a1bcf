"""Exit codes, JSON or human output, and errors turned into one line and an exit code.

Standard output carries only results (JSON with ``--json``); progress bars, messages and
errors go to standard error, so ``clipforge ... --json | jq`` always works.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum
from typing import Any

import typer
from pydantic import BaseModel
from rich.console import Console

from clipforge.api.models import JobStatus
from clipforge.client import APIError, ConnectionFailed, MissingAPIKey, StreamClosed


class Exit(IntEnum):
    """Exit codes of every ``clipforge`` command."""

    OK = 0
    JOB_FAILED = 1  # the job (or `process`) ended failed
    USAGE = 2  # bad arguments or options (also the gateway's 422)
    API_ERROR = 3  # the gateway refused the request (401, 404, 409, 429, 5xx...)
    UNREACHABLE = 4  # the gateway could not be reached, or its live stream kept dropping
    JOB_CANCELLED = 5
    TIMED_OUT = 6  # --timeout passed before the job ended
    INTERRUPTED = 130


EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 the job failed; 2 bad usage or invalid options (422); 3 the gateway refused "
    "(401, 404, 409, 429, 5xx); 4 gateway unreachable; 5 the job was cancelled; 6 timed out; 130 interrupted."
)

stderr = Console(stderr=True, highlight=False)
# Tables are not squeezed to 80 columns when the output goes to a file or a pipe.
stdout = Console(highlight=False, width=None if sys.stdout.isatty() else 200)


def emit_json(value: BaseModel | list[Any] | dict[str, Any]) -> None:
    """One JSON document on standard output."""
    if isinstance(value, BaseModel):
        text = value.model_dump_json()
    else:
        text = json.dumps(
            [item.model_dump(mode="json") if isinstance(item, BaseModel) else item for item in value]
            if isinstance(value, list)
            else value,
            default=str,
        )
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def fail(exit_code: Exit, message: str, /, *, as_json: bool, **fields: Any) -> typer.Exit:
    """Report an error on standard error (a JSON object with ``--json``) and return the Exit to raise."""
    if as_json:
        sys.stderr.write(json.dumps({"error": {"message": message, **fields}}) + "\n")
    else:
        stderr.print(f"[red]error:[/red] {message}")
    return typer.Exit(int(exit_code))


def exit_for_status(status: JobStatus) -> Exit:
    return {JobStatus.COMPLETED: Exit.OK, JobStatus.CANCELLED: Exit.JOB_CANCELLED}.get(status, Exit.JOB_FAILED)


@contextmanager
def reported_errors(as_json: bool) -> Iterator[None]:
    """Turn the client's errors into a message and the documented exit code."""
    try:
        yield
    except APIError as error:
        code = Exit.USAGE if error.status == 422 else Exit.API_ERROR
        fields = [f"{problem.field}: {problem.message}" for problem in error.errors]
        message = f"{error.detail} ({error.status} {error.code})" + ("; " + "; ".join(fields) if fields else "")
        raise fail(code, message, as_json=as_json, status=error.status, code=error.code, detail=error.detail) from None
    except (ConnectionFailed, StreamClosed) as error:
        raise fail(Exit.UNREACHABLE, str(error), as_json=as_json, code="unreachable") from None
    except MissingAPIKey as error:
        raise fail(Exit.USAGE, str(error), as_json=as_json, code="missing_api_key") from None
    except TimeoutError:
        raise fail(Exit.TIMED_OUT, "timed out before the job ended", as_json=as_json, code="timed_out") from None
    except KeyboardInterrupt:
        raise typer.Exit(int(Exit.INTERRUPTED)) from None
