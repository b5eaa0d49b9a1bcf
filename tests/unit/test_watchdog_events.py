"""Which event the watchdog sends again for a stage: stored at the claim, rebuilt, or the stage before's output."""

from __future__ import annotations

from typing import Any

from clipforge.shared.events import JobRequested
from clipforge.shared.models import JobOptions, SourceRef, Stage
from clipforge.shared.watchdog import next_stage, stage_input_event


def job(**stages: dict[str, Any]) -> dict[str, Any]:
    states = {stage.value: {"status": "pending", "attempt": 0} for stage in Stage}
    for name, state in stages.items():
        states[name].update(state)
    return {
        "_id": "6742c1f0a9e4b3d2c1f0a9e4",
        "tenant_id": "acme",
        "priority": "batch",
        "source": SourceRef(url="https://example.com/v.mp4").model_dump(),
        "options": JobOptions(max_clips=2).model_dump(),
        "stages": states,
    }


def test_the_event_stored_at_the_claim_comes_first() -> None:
    stored = {"routing_key": "batch.media.ready", "body": {"event_id": "e1"}}
    assert stage_input_event(job(transcribe={"input_event": stored}), Stage.TRANSCRIBE) == stored


def test_ingest_input_is_rebuilt_from_the_job() -> None:
    event = stage_input_event(job(), Stage.INGEST)
    assert event is not None and event["routing_key"] == "batch.job.requested"
    rebuilt = JobRequested.model_validate(event["body"])
    assert rebuilt.job_id == "6742c1f0a9e4b3d2c1f0a9e4" and rebuilt.options.max_clips == 2


def test_a_later_stage_gets_the_output_of_the_stage_before() -> None:
    output = {"routing_key": "batch.transcript.ready", "body": {"event_id": "e2"}}
    document = job(ingest={"status": "done"}, transcribe={"status": "done", "output_event": output})
    assert stage_input_event(document, Stage.ANALYZE) == output
    assert stage_input_event(job(ingest={"status": "done"}), Stage.TRANSCRIBE) is None


def test_the_next_stage_is_the_first_not_done() -> None:
    assert next_stage(job()) is Stage.INGEST
    assert next_stage(job(ingest={"status": "done"}, transcribe={"status": "done"})) is Stage.ANALYZE
    finished = {stage.value: {"status": "done"} for stage in Stage}
    assert next_stage(job(**finished)) is None
