"""The WebSocket stream of one job: a snapshot, then every event in order, then close.

The socket subscribes to this replica's fan-out *before* reading the snapshot, so no event
can fall between the two; events at or below the snapshot's sequence number are dropped, a
gap in the numbers is filled from ``job_events``, and when the fan-out is quiet for a while the
stream polls ``job_events`` too, so a lost transient message never leaves a client hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import WebSocket, WebSocketDisconnect

from clipforge.gateway.fanout import ProgressHub, Subscription
from clipforge.gateway.schemas import JobView
from clipforge.shared.events import JobProgress
from clipforge.shared.jobs import JobStore

CLOSE_NORMAL = 1000
CLOSE_TRY_AGAIN = 1013  # the client fell too far behind; it may reconnect and resume
CLOSE_NOT_FOUND = 4404
QUIET_POLL_SECONDS = 10.0


async def _stored_events_after(store: JobStore, job_id: str, seq: int) -> list[JobProgress]:
    return [JobProgress.model_validate(doc["event"]) for doc in await store.events_after(job_id, seq)]


async def _ordered_events(
    subscription: Subscription, store: JobStore, job_id: str, after_seq: int
) -> AsyncIterator[JobProgress]:
    """Yield events with strictly increasing ``seq`` starting after ``after_seq``."""
    last_seq = after_seq
    while True:
        try:
            live = await asyncio.wait_for(subscription.queue.get(), QUIET_POLL_SECONDS)
        except TimeoutError:
            live = None
        if live is not None and live.seq <= last_seq:
            continue
        if live is None or live.seq > last_seq + 1:
            for stored in await _stored_events_after(store, job_id, last_seq):
                if live is not None and stored.seq >= live.seq:
                    break
                last_seq = stored.seq
                yield stored
        if live is not None and live.seq > last_seq:
            last_seq = live.seq
            yield live


async def stream_job(websocket: WebSocket, job_id: str, tenant_id: str, hub: ProgressHub, store: JobStore) -> None:
    await websocket.accept()
    subscription = hub.subscribe(job_id)
    try:
        job = await store.get(job_id, tenant_id=tenant_id)
        if job is None:
            await websocket.close(code=CLOSE_NOT_FOUND, reason="job not found")
            return
        snapshot = JobView.from_document(job)
        await websocket.send_json({"type": "snapshot", "job": snapshot.model_dump(mode="json")})
        if snapshot.status.is_terminal:
            await websocket.close(code=CLOSE_NORMAL)
            return
        await _forward(websocket, subscription, store, job_id, snapshot.seq)
    except WebSocketDisconnect:
        pass
    finally:
        hub.unsubscribe(subscription)


async def _forward(
    websocket: WebSocket, subscription: Subscription, store: JobStore, job_id: str, after_seq: int
) -> None:
    async def pump() -> bool:
        async for event in _ordered_events(subscription, store, job_id, after_seq):
            await websocket.send_json({"type": "progress", **event.model_dump(mode="json")})
            if event.status.is_terminal:
                return True
        return False

    async def client_gone() -> None:
        # Reading is the only way to notice a client that went away while the job is quiet.
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await websocket.receive_text()

    pump_task = asyncio.create_task(pump())
    gone_task = asyncio.create_task(client_gone())
    overflow_task = asyncio.create_task(subscription.overflowed.wait())
    done, pending = await asyncio.wait({pump_task, gone_task, overflow_task}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
            await task
    if pump_task in done:
        pump_task.result()
        await websocket.close(code=CLOSE_NORMAL)
    elif overflow_task in done:
        await websocket.close(code=CLOSE_TRY_AGAIN, reason="client too slow; reconnect to resume")
