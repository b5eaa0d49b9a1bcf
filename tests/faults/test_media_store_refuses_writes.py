"""The media store refuses writes: the job fails at once with the stage, a stable code and a
message a person understands; it is not left running and the worker does not loop on it.

How the store is made to refuse: the tests run as root, so permissions block nothing; instead
the folder the stage must create (the job's folder for ingest, its ``clips`` folder for render)
is taken by a regular file, so every write into it fails (EEXIST / ENOTDIR), as it would on a
store mounted wrong. The stage's worker is stopped while the file is put in place, so the
refusal meets the stage deterministically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from faultkit import OPTIONS, FaultTally, WatchedPipeline

pytestmark = pytest.mark.faults


def blocked_folder(pipeline: WatchedPipeline, job_id: str, stage: str) -> Path:
    job_dir = pipeline.stack.media_root / "jobs" / job_id
    return job_dir if stage == "ingest" else job_dir / "clips"


def ready_for(stage: str) -> Any:
    previous = {"ingest": None, "render": "analyze"}[stage]
    return lambda document: previous is None or document["stages"][previous]["status"] == "done"


@pytest.mark.parametrize("stage", ["ingest", "render"])
def test_media_store_refusing_writes_fails_the_job_with_a_clear_reason(
    stage: str, pipeline: WatchedPipeline, video_url: str
) -> None:
    tally = FaultTally(f"media store refuses writes ({stage})", runs=1)
    errors_before = pipeline.server_errors
    pipeline.stack.stop_service(stage)
    job_id = pipeline.submit(video_url, OPTIONS)
    pipeline.wait_for([job_id], ready_for(stage), f"ready for {stage}")
    blocked = blocked_folder(pipeline, job_id, stage)
    blocked.parent.mkdir(parents=True, exist_ok=True)
    blocked.write_text("a file where the media store needs a folder\n")
    pipeline.stack.start_service(stage)
    pipeline.stack.wait_ready()

    job = pipeline.wait_ended([job_id]).get(job_id, {})
    document = pipeline.job_document(job_id)
    blocked.unlink()
    tally.jobs = 1
    tally.jobs_lost = int(job.get("status") != "failed")  # stuck or ended otherwise: not what was promised
    tally.duplicate_clips = len(document.get("clips") or [])
    tally.server_errors = pipeline.server_errors - errors_before
    tally.notes.append(f"error: {job.get('error')}")
    tally.save()

    assert job.get("status") == "failed", job
    assert job["error"]["stage"] == stage
    assert job["error"]["code"] == "storage_unwritable"
    assert "media store refused" in job["error"]["message"]
    assert job["stages"][stage]["status"] == "failed"
    assert document["stages"][stage]["attempt"] == 1, "failed once, not retried in a loop"
    assert (tally.jobs_lost, tally.duplicate_clips, tally.server_errors) == (0, 0, 0)
