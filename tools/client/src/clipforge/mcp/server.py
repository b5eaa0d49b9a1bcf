"""ClipForge as MCP tools for agents: create a job, read its status, list its clips (and jobs).

Every tool calls the gateway through :class:`~clipforge.client.AsyncClipForge`, so the same API
keys and tenants apply. The key used for a call is, in order: the tool's ``api_key`` argument;
on the streamable-HTTP transport, the caller's own ``Authorization: Bearer`` key (forwarded as
is); the key the server was started with (``--api-key``, ``$CLIPFORGE_API_KEY``, or the local
stack's dev key file).
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import BaseModel, Field

from clipforge.api.models import ClipView, JobCreated, JobList, JobView, Priority
from clipforge.client import APIError, AsyncClipForge, ClipForgeError
from clipforge.client.config import resolve
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

log = logging.getLogger(__name__)

Transport = Literal["stdio", "streamable-http"]

INSTRUCTIONS = (
    "ClipForge turns a long video (a link, e.g. YouTube, or a file the server can read) into short captioned "
    "highlight clips. Call create_job, then job_status until status is completed, failed or cancelled (jobs "
    "take from under a minute to many minutes), then list_clips for the clips' scores, titles and download links."
)


class ClipLinks(BaseModel):
    """A finished clip with absolute links (fetch them with the same API key)."""

    index: int
    title: str
    score: float = Field(description="0-100: how good a stand-alone short this moment is.")
    reason: str
    start: float
    end: float
    duration_seconds: float
    text: str
    video_url: str
    thumbnail_url: str | None
    srt_url: str | None
    vtt_url: str | None

    @classmethod
    def of(cls, clip: ClipView, base_url: str) -> ClipLinks:
        def absolute(path: str | None) -> str | None:
            return None if path is None else f"{base_url}{path}"

        return cls(
            index=clip.index,
            title=clip.title,
            score=clip.score,
            reason=clip.reason,
            start=clip.start,
            end=clip.end,
            duration_seconds=clip.duration_seconds,
            text=clip.text,
            video_url=f"{base_url}{clip.url}",
            thumbnail_url=absolute(clip.thumbnail_url),
            srt_url=absolute(clip.srt_url),
            vtt_url=absolute(clip.vtt_url),
        )


class ClipList(BaseModel):
    job_id: str
    status: str
    clips: list[ClipLinks]


def _bearer(ctx: Context | None) -> str | None:
    headers = ctx.headers if ctx is not None else None
    if not headers:
        return None
    scheme, _, credentials = (headers.get("authorization") or "").partition(" ")
    return credentials.strip() or None if scheme.lower() == "bearer" else None


def build_server(api_url: str | None = None, api_key: str | None = None) -> MCPServer:
    """The MCP server; ``api_url``/``api_key`` as for the client (environment and dev key file otherwise)."""
    server: MCPServer = MCPServer(name="clipforge", instructions=INSTRUCTIONS)

    def client_for(ctx: Context | None, key: str | None) -> AsyncClipForge:
        chosen = key or _bearer(ctx) or api_key
        try:
            connection = resolve(api_url, chosen)
        except ValueError as error:
            raise ToolError(str(error)) from None
        return AsyncClipForge(connection.base_url, connection.api_key)

    async def call(ctx: Context | None, key: str | None, work: Any) -> Any:
        async with client_for(ctx, key) as client:
            try:
                return await work(client)
            except APIError as error:
                fields = "; ".join(f"{p.field}: {p.message}" for p in error.errors)
                message = f"{error.status} {error.code}: {error.detail}" + (f" ({fields})" if fields else "")
                raise ToolError(message) from None
            except ClipForgeError as error:
                raise ToolError(str(error)) from None

    @server.tool(title="Create a ClipForge job")
    async def create_job(
        url: str,
        max_clips: int | None = None,
        min_clip_seconds: float | None = None,
        max_clip_seconds: float | None = None,
        aspect: Literal["original", "9:16", "1:1", "16:9"] | None = None,
        caption_style: Literal["bold", "clean", "karaoke"] | None = None,
        captions: bool | None = None,
        language: str | None = None,
        priority: Priority = "interactive",
        callback_url: str | None = None,
        api_key: str | None = None,
        ctx: Context | None = None,
    ) -> JobCreated:
        """Start making clips from a video link (http/https: YouTube or any page yt-dlp knows, or a file URL).

        Options left out take the server's defaults (5 clips of 15-60 s, original frame, bold captions,
        language detected). Returns the job id to pass to job_status and list_clips.
        """
        given = {
            "max_clips": max_clips,
            "min_clip_seconds": min_clip_seconds,
            "max_clip_seconds": max_clip_seconds,
            "aspect": aspect,
            "caption_style": caption_style,
            "captions": captions,
            "language": language,
        }
        options = {key: value for key, value in given.items() if value is not None}
        return await call(  # type: ignore[no-any-return]
            ctx,
            api_key,
            lambda client: client.create_job(url, options=options, priority=priority, callback_url=callback_url),
        )

    @server.tool(title="Status of a ClipForge job")
    async def job_status(job_id: str, api_key: str | None = None, ctx: Context | None = None) -> JobView:
        """A job's status (queued, ingesting, transcribing, analyzing, rendering, completed, failed, cancelled),
        overall progress 0-100, per-stage state, the error (stage, code, message) if it failed, and its clips."""
        return await call(ctx, api_key, lambda client: client.get_job(job_id))  # type: ignore[no-any-return]

    @server.tool(title="Clips of a ClipForge job")
    async def list_clips(job_id: str, api_key: str | None = None, ctx: Context | None = None) -> ClipList:
        """The clips of a job, best first: score, title, reason, time span, spoken text and download links
        (mp4, JPEG thumbnail, SRT and VTT captions). Empty until the job has completed."""

        async def clips(client: AsyncClipForge) -> ClipList:
            job = await client.get_job(job_id)
            links = [ClipLinks.of(clip, client.base_url) for clip in job.clips]
            return ClipList(job_id=job.id, status=job.status.value, clips=links)

        return await call(ctx, api_key, clips)  # type: ignore[no-any-return]

    @server.tool(title="List ClipForge jobs")
    async def list_jobs(
        status: list[str] | None = None,
        limit: int = 20,
        cursor: str | None = None,
        api_key: str | None = None,
        ctx: Context | None = None,
    ) -> JobList:
        """The caller's jobs, newest first, optionally only some states; pass next_cursor as cursor for more."""
        return await call(  # type: ignore[no-any-return]
            ctx, api_key, lambda client: client.list_jobs(status=status, limit=limit, cursor=cursor)
        )

    return server


def serve(
    transport: str = "stdio",
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    api_url: str | None = None,
    api_key: str | None = None,
) -> None:
    """Run until stopped: ``stdio`` for a local agent, ``streamable-http`` (path ``/mcp``) for remote ones."""
    server = build_server(api_url, api_key)
    if transport == "stdio":
        server.run("stdio")
    elif transport == "streamable-http":
        server.run("streamable-http", host=host, port=port)
    else:
        raise ValueError(f"unknown transport {transport!r}: use stdio or streamable-http")


__all__ = ["ClipLinks", "ClipList", "build_server", "serve"]
