"""Restart RabbitMQ (the fault tests' private node, never the machine's shared broker) while
several jobs are in flight: durable quorum queues and persistent messages survive, every
service reconnects, and every job completes with exactly its clips."""

from __future__ import annotations

from typing import Any

import pytest
from faultkit import OPTIONS, FaultTally, WatchedPipeline

from clipforge.devstack.rabbitnode import RabbitNode

pytestmark = pytest.mark.faults

JOBS_IN_FLIGHT = 3
RUNNING = {"ingesting", "transcribing", "analyzing", "rendering"}


def test_broker_restart_with_jobs_in_flight_every_job_completes(
    pipeline: WatchedPipeline, rabbit_node: RabbitNode, video_url: str
) -> None:
    tally = FaultTally("RabbitMQ restarted with jobs in flight", runs=1)
    errors_before = pipeline.server_errors
    job_ids = [pipeline.submit(video_url, OPTIONS) for _ in range(JOBS_IN_FLIGHT)]

    def mid_transcription(document: dict[str, Any]) -> bool:
        return bool(document["stages"]["transcribe"]["status"] == "running")

    pipeline.wait_for(job_ids, mid_transcription, "transcribing")
    in_flight = [document["status"] for document in pipeline.jobs.find({"_id": {"$in": job_ids}})]
    rabbit_node.restart()

    outcomes = pipeline.wait_ended(job_ids)
    ledgers = [pipeline.clip_ledger(job_id) for job_id in job_ids]
    tally.add_jobs({job_id: outcomes.get(job_id, {}) for job_id in job_ids}, ledgers)
    tally.server_errors = pipeline.server_errors - errors_before
    tally.notes.append(f"job states at the restart: {sorted(in_flight)}")
    tally.save()

    assert sum(status in RUNNING for status in in_flight) >= 1, in_flight
    for job_id in job_ids:
        job = outcomes.get(job_id, {})
        assert job.get("status") == "completed", (job_id, job.get("status"), job.get("error"))
    for ledger in ledgers:
        assert ledger.exact, ledger
    assert (tally.jobs_lost, tally.duplicate_clips, tally.server_errors) == (0, 0, 0)
    pipeline.stack.wait_ready(60)  # every service's readiness (broker, database, consumers) is back
