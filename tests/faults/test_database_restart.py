"""SIGKILL the database server (SecantusDB) while jobs are in flight: meanwhile the gateway
answers its database calls with 503 problem details (never 500) and says so on /readyz; once
the server is started again on the same data and port, every job completes with its clips and
every stage recorded done.

The kill lands just after a stage transition (a job's transcription was just claimed, right
after its ingest was recorded done): the moment an acknowledged but unjournaled write is lost."""

from __future__ import annotations

from typing import Any

import pytest
from faultkit import OPTIONS, FaultTally, WatchedPipeline

from clipforge.devstack.secantus import SecantusServer

pytestmark = pytest.mark.faults

JOBS_IN_FLIGHT = 3
PROBE_ROUNDS = 2


def assert_database_unavailable(response: Any) -> None:
    assert response.status_code == 503, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "database_unavailable" and body["status"] == 503
    assert int(response.headers["retry-after"]) >= 1


def test_database_killed_and_restarted_gateway_answers_503_and_every_job_completes(
    pipeline: WatchedPipeline, fault_database: SecantusServer, video_url: str
) -> None:
    tally = FaultTally("database server SIGKILLed and restarted with jobs in flight", runs=1)
    errors_before, unavailable_before = pipeline.server_errors, pipeline.unavailable_answers
    job_ids = [pipeline.submit(video_url, OPTIONS) for _ in range(JOBS_IN_FLIGHT)]

    def mid_transcription(document: dict[str, Any]) -> bool:
        return bool(document["stages"]["transcribe"]["status"] == "running")

    pipeline.wait_for(job_ids, mid_transcription, "transcribing")
    fault_database.stop(kill=True)
    try:
        for _ in range(PROBE_ROUNDS):
            ready = pipeline.http.get("/readyz")
            assert ready.status_code == 503 and ready.json()["checks"]["database"] is False, ready.text
            assert_database_unavailable(pipeline.request("GET", "/v1/jobs"))
            assert_database_unavailable(pipeline.request("GET", f"/v1/jobs/{job_ids[0]}"))
            assert_database_unavailable(pipeline.request("POST", "/v1/jobs", json={"url": video_url}))
    finally:
        fault_database.start()

    outcomes = pipeline.wait_ended(job_ids)
    ledgers = [pipeline.clip_ledger(job_id) for job_id in job_ids]
    tally.add_jobs({job_id: outcomes.get(job_id, {}) for job_id in job_ids}, ledgers)
    tally.server_errors = pipeline.server_errors - errors_before
    tally.unavailable_answers = pipeline.unavailable_answers - unavailable_before
    tally.save()

    for job_id in job_ids:
        job = outcomes.get(job_id, {})
        assert job.get("status") == "completed", (job_id, job.get("status"), job.get("error"))
        # An acknowledged write lost with the server would show as a stage left behind.
        assert {name: stage["status"] for name, stage in job["stages"].items()} == dict.fromkeys(job["stages"], "done")
    for ledger in ledgers:
        assert ledger.exact, ledger
    assert tally.unavailable_answers == 3 * PROBE_ROUNDS
    assert (tally.jobs_lost, tally.duplicate_clips, tally.server_errors) == (0, 0, 0)
    pipeline.stack.wait_ready(60)
