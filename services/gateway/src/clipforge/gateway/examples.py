"""Example bodies for the OpenAPI document, built through the real models.

Building them with the models (not as loose dicts) means an example that no longer matches
its model fails at import, in the contract tests, instead of misleading API users.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from clipforge.gateway.routes.webhooks import WebhookSecretView
from clipforge.gateway.schemas import (
    ClipView,
    JobCreated,
    JobLinks,
    JobList,
    JobSummary,
    JobView,
    QueueDepth,
    StageView,
    Stats,
    WebhookAttemptView,
)
from clipforge.gateway.webhooks import WebhookPayload
from clipforge.shared.models import (
    JobError,
    JobOptions,
    JobStatus,
    MediaInfo,
    Segment,
    Transcript,
    TranscriptSummary,
    Word,
)

JOB_ID = "6742c1f0a9e4b3d2c1f0a9e4"
JOB_PATH = f"/v1/jobs/{JOB_ID}"
CREATED_AT = datetime(2026, 11, 24, 10, 15, 0, tzinfo=UTC)
FINISHED_AT = CREATED_AT + timedelta(seconds=48)
SOURCE = {"kind": "url", "url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ"}
OPTIONS = JobOptions(max_clips=3, aspect="9:16", caption_style="karaoke")


def job_created() -> JobCreated:
    return JobCreated(id=JOB_ID, status=JobStatus.QUEUED, links=JobLinks(self=JOB_PATH, events=f"{JOB_PATH}/events"))


def clip() -> ClipView:
    return ClipView.from_clip(
        {
            "index": 1,
            "start": 62.4,
            "end": 98.1,
            "duration_seconds": 35.7,
            "score": 87.5,
            "reason": "A complete answer with a clear hook and a strong finish.",
            "text": "Engineers measure everything before they change anything...",
            "title": "Measure before you change",
            "keywords": ["measure", "engineers"],
            "sub_scores": {"hook": 90.0, "completeness": 85.0},
            "size_bytes": 4_812_337,
            "width": 1080,
            "height": 1920,
            "thumbnail_key": "jobs/x/clips/clip-01.jpg",
            "srt_key": "jobs/x/clips/clip-01.srt",
            "vtt_key": "jobs/x/clips/clip-01.vtt",
        },
        JOB_PATH,
    )


def _stage(started_after: float, seconds: float) -> StageView:
    started = CREATED_AT + timedelta(seconds=started_after)
    return StageView(
        status="done",
        attempt=1,
        progress=100.0,
        started_at=started,
        finished_at=started + timedelta(seconds=seconds),
        duration_seconds=seconds,
    )


def job_view() -> JobView:
    return JobView(
        id=JOB_ID,
        tenant_id="acme",
        status=JobStatus.COMPLETED,
        stage="completed",
        progress=100.0,
        message="3 clips ready",
        seq=42,
        priority="interactive",
        source=SOURCE,
        options=OPTIONS,
        stages={
            "ingest": _stage(0.1, 6.2),
            "transcribe": _stage(6.4, 21.0),
            "analyze": _stage(27.5, 0.4),
            "render": _stage(28.0, 19.8),
        },
        media=MediaInfo(
            duration_seconds=1312.5,
            size_bytes=187_220_114,
            container="mov,mp4,m4a,3gp,3g2,mj2",
            video_codec="h264",
            audio_codec="aac",
            width=1920,
            height=1080,
            fps=30.0,
            has_audio=True,
            has_video=True,
        ),
        transcript=TranscriptSummary(
            language="en",
            duration_seconds=1312.5,
            segment_count=311,
            word_count=3902,
            preview="Welcome back. Today we talk about how engineers decide what to change...",
        ),
        clips=[clip()],
        callback_url="https://example.com/hooks/clipforge",
        webhooks=[
            WebhookAttemptView(
                delivery_id="9f1c2b7de4a84f0c9a51b3e27d6f4c10",
                event="job.completed",
                attempt=1,
                status_code=503,
                error="HTTP 503",
                outcome="retrying",
                at=FINISHED_AT,
                next_attempt_at=FINISHED_AT + timedelta(seconds=5),
            ),
            WebhookAttemptView(
                delivery_id="9f1c2b7de4a84f0c9a51b3e27d6f4c10",
                event="job.completed",
                attempt=2,
                status_code=200,
                error=None,
                outcome="delivered",
                at=FINISHED_AT + timedelta(seconds=5.2),
            ),
        ],
        created_at=CREATED_AT,
        updated_at=FINISHED_AT,
        finished_at=FINISHED_AT,
    )


def job_list() -> JobList:
    failed = JobSummary(
        id="6742bf11a9e4b3d2c1f0a9d0",
        status=JobStatus.FAILED,
        stage="failed",
        progress=20.0,
        message="The link does not lead to a video.",
        priority="batch",
        source={"kind": "url", "url": "https://example.com/about"},
        clip_count=0,
        error=JobError(stage="ingest", code="no_media_found", message="The link does not lead to a video."),
        created_at=CREATED_AT - timedelta(minutes=9),
        finished_at=CREATED_AT - timedelta(minutes=9) + timedelta(seconds=3),
    )
    view = job_view()
    latest = JobSummary(
        id=view.id,
        status=view.status,
        stage=view.stage,
        progress=view.progress,
        message=view.message,
        priority=view.priority,
        source=view.source,
        clip_count=len(view.clips),
        created_at=view.created_at,
        finished_at=view.finished_at,
    )
    return JobList(items=[latest, failed], next_cursor="6742bf11a9e4b3d2c1f0a9d0")


def stats() -> Stats:
    depth = {"interactive": QueueDepth(ready=0, consumers=2), "batch": QueueDepth(ready=14, consumers=2)}
    return Stats(
        jobs_by_status={"completed": 120, "failed": 4, "rendering": 1, "queued": 14},
        queues={stage: depth for stage in ("ingest", "transcribe", "analyze", "render")},
    )


def transcript() -> Transcript:
    words = [Word(start=0.0, end=0.4, text="Welcome"), Word(start=0.4, end=0.7, text="back.")]
    segment = Segment(start=0.0, end=0.7, text="Welcome back.", words=words)
    return Transcript(language="en", duration_seconds=1312.5, segments=[segment])


def webhook_payload() -> WebhookPayload:
    return WebhookPayload(
        id="9f1c2b7de4a84f0c9a51b3e27d6f4c10",
        type="job.completed",
        created_at=FINISHED_AT,
        job_id=JOB_ID,
        status=JobStatus.COMPLETED,
        clips=[clip()],
        links=JobLinks(self=JOB_PATH, events=f"{JOB_PATH}/events"),
    )


def webhook_secret() -> WebhookSecretView:
    return WebhookSecretView(
        secret="whsec_3q2-7sJxkR0eYyqDq3b8cHnq9mXoZ1mRrT6Vb2V7gQ4",
        created_at=CREATED_AT,
        previous_valid_until=CREATED_AT + timedelta(hours=24),
    )


# Keyed by the OpenAPI component name of the model the example is for.
EXAMPLES: dict[str, Callable[[], BaseModel]] = {
    "JobCreated": job_created,
    "JobView": job_view,
    "JobList": job_list,
    "Stats": stats,
    "Transcript": transcript,
    "WebhookPayload": webhook_payload,
    "WebhookSecretView": webhook_secret,
}


def example_for(schema_name: str) -> dict[str, Any] | None:
    build = EXAMPLES.get(schema_name)
    return None if build is None else build().model_dump(mode="json")
