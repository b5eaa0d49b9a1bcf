"""The MCP server's tools through real MCP client sessions (in memory, streamable HTTP with the
caller's bearer key, and stdio in a subprocess) against the real gateway, RabbitMQ and SecantusDB."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from support import Driver, run_stages, serve_asgi, store_results

from clipforge.devstack.samples import SampleVideo
from clipforge.gateway.keys import KeyStore
from clipforge.mcp.server import build_server
from clipforge.shared.jobs import JobStore
from clipforge.shared.models import Stage
from clipforge.shared.settings import Settings

pytestmark = pytest.mark.integration

NOWHERE = "http://127.0.0.1:9/talk.mp4"


async def call(client: Client, tool: str, **arguments: Any) -> Any:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    return result.structured_content


async def error_of(client: Client, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error
    return " ".join(getattr(block, "text", "") for block in result.content)


async def test_tools_create_a_job_report_its_status_and_list_its_clips(
    gateway: str, api_key: str, driver: Driver, settings: Settings, speech_video: SampleVideo
) -> None:
    async with Client(build_server(gateway, api_key)) as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        assert tools == {"create_job", "job_status", "list_clips", "list_jobs"}

        created = await call(client, "create_job", url=NOWHERE, max_clips=2, aspect="9:16")
        job_id = created["id"]
        status = await call(client, "job_status", job_id=job_id)
        assert status["status"] == "queued" and status["options"]["max_clips"] == 2
        assert status["options"]["aspect"] == "9:16"
        assert (await call(client, "list_clips", job_id=job_id)) == {"job_id": job_id, "status": "queued", "clips": []}

        transcribed, rendered = store_results(settings, job_id, speech_video)
        await run_stages(driver, job_id, {Stage.TRANSCRIBE: transcribed, Stage.RENDER: rendered}, steps=1)
        assert (await call(client, "job_status", job_id=job_id))["status"] == "completed"
        listing = await call(client, "list_clips", job_id=job_id)
        assert listing["status"] == "completed" and [clip["index"] for clip in listing["clips"]] == [1]
        clip = listing["clips"][0]
        assert clip["title"] == "Welcome" and clip["video_url"] == f"{gateway}/v1/jobs/{job_id}/clips/1"
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {api_key}"}) as http:
            video = await http.get(clip["video_url"])
            captions = await http.get(clip["vtt_url"])
        assert video.content == speech_video.path.read_bytes() and captions.text.startswith("WEBVTT")

        jobs = await call(client, "list_jobs", status=["completed"])
        assert [item["id"] for item in jobs["items"]] == [job_id]

        assert "404 job_not_found" in await error_of(client, "job_status", job_id="6742c1f0a9e4b3d2c1f0a9e4")
        invalid = await error_of(client, "create_job", url="ftp://example.com/v.mp4")
        assert "422 unsupported_url_scheme" in invalid and "http://" in invalid


async def test_a_per_call_api_key_acts_for_its_own_tenant(gateway: str, api_key: str, store: JobStore) -> None:
    acme = (await KeyStore(store.db).create("acme", "agent")).api_key
    async with Client(build_server(gateway, api_key)) as client:
        created = await call(client, "create_job", url=NOWHERE, api_key=acme)
        job = await store.get(created["id"])
        assert job is not None and job["tenant_id"] == "acme"
        assert "404 job_not_found" in await error_of(client, "job_status", job_id=created["id"])
        assert (await call(client, "job_status", job_id=created["id"], api_key=acme))["tenant_id"] == "acme"


@pytest.fixture
async def mcp_http(gateway: str) -> AsyncIterator[str]:
    """The MCP server on streamable HTTP with no key of its own: each caller's bearer key is used."""
    async with serve_asgi(build_server(gateway, api_key=None).streamable_http_app()) as url:
        yield f"{url}/mcp"


async def test_streamable_http_forwards_the_callers_bearer_key(mcp_http: str, store: JobStore) -> None:
    acme = (await KeyStore(store.db).create("acme", "remote agent")).api_key
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {acme}"}, timeout=30) as http,
        Client(streamable_http_client(mcp_http, http_client=http)) as client,
    ):
        created = await call(client, "create_job", url=NOWHERE)
        assert (await call(client, "job_status", job_id=created["id"]))["tenant_id"] == "acme"
    job = await store.get(created["id"])
    assert job is not None and job["tenant_id"] == "acme"

    async with (
        httpx2.AsyncClient(headers={"Authorization": "Bearer cf_000000000000_notakeyatallnotakeyatall"}) as http,
        Client(streamable_http_client(mcp_http, http_client=http)) as client,
    ):
        assert "401 unauthorized" in await error_of(client, "list_jobs")


async def test_stdio_server_in_a_subprocess(gateway: str, api_key: str, tmp_path: Path) -> None:
    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "clipforge.mcp"],
        env={
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
            "CLIPFORGE_API_URL": gateway,
            "CLIPFORGE_API_KEY": api_key,
        },
        cwd=tmp_path,
    )
    async with Client(server) as client:
        created = await call(client, "create_job", url=NOWHERE, max_clips=1)
        status = await call(client, "job_status", job_id=created["id"])
    assert status["status"] == "queued" and status["options"]["max_clips"] == 1
