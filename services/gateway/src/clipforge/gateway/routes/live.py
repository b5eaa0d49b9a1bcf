"""Live progress: one job or every job of the caller's tenant, over WebSocket or SSE.

``/v1/jobs/{id}/events`` resumes after ``?after_seq=`` (or ``Last-Event-ID``), the job's own
sequence number; ``/v1/events`` resumes from ``?cursor=`` (or ``Last-Event-ID``), the cursor of
the last message handled. The same paths answer ``GET`` with ``text/event-stream``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response, WebSocket

from clipforge.gateway.auth import TenantDep, tenant_of_connection
from clipforge.gateway.live import JobStream, LiveStream, TenantStream
from clipforge.gateway.live_messages import TenantCursor, resume_cursor, resume_seq
from clipforge.gateway.live_ws import (
    CLOSE_BAD_REQUEST,
    CLOSE_NOT_FOUND,
    CLOSE_TRY_AGAIN,
    CLOSE_UNAUTHORIZED,
    close_quietly,
    serve_websocket,
)
from clipforge.gateway.problems import Problem
from clipforge.gateway.resync import LiveResync
from clipforge.gateway.sse import MEDIA_TYPE, EventStreamResponse
from clipforge.gateway.state import GatewayState, StateDep, StoreDep, get_state

router = APIRouter(tags=["live"])

AfterSeq = Annotated[
    int | None, Query(ge=0, description="Resume: the seq of the last event you handled (or send Last-Event-ID).")
]
CursorParam = Annotated[
    str | None, Query(max_length=20000, description="Resume: the cursor of the last message you handled.")
]
LastEventId = Annotated[str | None, Header(description="Sent by EventSource when it reconnects.")]

SSE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {MEDIA_TYPE: {"schema": {"type": "string"}}}, "description": "A stream of server-sent events."},
    400: {"description": "The resume position is not one this stream handed out."},
}
JOB_SSE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **SSE_RESPONSES,
    204: {"description": "The job has ended and you have every event: stop reconnecting."},
    404: {"description": "No such job for this tenant."},
}


def _job_not_found(job_id: str) -> Problem:
    return Problem(404, "job_not_found", "Job not found", f"There is no job {job_id!r}.")


def _bad_resume(what: str) -> Problem:
    return Problem(400, "bad_resume_position", "Bad resume position", f"{what} is not one this stream handed out.")


def _stream_settings(state: GatewayState) -> dict[str, Any]:
    return {"replay_limit": state.settings.live_replay_limit}


async def _websocket_tenant(websocket: WebSocket, state: GatewayState) -> str | None:
    try:
        return await tenant_of_connection(websocket, state)
    except Problem as problem:
        await websocket.close(
            code=CLOSE_UNAUTHORIZED if problem.status == 401 else CLOSE_TRY_AGAIN, reason=problem.detail[:120]
        )
        return None


async def _serve(websocket: WebSocket, state: GatewayState, stream: LiveStream) -> None:
    await serve_websocket(websocket, stream, close_timeout_seconds=state.settings.live_close_timeout_seconds)


@router.websocket("/v1/jobs/{job_id}/events")
async def job_events_socket(websocket: WebSocket, job_id: str) -> None:
    """A snapshot (or, with ``after_seq``, what was missed), then every event; closes 1000 at the end."""
    state = await get_state(websocket)
    tenant = await _websocket_tenant(websocket, state)
    if tenant is None:
        return
    await websocket.accept()
    try:
        after_seq = resume_seq(websocket.query_params.get("after_seq"), websocket.headers.get("last-event-id"))
    except ValueError:
        await close_quietly(websocket, CLOSE_BAD_REQUEST, "after_seq must be a sequence number", 1.0)
        return
    assert state.store is not None
    stream = JobStream(
        state.hub, state.store, tenant_id=tenant, job_id=job_id, after_seq=after_seq, **_stream_settings(state)
    )
    if not await stream.open():
        await close_quietly(websocket, CLOSE_NOT_FOUND, "job not found", 1.0)
        return
    await _serve(websocket, state, stream)


@router.websocket("/v1/events")
async def tenant_events_socket(websocket: WebSocket) -> None:
    """Every job of the caller's tenant: a snapshot of unfinished jobs (or a resume), then live events."""
    state = await get_state(websocket)
    tenant = await _websocket_tenant(websocket, state)
    if tenant is None:
        return
    await websocket.accept()
    try:
        cursor = resume_cursor(websocket.query_params.get("cursor"), websocket.headers.get("last-event-id"))
    except ValueError:
        await close_quietly(websocket, CLOSE_BAD_REQUEST, "cursor is not one this stream handed out", 1.0)
        return
    stream = _tenant_stream(state, tenant, cursor)
    await stream.open()
    await _serve(websocket, state, stream)


def _tenant_stream(state: GatewayState, tenant: str, cursor: TenantCursor | None) -> TenantStream:
    assert state.store is not None
    return TenantStream(
        state.hub,
        state.store,
        tenant_id=tenant,
        cursor=cursor,
        margin_seconds=state.settings.live_cursor_margin_seconds,
        **_stream_settings(state),
    )


def _event_stream(state: GatewayState, stream: LiveStream) -> EventStreamResponse:
    return EventStreamResponse(
        stream,
        heartbeat_seconds=state.settings.sse_heartbeat_seconds,
        close_timeout_seconds=state.settings.live_close_timeout_seconds,
    )


@router.get(
    "/v1/jobs/{job_id}/events",
    response_class=EventStreamResponse,
    status_code=200,
    responses=JOB_SSE_RESPONSES,
    summary="Follow one job as server-sent events",
)
async def job_events_stream(
    job_id: str,
    state: StateDep,
    store: StoreDep,
    tenant: TenantDep,
    after_seq: AfterSeq = None,
    last_event_id: LastEventId = None,
) -> Response:
    """Events ``snapshot`` then ``progress`` (``id:`` is the seq); the response ends when the job ends."""
    try:
        resume = resume_seq(None if after_seq is None else str(after_seq), last_event_id)
    except ValueError:
        raise _bad_resume("Last-Event-ID") from None
    stream = JobStream(state.hub, store, tenant_id=tenant, job_id=job_id, after_seq=resume, **_stream_settings(state))
    if not await stream.open():
        raise _job_not_found(job_id)
    if stream.finished_for_client:
        stream.close()
        return Response(status_code=204)
    return _event_stream(state, stream)


@router.get(
    "/v1/events",
    response_class=EventStreamResponse,
    status_code=200,
    responses=SSE_RESPONSES,
    summary="Follow every job of your tenant as server-sent events",
)
async def tenant_events_stream(
    state: StateDep, tenant: TenantDep, cursor: CursorParam = None, last_event_id: LastEventId = None
) -> Response:
    """Events ``snapshot`` then ``progress``; each ``id:`` is a cursor to resume from."""
    try:
        resume = resume_cursor(cursor, last_event_id)
    except ValueError:
        raise _bad_resume("The cursor") from None
    stream = _tenant_stream(state, tenant, resume)
    await stream.open()
    return _event_stream(state, stream)


async def on_startup(state: GatewayState) -> None:
    assert state.store is not None
    await state.store.ensure_live_indexes()
    resync = LiveResync(
        state.hub,
        state.store,
        interval_seconds=state.settings.live_resync_seconds,
        margin_seconds=state.settings.live_cursor_margin_seconds,
        limit=state.settings.live_replay_limit,
    )
    state.extras["live_resync"] = asyncio.create_task(resync.run(), name="live-resync")


async def on_shutdown(state: GatewayState) -> None:
    task: asyncio.Task[None] | None = state.extras.pop("live_resync", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
