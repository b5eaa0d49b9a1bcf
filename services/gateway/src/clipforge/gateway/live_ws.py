"""Serving a live stream over an accepted WebSocket: send, notice the client leave, drop the slow."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import WebSocket, WebSocketDisconnect

from clipforge.gateway.live import LiveStream

log = logging.getLogger(__name__)

CLOSE_NORMAL = 1000
CLOSE_INTERNAL_ERROR = 1011
CLOSE_TRY_AGAIN = 1013  # the client fell too far behind; it may reconnect and resume
CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_NOT_FOUND = 4404


async def close_quietly(websocket: WebSocket, code: int, reason: str, timeout_seconds: float) -> None:
    # A client that stopped reading cannot take a close frame either: do not wait on it forever.
    with contextlib.suppress(Exception):
        await asyncio.wait_for(websocket.close(code=code, reason=reason), timeout_seconds)


async def serve_websocket(websocket: WebSocket, stream: LiveStream, *, close_timeout_seconds: float) -> None:
    """Forward ``stream`` (already open) until it ends, the client leaves or falls too far behind."""

    async def pump() -> None:
        async for out in stream.messages():
            if out is None:
                continue
            await websocket.send_text(out.data)
            if out.final:
                return

    async def client_gone() -> None:
        # Reading is the only way to notice a client that went away while the job is quiet.
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass

    pump_task = asyncio.create_task(pump())
    gone_task = asyncio.create_task(client_gone())
    stream.subscription.on_overflow = pump_task.cancel
    try:
        done, _ = await asyncio.wait({pump_task, gone_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stream.close()
        pump_task.cancel()
        gone_task.cancel()
        await asyncio.gather(pump_task, gone_task, return_exceptions=True)
    if gone_task in done and pump_task not in done:
        return
    if pump_task.cancelled():
        if stream.subscription.overflowed:
            await close_quietly(
                websocket, CLOSE_TRY_AGAIN, "client too slow; reconnect to resume", close_timeout_seconds
            )
        return
    error = pump_task.exception()
    if isinstance(error, WebSocketDisconnect | OSError):
        return
    if error is not None:
        log.error("live stream failed", exc_info=error)
        await close_quietly(
            websocket, CLOSE_INTERNAL_ERROR, "internal error; reconnect to resume", close_timeout_seconds
        )
        return
    await close_quietly(websocket, CLOSE_NORMAL, "", close_timeout_seconds)
