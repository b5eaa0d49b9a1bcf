"""The gateway when the message broker goes away: job creation answers 503, the job it stored
is failed with a reason (never left queued), the failure is logged for live streams, and
readiness names the broker."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest
from support import TcpProxy, serve_gateway

from clipforge.shared.jobs import JobStore
from clipforge.shared.settings import Settings

pytestmark = pytest.mark.integration


async def test_job_creation_with_the_broker_gone_is_503_and_the_job_fails(
    settings: Settings, store: JobStore, api_key: str
) -> None:
    broker_port = urlsplit(settings.amqp_url).port or 5672
    headers = {"Authorization": f"Bearer {api_key}"}
    body = {"url": "http://127.0.0.1:9/video.mp4"}
    async with TcpProxy(broker_port) as proxy:
        behind_proxy = settings.model_copy(
            update={"amqp_url": settings.amqp_url.replace(f":{broker_port}", f":{proxy.port}", 1)}
        )
        async with (
            serve_gateway(behind_proxy, publish_timeout_seconds=3) as gateway,
            httpx.AsyncClient(base_url=gateway, headers=headers, timeout=30) as http,
        ):
            assert (await http.post("/v1/jobs", json=body)).status_code == 202
            proxy.take_down()
            refused = await http.post("/v1/jobs", json=body)
            ready = await http.get("/readyz")

    assert refused.status_code == 503
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "queue_unavailable"
    assert ready.status_code == 503
    assert ready.json()["checks"]["broker"] is False

    failed = [job async for job in store.jobs.find({"status": "failed"})]
    assert len(failed) == 1
    assert failed[0]["error"]["code"] == "queue_unavailable"
    logged = await store.events_after(failed[0]["_id"], 0)
    assert [entry["event"]["status"] for entry in logged] == ["failed"]
    assert logged[-1]["seq"] == failed[0]["seq"]
