"""What live progress streams send (WebSocket messages and SSE ``data:``), and how clients resume.

A job stream is resumed by the per-job ``seq`` of the last event handled. A tenant stream
interleaves many jobs, so it is resumed by an opaque cursor carried on each of its messages;
``TenantCursor`` documents what is inside (see docs/DESIGN.md, Live progress).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from pydantic import BaseModel, Field, ValidationError

# The messages themselves are part of the public API (clipforge.api), shared with the client.
from clipforge.api.models import ActiveJob as ActiveJob
from clipforge.api.models import JobSnapshotMessage as JobSnapshotMessage
from clipforge.api.models import ProgressMessage as ProgressMessage
from clipforge.api.models import TenantSnapshotMessage as TenantSnapshotMessage
from clipforge.shared.events import JobProgress
from clipforge.shared.models import STAGE_PROGRESS_SPAN, Stage

_STAGES = frozenset(stage.value for stage in Stage)


def progress_message(event: JobProgress) -> ProgressMessage:
    """The public message for a progress event: the event plus the whole job's ETA."""
    return ProgressMessage.model_validate({**event.model_dump(), "job_eta_seconds": job_eta_seconds(event)})


def job_eta_seconds(event: JobProgress) -> float | None:
    """The stage's ETA plus the rest of the pipeline at the current stage's pace per percent.

    Each stage owns a share of the overall progress bar (``STAGE_PROGRESS_SPAN``); the time the
    current stage takes per percent of the bar is extrapolated to the shares still to come.
    """
    if event.status.is_terminal:
        return 0.0
    if event.eta_seconds is None or event.stage not in _STAGES:
        return None
    start, end = STAGE_PROGRESS_SPAN[Stage(event.stage)]
    done = event.stage_percent / 100.0
    if not 0.0 < done < 1.0 or end <= start:
        return event.eta_seconds
    seconds_per_percent = event.eta_seconds / (1.0 - done) / (end - start)
    return round(event.eta_seconds + seconds_per_percent * (100.0 - end), 1)


class TenantCursor(BaseModel):
    """Where a tenant stream's client is.

    ``since_ms``: every event logged before this time (ms since the epoch) has been sent.
    ``jobs``: for each job with events logged at or after it, the last ``seq`` sent.
    A resume replays the tenant's events logged since ``since_ms`` and drops those at or below
    the listed sequence numbers.
    """

    since_ms: int = Field(ge=0)
    jobs: dict[str, int] = Field(default_factory=dict)

    @property
    def since(self) -> datetime:
        return datetime.fromtimestamp(self.since_ms / 1000, UTC)

    def encode(self) -> str:
        raw = json.dumps({"t": self.since_ms, "j": self.jobs}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> TenantCursor:
        """Raises ValueError for anything that is not a cursor this gateway made."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            body = json.loads(raw)
            return cls(since_ms=body["t"], jobs=body["j"])
        except (ValueError, TypeError, KeyError, ValidationError) as exc:
            raise ValueError("not a cursor of this stream") from exc


def _resume_token(query_value: str | None, last_event_id: str | None) -> str | None:
    # Last-Event-ID first: EventSource reconnects to the URL it started with, stale query and all.
    for raw in (last_event_id, query_value):
        if raw is not None and raw.strip():
            return raw.strip()
    return None


def resume_seq(query_value: str | None, last_event_id: str | None) -> int | None:
    """The job stream's resume point from ``Last-Event-ID`` or ``?after_seq=``; ValueError if malformed."""
    raw = _resume_token(query_value, last_event_id)
    if raw is None:
        return None
    value = int(raw)
    if value < 0:
        raise ValueError("a sequence number is not negative")
    return value


def resume_cursor(query_value: str | None, last_event_id: str | None) -> TenantCursor | None:
    raw = _resume_token(query_value, last_event_id)
    return None if raw is None else TenantCursor.decode(raw)
