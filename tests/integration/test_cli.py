"""The ``clipforge`` command as a subprocess against the real gateway, RabbitMQ and SecantusDB:
plain and ``--json`` output, and the documented exit codes."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from support import Driver, run_stages, serve_gateway, store_results

from clipforge.cli.output import Exit
from clipforge.client import AsyncClipForge
from clipforge.devstack.samples import SampleVideo
from clipforge.shared.jobs import JobStore
from clipforge.shared.models import Stage
from clipforge.shared.settings import Settings

pytestmark = pytest.mark.integration

NOWHERE = "http://127.0.0.1:9/talk.mp4"


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def error(self) -> dict[str, Any]:
        return json.loads(self.stderr.strip().splitlines()[-1])["error"]  # type: ignore[no-any-return]


class Cli:
    """``python -m clipforge.cli`` with the gateway and key in the environment, from an empty folder."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env = env
        self.cwd = cwd

    def start(self, *args: str, **env: str) -> Any:
        return asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "clipforge.cli",
            *args,
            env={**self.env, **env},
            cwd=self.cwd,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )

    async def finish(self, process: asyncio.subprocess.Process, timeout: float = 120) -> Run:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
        assert process.returncode is not None
        return Run(process.returncode, stdout.decode(), stderr.decode())

    async def __call__(self, *args: str, **env: str) -> Run:
        return await self.finish(await self.start(*args, **env))


@pytest_asyncio.fixture
async def gateway(settings: Settings) -> AsyncIterator[str]:
    """A gateway without the per-replica key cache, so that `keys revoke` shows on the next call."""
    async with serve_gateway(settings, api_key_cache_seconds=0) as url:
        yield url


@pytest.fixture
def cli(gateway: str, api_key: str, settings: Settings, tmp_path: Path) -> Cli:
    env = {
        **os.environ,
        "CLIPFORGE_API_URL": gateway,
        "CLIPFORGE_API_KEY": api_key,
        "CLIPFORGE_MONGO_URL": settings.mongo_url,
        "CLIPFORGE_MONGO_DATABASE": settings.mongo_database,
        "CLIPFORGE_STATE_DIR": str(tmp_path / "state"),
    }
    work = tmp_path / "work"
    work.mkdir()
    return Cli(env, work)


async def only_job(store: JobStore) -> str:
    jobs: list[dict[str, Any]] = []

    async def look() -> None:
        jobs[:] = await store.list_jobs("default", limit=2)

    for _ in range(600):
        await look()
        if jobs:
            break
        await asyncio.sleep(0.1)
    assert len(jobs) == 1
    return str(jobs[0]["_id"])


async def test_submit_prints_the_job_id_or_json(cli: Cli, store: JobStore) -> None:
    plain = await cli("submit", NOWHERE, "--max-clips", "2", "--aspect", "9:16", "--priority", "batch")
    assert plain.code == Exit.OK, plain.stderr
    job = await store.get(plain.stdout.strip())
    assert job is not None and job["options"]["max_clips"] == 2 and job["priority"] == "batch"
    assert job["options"]["aspect"] == "9:16"

    as_json = await cli("submit", NOWHERE, "--no-captions", "--json")
    created = as_json.json()
    assert as_json.code == Exit.OK and created["status"] == "queued"
    assert (await store.get(created["id"]))["options"]["captions"] is False  # type: ignore[index]


async def test_submit_follow_downloads_and_exits_0_when_the_job_completes(
    cli: Cli, store: JobStore, driver: Driver, settings: Settings, speech_video: SampleVideo, tmp_path: Path
) -> None:
    process = await cli.start("submit", NOWHERE, "--follow", "--download", str(tmp_path / "clips"), "--json")
    job_id = await only_job(store)
    transcribed, rendered = store_results(settings, job_id, speech_video)
    await asyncio.sleep(0.5)  # let it connect; a late connection still gets everything by replay
    await run_stages(driver, job_id, {Stage.TRANSCRIBE: transcribed, Stage.RENDER: rendered}, steps=1)
    run = await cli.finish(process)
    assert run.code == Exit.OK, run.stderr
    job = run.json()
    assert job["id"] == job_id and job["status"] == "completed" and len(job["clips"]) == 1
    saved = sorted(path.name for path in (tmp_path / "clips").iterdir())
    assert saved == [f"{job_id}-clip-01.{ext}" for ext in ("jpg", "mp4", "srt", "vtt")]


async def test_jobs_wait_exits_1_for_a_failed_job_and_5_for_a_cancelled_one(
    cli: Cli, gateway: str, api_key: str, driver: Driver
) -> None:
    async with AsyncClipForge(gateway, api_key) as client:
        failing = (await client.create(NOWHERE)).id
        cancelled = (await client.create(NOWHERE)).id
        waits = [await cli.start("jobs", "wait", failing, "--json"), await cli.start("jobs", "wait", cancelled)]
        await asyncio.sleep(0.5)
        await driver.claim(failing, Stage.INGEST)
        await driver.fail(failing)
        await client.cancel_job(cancelled)
        failed, stopped = [await cli.finish(process) for process in waits]
    assert failed.code == Exit.JOB_FAILED
    assert failed.json()["error"] == {"stage": "ingest", "code": "no_audio_stream", "message": "No sound"}
    assert stopped.code == Exit.JOB_CANCELLED and "cancelled" in stopped.stdout


async def test_jobs_list_show_cancel_retry_delete(cli: Cli, gateway: str, api_key: str) -> None:
    async with AsyncClipForge(gateway, api_key) as client:
        ids = [(await client.create(NOWHERE)).id for _ in range(3)]

    listed = await cli("jobs", "list", "--json", "--limit", "2")
    assert listed.code == Exit.OK and [item["id"] for item in listed.json()["items"]] == ids[:0:-1]
    assert listed.json()["next_cursor"] == ids[1]
    everything = await cli("jobs", "list", "--all", "--json", "--limit", "1")
    assert [item["id"] for item in everything.json()["items"]] == ids[::-1]
    table = await cli("jobs", "list")
    assert table.code == Exit.OK and all(job_id in table.stdout for job_id in ids)

    shown = await cli("jobs", "show", ids[0], "--json")
    assert shown.code == Exit.OK and shown.json()["id"] == ids[0] and shown.json()["status"] == "queued"
    assert ids[0] in (await cli("jobs", "show", ids[0])).stdout

    cancelled = await cli("jobs", "cancel", ids[0])
    assert cancelled.code == Exit.OK and cancelled.stdout.strip() == f"{ids[0]} cancelled"
    again = await cli("jobs", "cancel", ids[0], "--json")
    assert again.code == Exit.API_ERROR and again.error()["code"] == "job_finished" and again.stdout == ""
    not_failed = await cli("jobs", "retry", ids[1], "--json")
    assert not_failed.code == Exit.API_ERROR and not_failed.error()["status"] == 409

    deleted = await cli("jobs", "delete", ids[2], "--json")
    assert deleted.code == Exit.OK and deleted.json() == {"id": ids[2], "deleted": True}
    missing = await cli("jobs", "show", ids[2])
    assert missing.code == Exit.API_ERROR and "job_not_found" in missing.stderr


async def test_bad_input_missing_key_and_unreachable_gateway_have_their_codes(cli: Cli) -> None:
    invalid = await cli("submit", NOWHERE, "--max-clips", "99", "--json")
    assert invalid.code == Exit.USAGE and invalid.error()["code"] == "validation_error"
    assert "options.max_clips" in invalid.error()["message"]
    no_key = await cli("jobs", "list", CLIPFORGE_API_KEY="")
    assert no_key.code == Exit.USAGE and "No API key" in no_key.stderr
    unreachable = await cli("jobs", "list", "--api-url", "http://127.0.0.1:9", "--json")
    assert unreachable.code == Exit.UNREACHABLE and unreachable.error()["code"] == "unreachable"
    missing_file = await cli("submit", "no-such-video.mp4", "--json")
    assert missing_file.code == Exit.USAGE and missing_file.error()["code"] == "no_such_file"
    bad_status = await cli("jobs", "list", "--status", "bogus", "--json")
    assert bad_status.code == Exit.USAGE and bad_status.error()["status"] == 422
    unknown_option = await cli("jobs", "list", "--no-such-option")
    assert unknown_option.code == Exit.USAGE


def write_dev_key(state_dir: Path, api_key: str) -> None:
    """As ``clipforge up`` leaves it."""
    state_dir.mkdir()
    (state_dir / "dev-api-key").write_text(api_key + "\n")


async def test_dev_key_file_of_the_local_stack_is_used_when_no_key_is_given(cli: Cli, api_key: str) -> None:
    write_dev_key(Path(cli.env["CLIPFORGE_STATE_DIR"]), api_key)
    listed = await cli("jobs", "list", "--json", CLIPFORGE_API_KEY="")
    assert listed.code == Exit.OK and listed.json()["items"] == []


async def test_keys_create_list_and_revoke(cli: Cli) -> None:
    created = await cli("keys", "create", "--tenant", "acme", "--name", "ci", "--json")
    assert created.code == Exit.OK, created.stderr
    issued = created.json()
    assert issued["tenant_id"] == "acme" and issued["api_key"].startswith("cf_")
    assert (await cli("jobs", "list", CLIPFORGE_API_KEY=issued["api_key"])).code == Exit.OK

    listed = await cli("keys", "list", "--tenant", "acme", "--json")
    assert [(key["key_id"], key["name"], key["active"]) for key in listed.json()] == [(issued["key_id"], "ci", True)]
    plain = await cli("keys", "create", "--tenant", "acme")
    assert plain.code == Exit.OK and plain.stdout.strip().startswith("cf_")
    bad_tenant = await cli("keys", "create", "--tenant", "Not A Tenant")
    assert bad_tenant.code == Exit.USAGE

    assert (await cli("keys", "revoke", issued["key_id"])).code == Exit.OK
    assert (await cli("keys", "revoke", issued["key_id"], "--json")).code == Exit.API_ERROR
    refused = await cli("jobs", "list", "--json", CLIPFORGE_API_KEY=issued["api_key"])
    assert refused.code == Exit.API_ERROR and refused.error()["status"] == 401
