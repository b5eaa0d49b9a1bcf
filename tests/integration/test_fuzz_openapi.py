"""schemathesis against the gateway's own OpenAPI document: the real gateway process, with the real
RabbitMQ and SecantusDB, called with a real API key. For every operation, requests that fit the
schema and requests that do not: no answer may be a 5xx, every status must be one the document
lists, and every body must match its documented schema and content type.

Bounded for CI: ``FUZZ_EXAMPLES`` cases per operation and mode, derandomized (the same cases on
every run), no shrinking. Raise it locally with ``CLIPFORGE_FUZZ_EXAMPLES=500``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from clipforge.devstack.ports import free_port
from clipforge.devstack.rabbit import delete_topology
from clipforge.gateway.app import create_app
from clipforge.gateway.settings import GatewaySettings

pytestmark = pytest.mark.integration

FUZZ_EXAMPLES = int(os.environ.get("CLIPFORGE_FUZZ_EXAMPLES", "25"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# The tenant's live stream never ends by itself (it is tested in test_live.py); every other
# operation answers and closes.
ENDLESS = {("GET", "/v1/events")}
# A job's live stream lasts as long as the job runs: fuzzed with unknown jobs only.
LIVE_WHILE_RUNNING = {("GET", "/v1/jobs/{job_id}/events")}

DOCUMENT: dict[str, Any] = create_app(GatewaySettings()).openapi()
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
OPERATIONS = {
    (operation.method.upper(), operation.path): operation
    for result in SCHEMA.get_all_operations()
    if (operation := result.ok()) is not None
}


@dataclass(frozen=True)
class Gateway:
    url: str
    api_key: str


@pytest.fixture(scope="module")
def gateway_process(rabbit_url: str, mongo_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """``python -m clipforge.gateway`` as in production (no non-public sources allowed), own prefix and database."""
    workdir: Path = tmp_path_factory.mktemp("fuzz")
    prefix = f"cft{uuid.uuid4().hex[:10]}"
    port = free_port()
    env = {
        **os.environ,
        "CLIPFORGE_AMQP_URL": rabbit_url,
        "CLIPFORGE_MONGO_URL": mongo_url,
        "CLIPFORGE_MONGO_DATABASE": f"clipforge_fuzz_{uuid.uuid4().hex[:10]}",
        "CLIPFORGE_TOPOLOGY_PREFIX": prefix,
        "CLIPFORGE_MEDIA_ROOT": str(workdir / "media"),
        "CLIPFORGE_HTTP_HOST": "127.0.0.1",
        "CLIPFORGE_HTTP_PORT": str(port),
        "CLIPFORGE_ALLOWED_SOURCE_NETWORKS": "[]",
        # Unlimited, or after 120 jobs every create and upload is a 429 and nothing else gets fuzzed.
        "CLIPFORGE_JOB_RATE_LIMIT": "0",
        "CLIPFORGE_LOG_JSON": "false",
        "CLIPFORGE_LOG_LEVEL": "WARNING",
    }
    created = subprocess.run(
        [sys.executable, "-m", "clipforge.gateway.keys_cli", "create", "--tenant", "default", "--json"],
        env=env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    api_key = json.loads(created.stdout)["api_key"]
    log = (workdir / "gateway.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "clipforge.gateway"], env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, (workdir / "gateway.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the gateway did not become ready"
            time.sleep(0.2)
        yield Gateway(url, api_key)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        server_errors = [line for line in (workdir / "gateway.log").read_text().splitlines() if "Traceback" in line]
        delete_topology(rabbit_url, prefix)
        assert not server_errors, "the gateway logged an unhandled error"


# Requests that do not fit the schema exist only for operations that take some input.
CASES = [
    (key, mode)
    for key, operation in sorted(OPERATIONS.items())
    if key not in ENDLESS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or operation.definition.raw.get("parameters") or operation.body
]


def test_every_documented_operation_is_fuzzed() -> None:
    assert len(OPERATIONS) >= 15
    assert ENDLESS <= OPERATIONS.keys()
    assert {key for key, _ in CASES} == OPERATIONS.keys() - ENDLESS


@pytest.mark.parametrize(("key", "mode"), CASES, ids=[f"{method} {path} {mode}" for (method, path), mode in CASES])
def test_no_5xx_and_answers_match_the_document(
    gateway_process: Gateway, key: tuple[str, str], mode: GenerationMode
) -> None:
    operation = OPERATIONS[key]
    headers = {"Authorization": f"Bearer {gateway_process.api_key}"}
    statuses: list[int] = []
    strategy = operation.as_strategy(generation_mode=mode)
    if "{job_id}" in key[1] and key not in LIVE_WHILE_RUNNING:
        # Random ids only reach "not found": half the cases get a job that exists (queued; no worker runs).
        job = {"url": "https://example.com/a.mp4"}
        created = httpx.post(f"{gateway_process.url}/v1/jobs", json=job, headers=headers)
        assert created.status_code == 202, created.text
        existing = operation.as_strategy(generation_mode=mode, path_parameters={"job_id": created.json()["id"]})
        strategy = strategy | existing

    @given(case=strategy)
    @settings(
        max_examples=FUZZ_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: Any) -> None:
        response = case.call(base_url=gateway_process.url, headers=headers, timeout=60)
        statuses.append(response.status_code)
        case.validate_response(response, checks=CHECKS)

    fuzz()
    assert statuses, "no request was made"
    assert max(statuses) < 500
    print(f"{key[0]} {key[1]} [{mode}]: {len(statuses)} requests, statuses {sorted(set(statuses))}")
