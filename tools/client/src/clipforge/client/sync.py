"""``ClipForge``: the same client for plain (blocking) code.

It runs one :class:`AsyncClipForge` on an event loop in a background thread and waits for each
call, so both clients behave identically (same retries, resume and errors).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from clipforge.api.models import (
    JobCreated,
    JobList,
    JobSnapshotMessage,
    JobStatus,
    JobSummary,
    JobView,
    Priority,
    ProgressMessage,
    Stats,
    TenantSnapshotMessage,
    Transcript,
)
from clipforge.client.aio import AsyncClipForge, ClipFile, OptionsInput

T = TypeVar("T")


class ClipForge:
    """The ClipForge gateway from blocking code; see :class:`AsyncClipForge` for every method."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *, timeout: float = 30.0) -> None:
        self._aio = AsyncClipForge(base_url, api_key, timeout=timeout)
        self.base_url = self._aio.base_url
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="clipforge-client", daemon=True)
        self._thread.start()

    def __enter__(self) -> ClipForge:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._run(self._aio.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # e.g. KeyboardInterrupt while waiting: stop the work too
            raise

    def _iterate(self, iterator: AsyncIterator[T]) -> Iterator[T]:
        try:
            while True:
                try:
                    yield self._run(iterator.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            self._run(iterator.aclose())  # type: ignore[attr-defined]

    # --- jobs -----------------------------------------------------------------------------

    def create_job(
        self,
        url: str,
        *,
        options: OptionsInput = None,
        priority: Priority = "interactive",
        callback_url: str | None = None,
    ) -> JobCreated:
        return self._run(self._aio.create_job(url, options=options, priority=priority, callback_url=callback_url))

    def upload_job(
        self,
        path: str | os.PathLike[str],
        *,
        options: OptionsInput = None,
        priority: Priority = "interactive",
        callback_url: str | None = None,
    ) -> JobCreated:
        return self._run(self._aio.upload_job(path, options=options, priority=priority, callback_url=callback_url))

    def create(
        self,
        source: str | os.PathLike[str],
        *,
        options: OptionsInput = None,
        priority: Priority = "interactive",
        callback_url: str | None = None,
    ) -> JobCreated:
        return self._run(self._aio.create(source, options=options, priority=priority, callback_url=callback_url))

    def list_jobs(
        self,
        *,
        status: JobStatus | str | Iterable[JobStatus | str] | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> JobList:
        return self._run(
            self._aio.list_jobs(
                status=status, created_after=created_after, created_before=created_before, limit=limit, cursor=cursor
            )
        )

    def iter_jobs(
        self,
        *,
        status: JobStatus | str | Iterable[JobStatus | str] | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        page_size: int = 50,
    ) -> Iterator[JobSummary]:
        return self._iterate(
            self._aio.iter_jobs(
                status=status, created_after=created_after, created_before=created_before, page_size=page_size
            )
        )

    def get_job(self, job_id: str) -> JobView:
        return self._run(self._aio.get_job(job_id))

    def cancel_job(self, job_id: str) -> JobView:
        return self._run(self._aio.cancel_job(job_id))

    def retry_job(self, job_id: str) -> JobView:
        return self._run(self._aio.retry_job(job_id))

    def delete_job(self, job_id: str) -> None:
        self._run(self._aio.delete_job(job_id))

    def stats(self) -> Stats:
        return self._run(self._aio.stats())

    # --- results --------------------------------------------------------------------------

    def transcript(self, job_id: str) -> Transcript:
        return self._run(self._aio.transcript(job_id))

    def transcript_text(self, job_id: str, format: Literal["srt", "vtt"] = "srt") -> str:
        return self._run(self._aio.transcript_text(job_id, format))

    def download_clip(
        self, job_id: str, index: int, dest: str | os.PathLike[str] = ".", *, kind: ClipFile = "mp4"
    ) -> Path:
        return self._run(self._aio.download_clip(job_id, index, dest, kind=kind))

    def download_clips(
        self,
        job: str | JobView,
        dest: str | os.PathLike[str] = ".",
        *,
        thumbnails: bool = False,
        captions: bool = False,
    ) -> list[Path]:
        return self._run(self._aio.download_clips(job, dest, thumbnails=thumbnails, captions=captions))

    # --- live progress --------------------------------------------------------------------

    def events(
        self, job_id: str, *, after_seq: int | None = None, max_reconnects: int = 8
    ) -> Iterator[JobSnapshotMessage | ProgressMessage]:
        return self._iterate(self._aio.events(job_id, after_seq=after_seq, max_reconnects=max_reconnects))

    def tenant_events(
        self, *, cursor: str | None = None, max_reconnects: int = 8
    ) -> Iterator[TenantSnapshotMessage | ProgressMessage]:
        return self._iterate(self._aio.tenant_events(cursor=cursor, max_reconnects=max_reconnects))

    def wait(
        self,
        job_id: str,
        *,
        timeout: float | None = None,
        on_message: Callable[[JobSnapshotMessage | ProgressMessage], None] | None = None,
        follow: bool = True,
        poll_interval: float = 2.0,
        max_reconnects: int = 8,
    ) -> JobView:
        """``on_message`` is called on the client's background thread."""
        return self._run(
            self._aio.wait(
                job_id,
                timeout=timeout,
                on_message=on_message,
                follow=follow,
                poll_interval=poll_interval,
                max_reconnects=max_reconnects,
            )
        )
