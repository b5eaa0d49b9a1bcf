"""``AsyncClipForge``: the gateway's job API over httpx, live progress over WebSocket."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, TypeAlias
from urllib.parse import urlencode

import httpx
from pydantic import Field, TypeAdapter
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from clipforge.api.models import (
    JobCreated,
    JobList,
    JobOptions,
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
from clipforge.client.config import resolve
from clipforge.client.errors import APIError, ConnectionFailed, StreamClosed

log = logging.getLogger(__name__)

LiveMessage: TypeAlias = Annotated[JobSnapshotMessage | ProgressMessage, Field(discriminator="type")]
_LIVE_MESSAGE: TypeAdapter[JobSnapshotMessage | ProgressMessage] = TypeAdapter(LiveMessage)

ClipFile = Literal["mp4", "thumbnail", "srt", "vtt"]
CLIP_FILES: dict[ClipFile, tuple[str, str]] = {
    # kind: (route suffix, file extension)
    "mp4": ("", "mp4"),
    "thumbnail": ("/thumbnail", "jpg"),
    "srt": ("/captions.srt", "srt"),
    "vtt": ("/captions.vtt", "vtt"),
}
OptionsInput: TypeAlias = JobOptions | Mapping[str, Any] | None

_TENANT_MESSAGE: TypeAdapter[TenantSnapshotMessage | ProgressMessage] = TypeAdapter(
    Annotated[TenantSnapshotMessage | ProgressMessage, Field(discriminator="type")]
)

# Live stream close codes (see the gateway's live_ws.py); any other close is resumed.
_CLOSE_NORMAL = 1000
_CLOSE_BAD_REQUEST = 4400
_CLOSE_UNAUTHORIZED = 4401
_CLOSE_NOT_FOUND = 4404
_FINAL_CLOSE_CODES = frozenset({_CLOSE_NORMAL, _CLOSE_BAD_REQUEST, _CLOSE_UNAUTHORIZED, _CLOSE_NOT_FOUND})
_DOWNLOAD_CHUNK = 1024 * 1024


def _options_body(options: OptionsInput) -> dict[str, Any]:
    if options is None:
        return {}
    if isinstance(options, JobOptions):
        return options.model_dump(mode="json", exclude_defaults=True)
    return dict(options)


def _raise_for_close(code: int, what: str, position: str) -> None:
    """Nothing for the normal end of a stream; the matching error for the others."""
    if code == _CLOSE_NOT_FOUND:
        raise APIError(404, "job_not_found", f"There is no {what}.")
    if code == _CLOSE_UNAUTHORIZED:
        raise APIError(401, "unauthorized", "The API key is not valid or has been revoked.")
    if code == _CLOSE_BAD_REQUEST:
        raise StreamClosed(f"the gateway refused {position}", code=code)


def _target_path(dest: Path, default_name: str) -> Path:
    """``dest`` itself when it names a file, else ``default_name`` inside the folder ``dest``."""
    target = dest / default_name if dest.is_dir() or not dest.suffix else dest
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def is_url(source: str | os.PathLike[str]) -> bool:
    """A source is a link when it has a scheme (``http://``...), otherwise a local file."""
    return isinstance(source, str) and "://" in source


class AsyncClipForge:
    """The ClipForge gateway from asyncio code.

    ``base_url`` and ``api_key`` default to ``$CLIPFORGE_API_URL`` / ``$CLIPFORGE_API_KEY``, then
    to the local stack (http://127.0.0.1:8000 and ``.clipforge/dev-api-key``). Every API error
    raises :class:`~clipforge.client.errors.APIError` with its status, code and detail.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        connection = resolve(base_url, api_key)
        self.base_url = connection.base_url
        self._auth = {"Authorization": f"Bearer {connection.api_key}"}
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={**self._auth, "User-Agent": "clipforge-client/0.1"},
            timeout=timeout,
            transport=transport,
        )

    async def __aenter__(self) -> AsyncClipForge:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- plumbing -------------------------------------------------------------------------

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"cannot reach the gateway at {self.base_url}: {exc}") from exc
        if response.is_error:
            raise APIError.from_response(response)
        return response

    # --- jobs -----------------------------------------------------------------------------

    async def create_job(
        self,
        url: str,
        *,
        options: OptionsInput = None,
        priority: Priority = "interactive",
        callback_url: str | None = None,
    ) -> JobCreated:
        """Start a job from a video link. The gateway validates everything (422 names the field)."""
        body: dict[str, Any] = {"url": url, "options": _options_body(options), "priority": priority}
        if callback_url is not None:
            body["callback_url"] = callback_url
        return JobCreated.model_validate_json((await self._request("POST", "/v1/jobs", json=body)).content)

    async def upload_job(
        self,
        path: str | os.PathLike[str],
        *,
        options: OptionsInput = None,
        priority: Priority = "interactive",
        callback_url: str | None = None,
    ) -> JobCreated:
        """Start a job from a local video file, streamed to the gateway (never read whole into memory)."""
        file_path = Path(path)
        fields: dict[str, str] = {"options": json.dumps(_options_body(options)), "priority": priority}
        if callback_url is not None:
            fields["callback_url"] = callback_url
        # httpx reads the file in 64 KiB chunks while sending; short blocking reads of a local file.
        with file_path.open("rb") as handle:  # noqa: ASYNC230
            files = {"file": (file_path.name, handle, "application/octet-stream")}
            response = await self._request("POST", "/v1/jobs/upload", data=fields, files=files, timeout=None)
        return JobCreated.model_validate_json(response.content)

    async def create(
        self,
        source: str | os.PathLike[str],
        *,
        options: OptionsInput = None,
        priority: Priority = "interactive",
        callback_url: str | None = None,
    ) -> JobCreated:
        """A job from a link (anything with ``://``) or from a local file (anything else)."""
        if is_url(source):
            return await self.create_job(str(source), options=options, priority=priority, callback_url=callback_url)
        return await self.upload_job(source, options=options, priority=priority, callback_url=callback_url)

    async def list_jobs(
        self,
        *,
        status: JobStatus | str | Iterable[JobStatus | str] | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> JobList:
        """One page of the tenant's jobs, newest first; ``next_cursor`` fetches the next page."""
        params: list[tuple[str, str]] = [("limit", str(limit))]
        statuses = [status] if isinstance(status, str) else list(status or [])
        params += [("status", str(value)) for value in statuses]  # the gateway validates them (422)
        if created_after is not None:
            params.append(("created_after", created_after.isoformat()))
        if created_before is not None:
            params.append(("created_before", created_before.isoformat()))
        if cursor is not None:
            params.append(("cursor", cursor))
        return JobList.model_validate_json((await self._request("GET", "/v1/jobs", params=params)).content)

    async def iter_jobs(
        self,
        *,
        status: JobStatus | str | Iterable[JobStatus | str] | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        page_size: int = 50,
    ) -> AsyncIterator[JobSummary]:
        """Every matching job, newest first, page after page."""
        cursor: str | None = None
        while True:
            page = await self.list_jobs(
                status=status,
                created_after=created_after,
                created_before=created_before,
                limit=page_size,
                cursor=cursor,
            )
            for item in page.items:
                yield item
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def get_job(self, job_id: str) -> JobView:
        return JobView.model_validate_json((await self._request("GET", f"/v1/jobs/{job_id}")).content)

    async def cancel_job(self, job_id: str) -> JobView:
        """Stop a running job (409 ``job_finished`` if it has already ended)."""
        return JobView.model_validate_json((await self._request("POST", f"/v1/jobs/{job_id}/cancel")).content)

    async def retry_job(self, job_id: str) -> JobView:
        """Start a failed job again from the stage that failed (409 ``not_failed`` otherwise)."""
        return JobView.model_validate_json((await self._request("POST", f"/v1/jobs/{job_id}/retry")).content)

    async def delete_job(self, job_id: str) -> None:
        """Cancel if running, then delete the job, its events and its media."""
        await self._request("DELETE", f"/v1/jobs/{job_id}")

    async def stats(self) -> Stats:
        return Stats.model_validate_json((await self._request("GET", "/v1/stats")).content)

    # --- results --------------------------------------------------------------------------

    async def transcript(self, job_id: str) -> Transcript:
        """The word-timed transcript (409 ``transcript_not_ready`` until it exists)."""
        return Transcript.model_validate_json((await self._request("GET", f"/v1/jobs/{job_id}/transcript")).content)

    async def transcript_text(self, job_id: str, format: Literal["srt", "vtt"] = "srt") -> str:
        """The transcript as SubRip or WebVTT subtitles."""
        return (await self._request("GET", f"/v1/jobs/{job_id}/transcript", params={"format": format})).text

    async def download_clip(
        self, job_id: str, index: int, dest: str | os.PathLike[str] = ".", *, kind: ClipFile = "mp4"
    ) -> Path:
        """Stream one file of clip ``index`` to ``dest`` (a folder, or a file path); returns the path.

        The file appears only when complete (written as ``.part``, then renamed).
        """
        suffix, extension = CLIP_FILES[kind]
        target = await asyncio.to_thread(_target_path, Path(dest), f"{job_id}-clip-{index:02d}.{extension}")
        partial = target.with_name(target.name + ".part")
        try:
            async with self._http.stream("GET", f"/v1/jobs/{job_id}/clips/{index}{suffix}", timeout=None) as response:
                if response.is_error:
                    await response.aread()
                    raise APIError.from_response(response)
                with partial.open("wb") as out:
                    async for chunk in response.aiter_bytes(_DOWNLOAD_CHUNK):
                        out.write(chunk)
        except httpx.TransportError as exc:
            partial.unlink(missing_ok=True)
            raise ConnectionFailed(f"download of clip {index} from {self.base_url} failed: {exc}") from exc
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(target)
        return target

    async def download_clips(
        self,
        job: str | JobView,
        dest: str | os.PathLike[str] = ".",
        *,
        thumbnails: bool = False,
        captions: bool = False,
    ) -> list[Path]:
        """Every clip's mp4 (and, if asked, its thumbnail and SRT/VTT captions) into the folder ``dest``."""
        view = job if isinstance(job, JobView) else await self.get_job(job)
        folder = Path(dest)
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        paths: list[Path] = []
        for clip in view.clips:
            paths.append(await self.download_clip(view.id, clip.index, folder))
            if thumbnails and clip.thumbnail_url:
                paths.append(await self.download_clip(view.id, clip.index, folder, kind="thumbnail"))
            if captions and clip.srt_url:
                paths.append(await self.download_clip(view.id, clip.index, folder, kind="srt"))
            if captions and clip.vtt_url:
                paths.append(await self.download_clip(view.id, clip.index, folder, kind="vtt"))
        return paths

    # --- live progress --------------------------------------------------------------------

    def _ws_url(self, path: str, query: dict[str, str | int]) -> str:
        base = self.base_url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
        return f"{base}{path}" + (f"?{urlencode(query)}" if query else "")

    async def _live(
        self, path: str, position: Callable[[], dict[str, str | int]], max_reconnects: int, *, explain: str
    ) -> AsyncIterator[str | int]:
        """Raw messages of a live stream, reconnecting (with ``position()`` as the resume query)
        after every abnormal close. Yields each message's text, then the close code it ended with
        (1000, 4404, 4401 or 4400; the caller decides), so one loop serves both kinds of stream.
        ``explain`` is a GET path whose problem details say why a handshake was refused."""
        failures = 0
        while True:
            code: int | None
            try:
                async with ws_connect(
                    self._ws_url(path, position()),
                    additional_headers=self._auth,
                    open_timeout=30,
                    close_timeout=5,
                    max_size=None,
                ) as socket:
                    async for raw in socket:
                        failures = 0
                        yield str(raw)
                    code = socket.close_code
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd is not None else None
            except InvalidStatus as exc:
                # The handshake was refused: ask over HTTP, which says why with problem details.
                await self._request("GET", explain)
                code = exc.response.status_code
            except (OSError, TimeoutError, InvalidHandshake) as exc:
                code = None
                log.info("live stream %s unreachable: %s", path, exc)
            if code is not None and code in _FINAL_CLOSE_CODES:
                yield code
                return
            failures += 1
            if failures > max_reconnects:
                raise ConnectionFailed(f"the live stream {path} dropped {failures} times in a row")
            delay = min(0.25 * 2 ** (failures - 1), 5.0)
            log.info("live stream %s closed (%s); resuming at %s in %.2f s", path, code, position(), delay)
            await asyncio.sleep(delay)

    async def events(
        self, job_id: str, *, after_seq: int | None = None, max_reconnects: int = 8
    ) -> AsyncIterator[JobSnapshotMessage | ProgressMessage]:
        """The job's live messages: a snapshot, then every progress event, until the job ends.

        A dropped connection (network, gateway restart, 1013 for a slow reader) is resumed with
        ``after_seq`` = the last ``seq`` seen, so nothing is missed or repeated. Gives up with
        ``ConnectionFailed`` after ``max_reconnects`` attempts in a row that bring nothing.
        """
        last_seq = after_seq

        def position() -> dict[str, str | int]:
            return {} if last_seq is None else {"after_seq": last_seq}

        path = f"/v1/jobs/{job_id}"
        async for item in self._live(f"{path}/events", position, max_reconnects, explain=path):
            if not isinstance(item, str):
                _raise_for_close(item, f"job {job_id!r}", f"resume position {last_seq}")
                return
            message = _LIVE_MESSAGE.validate_json(item)
            if isinstance(message, ProgressMessage):
                if last_seq is not None and message.seq <= last_seq:
                    continue
                last_seq = message.seq
            else:
                last_seq = message.job.seq
            yield message

    async def tenant_events(
        self, *, cursor: str | None = None, max_reconnects: int = 8
    ) -> AsyncIterator[TenantSnapshotMessage | ProgressMessage]:
        """Every job of the caller's tenant, live: a snapshot of the unfinished jobs, then every
        progress event, for as long as you iterate. Drops are resumed from the last message's
        ``cursor`` (pass one to start after it), so nothing is missed or repeated."""
        last_cursor = cursor

        def position() -> dict[str, str | int]:
            return {} if last_cursor is None else {"cursor": last_cursor}

        async for item in self._live("/v1/events", position, max_reconnects, explain="/v1/jobs"):
            if not isinstance(item, str):
                _raise_for_close(item, "tenant stream", "the cursor")
                return
            message = _TENANT_MESSAGE.validate_json(item)
            last_cursor = message.cursor or last_cursor
            yield message

    async def wait(
        self,
        job_id: str,
        *,
        timeout: float | None = None,
        on_message: Callable[[JobSnapshotMessage | ProgressMessage], None] | None = None,
        follow: bool = True,
        poll_interval: float = 2.0,
        max_reconnects: int = 8,
    ) -> JobView:
        """Until the job has ended (completed, failed or cancelled); returns it. Never raises for a
        failed job: check ``status`` and ``error``.

        Follows the live stream (``on_message`` sees every message); when the stream cannot be
        used, or with ``follow=False``, polls every ``poll_interval`` seconds instead, and
        ``on_message`` gets a snapshot per poll. ``timeout`` raises ``TimeoutError``.
        """
        async with asyncio.timeout(timeout):
            if follow:
                try:
                    async for message in self.events(job_id, max_reconnects=max_reconnects):
                        if on_message is not None:
                            on_message(message)
                except (ConnectionFailed, StreamClosed) as exc:
                    log.warning("following job %s live failed (%s); polling instead", job_id, exc)
            while True:
                view = await self.get_job(job_id)
                if view.status.is_terminal:
                    return view
                if on_message is not None:
                    on_message(JobSnapshotMessage(job=view))
                await asyncio.sleep(poll_interval)
