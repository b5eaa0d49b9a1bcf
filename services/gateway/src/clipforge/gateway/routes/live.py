"""Live progress routes: the WebSocket stream of one job."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from clipforge.gateway.auth import tenant_of_connection
from clipforge.gateway.live import stream_job
from clipforge.gateway.problems import Problem
from clipforge.gateway.state import get_state

router = APIRouter(tags=["live"])

CLOSE_UNAUTHORIZED = 4401


@router.websocket("/v1/jobs/{job_id}/events")
async def job_events(websocket: WebSocket, job_id: str) -> None:
    state = get_state(websocket)
    try:
        tenant = await tenant_of_connection(websocket, state)
    except Problem as problem:
        await websocket.close(code=CLOSE_UNAUTHORIZED if problem.status == 401 else 1013, reason=problem.detail[:120])
        return
    assert state.store is not None
    await stream_job(websocket, job_id, tenant, state.hub, state.store)
