"""Per-tenant job creation limits, counted in MongoDB and so shared by every gateway replica."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from clipforge.devstack.ports import free_port
from clipforge.gateway.app import create_app
from clipforge.gateway.keys import KeyStore
from clipforge.gateway.ratelimit import RateLimiter
from clipforge.gateway.settings import GatewaySettings
from clipforge.shared.jobs import JobStore
from clipforge.shared.settings import Settings

pytestmark = pytest.mark.integration

JOB = {"url": "http://127.0.0.1:9/talk.mp4"}


@asynccontextmanager
async def serve(settings: Settings, **overrides: Any) -> AsyncIterator[str]:
    port = free_port()
    gateway_settings = GatewaySettings(**{**settings.model_dump(), "http_port": port, **overrides})
    config = uvicorn.Config(create_app(gateway_settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def wait_for_fresh_window(window_seconds: int, needed_seconds: float) -> None:
    """Start at the beginning of a window when the current one would end during the test."""
    left = window_seconds - time.time() % window_seconds
    if left < needed_seconds:
        await asyncio.sleep(left + 0.05)


def client(url: str, api_key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {api_key}"})


async def test_creation_over_the_limit_is_429_with_retry_after_until_the_window_ends(
    settings: Settings, store: JobStore, api_key: str
) -> None:
    other_key = (await KeyStore(store.db).create("other", "test")).api_key
    window = 3600
    async with serve(settings, job_rate_limit=3, job_rate_window_seconds=window) as url:
        await wait_for_fresh_window(window, needed_seconds=20)
        async with client(url, api_key) as tenant, client(url, other_key) as neighbour:
            accepted = [await tenant.post("/v1/jobs", json=JOB) for _ in range(3)]
            refused = await tenant.post("/v1/jobs", json=JOB)
            asked_at = time.time()
            unaffected = await neighbour.post("/v1/jobs", json=JOB)

    assert [r.status_code for r in accepted] == [202, 202, 202]
    assert [r.headers["RateLimit-Remaining"] for r in accepted] == ["2", "1", "0"]
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "rate_limited" and refused.json()["status"] == 429
    seconds_left = window - asked_at % window
    assert int(refused.headers["Retry-After"]) == pytest.approx(math.ceil(seconds_left), abs=1)
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert unaffected.status_code == 202, "another tenant has its own count"
    assert await store.jobs.count_documents({"tenant_id": "default"}) == 3


async def test_a_refused_client_succeeds_once_retry_after_has_passed(settings: Settings, api_key: str) -> None:
    async with serve(settings, job_rate_limit=1, job_rate_window_seconds=2) as url, client(url, api_key) as http:
        await wait_for_fresh_window(2, needed_seconds=1.5)
        first = await http.post("/v1/jobs", json=JOB)
        refused = await http.post("/v1/jobs", json=JOB)
        retry_after = int(refused.headers["Retry-After"])
        await asyncio.sleep(retry_after)
        later = await http.post("/v1/jobs", json=JOB)
    assert (first.status_code, refused.status_code, later.status_code) == (202, 429, 202)
    assert 1 <= retry_after <= 2


async def test_the_limit_holds_across_two_gateway_replicas(settings: Settings, store: JobStore, api_key: str) -> None:
    limit, window = 5, 3600
    async with (
        serve(settings, job_rate_limit=limit, job_rate_window_seconds=window) as first_url,
        serve(settings, job_rate_limit=limit, job_rate_window_seconds=window) as second_url,
        client(first_url, api_key) as first,
        client(second_url, api_key) as second,
    ):
        await wait_for_fresh_window(window, needed_seconds=20)
        responses = await asyncio.gather(*(replica.post("/v1/jobs", json=JOB) for replica in [first, second] * 6))
    codes = sorted(response.status_code for response in responses)
    assert codes == [202] * limit + [429] * (12 - limit)
    assert await store.jobs.count_documents({}) == limit


async def test_uploads_share_the_count_and_are_refused_before_the_body_is_read(
    settings: Settings, store: JobStore, api_key: str
) -> None:
    async with serve(settings, job_rate_limit=1, job_rate_window_seconds=3600) as url, client(url, api_key) as http:
        await wait_for_fresh_window(3600, needed_seconds=20)
        created = await http.post("/v1/jobs", json=JOB)
        upload = await http.post("/v1/jobs/upload", files={"file": ("talk.mp4", b"not even a video")})
    assert created.status_code == 202
    assert upload.status_code == 429 and upload.json()["code"] == "rate_limited"


async def test_a_tenant_override_replaces_the_default_and_zero_means_unlimited(
    settings: Settings, store: JobStore, api_key: str
) -> None:
    busy_key = (await KeyStore(store.db).create("busy", "test")).api_key
    overrides = {"job_rate_limit": 1, "job_rate_window_seconds": 3600, "job_rate_limit_overrides": {"busy": 0}}
    async with serve(settings, **overrides) as url, client(url, api_key) as default, client(url, busy_key) as busy:
        await wait_for_fresh_window(3600, needed_seconds=20)
        default_codes = [(await default.post("/v1/jobs", json=JOB)).status_code for _ in range(2)]
        busy_codes = [(await busy.post("/v1/jobs", json=JOB)).status_code for _ in range(4)]
    assert default_codes == [202, 429]
    assert busy_codes == [202] * 4


async def test_counter_windows_reset_at_their_boundary(store: JobStore) -> None:
    limiter = RateLimiter(store.db, window_seconds=60)
    await limiter.ensure_indexes()
    start = 60 * 1_000_000.0  # the start of a window
    decisions = [await limiter.hit("t", 2, now=start + offset) for offset in (0.0, 30.0, 59.5)]
    assert [d.allowed for d in decisions] == [True, True, False]
    assert [d.reset_after_seconds for d in decisions] == [60, 30, 1]
    next_window = await limiter.hit("t", 2, now=start + 60.0)
    assert next_window.allowed and next_window.remaining == 1


async def test_large_limits_are_claimed_in_batches_and_never_exceeded_across_replicas(store: JobStore) -> None:
    first, second = RateLimiter(store.db, window_seconds=60), RateLimiter(store.db, window_seconds=60)
    limit, now = 320, 60 * 2_000_000.0 + 1.0
    assert first.batch_for(limit) == 10 and first.batch_for(63) == 1
    decisions = await asyncio.gather(*(replica.hit("t", limit, now=now) for replica in [first, second] * 200))
    allowed = sum(decision.allowed for decision in decisions)
    assert limit - 2 * 9 <= allowed <= limit, allowed
    counter = await store.db["rate_limits"].find_one({"_id": f"t:60:{int(now // 60)}"})
    assert counter is not None and counter["count"] <= 400 + 2 * 10, "one write per batch of 10, not per request"
    refused = [decision for decision in decisions if not decision.allowed]
    assert refused and all(decision.reset_after_seconds == 59 for decision in refused)
    assert (await first.hit("t", limit, now=now + 60)).allowed, "a new window starts a new count"
