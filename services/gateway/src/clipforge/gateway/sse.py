"""Server-sent events (``text/event-stream``): the fallback where WebSockets cannot go.

Each message is an event named ``snapshot`` or ``progress`` whose ``id:`` is its resume point
(``Last-Event-ID`` on reconnect, which EventSource sends by itself). A comment line goes out
after ``heartbeat_seconds`` of silence so proxies keep the connection open. The response ends
when the stream ends (the job ended); a client too slow to keep up is cut off and, being an
EventSource, reconnects and resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from clipforge.gateway.live import LiveStream, Outgoing

log = logging.getLogger(__name__)

MEDIA_TYPE = "text/event-stream"
HEARTBEAT = b": keep-alive\n\n"


def encode(out: Outgoing) -> bytes:
    # The data is single-line JSON, so one data: line carries it.
    return f"id: {out.event_id}\nevent: {out.kind}\ndata: {out.data}\n\n".encode()


class EventStreamResponse(Response):
    media_type = MEDIA_TYPE

    def __init__(
        self,
        stream: LiveStream,
        *,
        heartbeat_seconds: float,
        close_timeout_seconds: float,
        retry_ms: int = 2000,
    ) -> None:
        self.stream = stream
        self.heartbeat_seconds = heartbeat_seconds
        self.close_timeout_seconds = close_timeout_seconds
        self.retry_ms = retry_ms
        self.status_code = 200
        self.background = None
        self.init_headers({"cache-control": "no-cache", "x-accel-buffering": "no"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def body(chunk: bytes, more: bool = True) -> None:
            await send({"type": "http.response.body", "body": chunk, "more_body": more})

        async def pump() -> None:
            await body(f"retry: {self.retry_ms}\n\n".encode())
            async for out in self.stream.messages(self.heartbeat_seconds):
                await body(HEARTBEAT if out is None else encode(out))
                if out is not None and out.final:
                    return

        async def client_gone() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            pump_task = asyncio.create_task(pump())
            gone_task = asyncio.create_task(client_gone())
            self.stream.subscription.on_overflow = pump_task.cancel
            try:
                done, _ = await asyncio.wait((pump_task, gone_task), return_when=asyncio.FIRST_COMPLETED)
            finally:
                pump_task.cancel()
                gone_task.cancel()
                await asyncio.gather(pump_task, gone_task, return_exceptions=True)
        finally:
            self.stream.close()
        if gone_task in done and pump_task not in done:
            return
        if not pump_task.cancelled() and pump_task.exception() is not None:
            log.error("live stream failed", exc_info=pump_task.exception())
        # Ends the response; a client that stopped reading may never take it, so do not wait forever.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(body(b"", more=False), self.close_timeout_seconds)
