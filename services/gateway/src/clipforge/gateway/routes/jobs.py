"""The job API: create, list, read, cancel, retry, delete, and statistics."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from clipforge.gateway.auth import TenantDep
from clipforge.gateway.broker import publish_event
from clipforge.gateway.problem_docs import problem_doc
from clipforge.gateway.problems import Problem
from clipforge.gateway.ratelimit import RATE_LIMITED, JobCreationLimit
from clipforge.gateway.schemas import (
    CreateJobRequest,
    JobCreated,
    JobLinks,
    JobList,
    JobSummary,
    JobView,
    QueueDepth,
    Stats,
)
from clipforge.gateway.state import GatewayState, StateDep, StoreDep
from clipforge.shared.events import PRIORITIES, ControlCommand, Event, JobRequested, Priority, new_event_id
from clipforge.shared.jobs import JobStore
from clipforge.shared.models import JobError, JobOptions, JobStatus, SourceRef, Stage
from clipforge.shared.topology import STAGE_INPUT, queue_depth
from clipforge.shared.urlsafety import SourcePolicy, UnsafeUrl, check_source_url

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

BODY_TOO_LARGE = problem_doc(
    413, "body_too_large", "Request body too large", "Request bodies are limited to 65536 bytes."
)
ALREADY_FINISHED = problem_doc(
    409, "job_finished", "Job already finished", "Job 6742c1f0a9e4b3d2c1f0a9e4 is already completed."
)
NOT_FAILED = problem_doc(
    409,
    "not_failed",
    "Only failed jobs can be retried",
    "Job 6742c1f0a9e4b3d2c1f0a9e4 is queued.",
    description="The job is not failed (codes `not_failed`), or the result to resume from is gone (`cannot_retry`).",
)
NOT_FOUND = problem_doc(404, "job_not_found", "Job not found", "There is no job '6742c1f0a9e4b3d2c1f0a9e4'.")


def job_not_found(job_id: str) -> Problem:
    return Problem(404, "job_not_found", "Job not found", f"There is no job {job_id!r}.")


async def load_job(store: JobStore, job_id: str, tenant_id: str) -> dict[str, Any]:
    """The tenant's job, or 404 (never 403: another tenant's job does not exist for the caller)."""
    job = await store.get(job_id, tenant_id=tenant_id)
    if job is None:
        raise job_not_found(job_id)
    return job


async def publish_or_fail(state: GatewayState, event: Event) -> None:
    """Publish with a confirm; when the broker is down, end the job failed (never stuck queued)."""
    assert state.store is not None
    try:
        await publish_event(state.broker, state.topology, event, state.settings.publish_timeout_seconds)
    except Exception as exc:
        log.exception("could not queue job %s", event.job_id)
        failed = await state.store.fail_job(
            event.job_id,
            JobError(
                stage="queued",
                code="queue_unavailable",
                message="The job could not be queued because the message broker is unavailable. Please retry.",
            ),
        )
        if failed is not None and state.emitter is not None:
            # Logged to job_events even though the live fan-out is down too: a stream resumes from it.
            await state.emitter.emit(failed)
        raise Problem(
            503,
            "queue_unavailable",
            "Service temporarily unavailable",
            "The job queue is not reachable right now. Please retry in a few seconds.",
        ) from exc


async def start_job(
    state: GatewayState,
    tenant: str,
    source: SourceRef,
    options: JobOptions,
    priority: Priority,
    *,
    job_id: str | None = None,
    extra: dict[str, Any] | None = None,
) -> JobCreated:
    assert state.store is not None
    job = await state.store.create(
        tenant_id=tenant, source=source, options=options, priority=priority, job_id=job_id, extra=extra
    )
    event = JobRequested(
        job_id=job["_id"],
        tenant_id=tenant,
        correlation_id=new_event_id(),
        source=source,
        options=options,
        priority=priority,
    )
    await publish_or_fail(state, event)
    path = f"/v1/jobs/{job['_id']}"
    return JobCreated(id=job["_id"], status=job["status"], links=JobLinks(self=path, events=f"{path}/events"))


@router.post(
    "",
    status_code=202,
    response_model=JobCreated,
    summary="Create a job from a video URL",
    dependencies=[JobCreationLimit],
    responses={**RATE_LIMITED, **BODY_TOO_LARGE},
)
async def create_job(body: CreateJobRequest, state: StateDep, tenant: TenantDep) -> JobCreated:
    """The URL must be a public http(s) link: other schemes, credentials in the link and addresses
    that are not public (loopback, private, link-local, cloud metadata) are refused with a 422
    whose `code` says which (`unsupported_url_scheme`, `url_credentials_forbidden`,
    `source_address_forbidden`, `invalid_url`). Names are resolved by ingest when it connects;
    a name that leads to a forbidden address fails the job with `source_address_forbidden`."""
    url = source_url_or_422(body.url, state.settings.source_policy())
    extra = {"callback_url": body.callback_url} if body.callback_url else None
    return await start_job(state, tenant, SourceRef(url=url), body.options, body.priority, extra=extra)


def source_url_or_422(url: str, policy: SourcePolicy) -> str:
    try:
        return check_source_url(url, policy)
    except UnsafeUrl as refused:
        errors = [{"field": "url", "message": refused.message}]
        raise Problem(422, refused.code, "Link not accepted", refused.message, errors=errors) from None


@router.get("", response_model=JobList, summary="List the tenant's jobs, newest first")
async def list_jobs(
    store: StoreDep,
    tenant: TenantDep,
    status: Annotated[list[JobStatus] | None, Query(description="Only jobs in these states.")] = None,
    created_after: Annotated[datetime | None, Query()] = None,
    created_before: Annotated[datetime | None, Query()] = None,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9a-f]{24}$", description="next_cursor of the last page")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> JobList:
    jobs = await store.list_jobs(
        tenant,
        statuses=[s.value for s in status] if status else None,
        created_after=created_after,
        created_before=created_before,
        before_id=cursor,
        limit=limit + 1,
    )
    page, more = jobs[:limit], len(jobs) > limit
    return JobList(items=[JobSummary.from_document(job) for job in page], next_cursor=page[-1]["_id"] if more else None)


@router.get("/{job_id}", response_model=JobView, responses=NOT_FOUND, summary="A job with its stages and clips")
async def get_job(job_id: str, store: StoreDep, tenant: TenantDep) -> JobView:
    return JobView.from_document(await load_job(store, job_id, tenant))


@router.post(
    "/{job_id}/cancel",
    response_model=JobView,
    responses={**NOT_FOUND, **ALREADY_FINISHED},
    summary="Stop a running job",
)
async def cancel_job(job_id: str, state: StateDep, store: StoreDep, tenant: TenantDep) -> JobView:
    job = await store.cancel(job_id, tenant)
    if job is None:
        existing = await load_job(store, job_id, tenant)
        raise Problem(409, "job_finished", "Job already finished", f"Job {job_id} is already {existing['status']}.")
    await state.emitter.emit(job)  # type: ignore[union-attr]
    await state.broker.publish(
        ControlCommand(job_id=job_id).model_dump(mode="json"), exchange=state.topology.control, mandatory=False
    )
    return JobView.from_document(job)


@router.post(
    "/{job_id}/retry", response_model=JobView, responses={**NOT_FOUND, **NOT_FAILED}, summary="Retry a failed job"
)
async def retry_job(job_id: str, state: StateDep, store: StoreDep, tenant: TenantDep) -> JobView:
    """Starts again from the stage that failed, reusing the results of the stages before it."""
    job = await load_job(store, job_id, tenant)
    if job["status"] != JobStatus.FAILED.value:
        raise Problem(409, "not_failed", "Only failed jobs can be retried", f"Job {job_id} is {job['status']}.")
    failed_stage = (job.get("error") or {}).get("stage")
    stage = Stage(failed_stage) if failed_stage in {s.value for s in Stage} else Stage.INGEST
    event = _input_event(job, stage)
    reset = await store.reset_for_retry(job_id, tenant, stage)
    if reset is None:
        raise Problem(409, "not_failed", "Only failed jobs can be retried", f"Job {job_id} changed meanwhile.")
    await state.emitter.emit(reset)  # type: ignore[union-attr]
    await publish_or_fail(state, event)
    return JobView.from_document(reset)


def _input_event(job: dict[str, Any], stage: Stage) -> Event:
    """The event that starts ``stage``: rebuilt for ingest, the stored output of the stage before."""
    retry_attempt = job.get("retries", 0) + 2
    if stage is Stage.INGEST:
        return JobRequested(
            job_id=job["_id"],
            tenant_id=job["tenant_id"],
            correlation_id=new_event_id(),
            source=SourceRef.model_validate(job["source"]),
            options=JobOptions.model_validate(job["options"]),
            priority=job.get("priority", "interactive"),
            attempt=retry_attempt,
        )
    previous = list(Stage)[list(Stage).index(stage) - 1]
    stored = job["stages"][previous.value].get("output_event")
    if not stored:
        raise Problem(409, "cannot_retry", "Cannot retry", f"The {previous.value} result of job {job['_id']} is gone.")
    body = {**stored["body"], "event_id": new_event_id(), "attempt": retry_attempt}
    return STAGE_INPUT[stage].model_validate(body)


@router.delete("/{job_id}", status_code=204, responses=NOT_FOUND, summary="Delete a job and its media")
async def delete_job(job_id: str, state: StateDep, store: StoreDep, tenant: TenantDep) -> Response:
    job = await load_job(store, job_id, tenant)
    if not JobStatus(job["status"]).is_terminal:
        await cancel_job(job_id, state, store, tenant)
    await store.delete(job_id, tenant)
    await asyncio.to_thread(state.media.delete_job, job_id)
    return Response(status_code=204)


stats_router = APIRouter(prefix="/v1", tags=["jobs"])


@stats_router.get("/stats", response_model=Stats, summary="The tenant's jobs by status and the queue depth per stage")
async def stats(state: StateDep, store: StoreDep, tenant: TenantDep) -> Stats:
    queues: dict[str, dict[str, QueueDepth]] = {}
    for stage in Stage:
        queues[stage.value] = {}
        for priority in PRIORITIES:
            ready, consumers = await queue_depth(state.broker, state.topology.stage_queue(stage, priority))
            queues[stage.value][priority] = QueueDepth(ready=ready, consumers=consumers)
    return Stats(jobs_by_status=await store.count_by_status(tenant), queues=queues)
