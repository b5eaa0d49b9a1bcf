"""SIGKILL each worker while it is in the middle of a job (seen on the job document: the stage
is running and has reported progress), start it again, and every job in flight still completes with exactly the clips
analysis selected: none lost, none twice, on the job or in the media store."""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import pytest
from faultkit import OPTIONS, TERMINAL, FaultTally, WatchedPipeline

pytestmark = pytest.mark.faults

JOBS_IN_FLIGHT = 2
KILL_TRIES = 3  # a stage can finish between reading "running" and the kill landing: try new jobs


@contextmanager
def analysis_held_at_scoring(pipeline: WatchedPipeline) -> Iterator[None]:
    """Analysis of the test video is over in about a second, too quick for a kill to land in it
    reliably on an idle machine. With an LLM scorer that accepts connections and never answers,
    the analyze worker stays "Scoring the candidates" (70 %) until the scorer's time-out: a
    stage that is surely mid-way. The worker restarted after the kill runs without it."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        held = {
            "CLIPFORGE_LLM_BASE_URL": f"http://127.0.0.1:{port}/v1",
            "CLIPFORGE_LLM_MODEL": "never-answers",
            "CLIPFORGE_LLM_TIMEOUT_SECONDS": "60",
            "CLIPFORGE_LLM_RETRIES": "0",
        }
        pipeline.stack.extra_env.update(held)
        pipeline.stack.stop_service("analyze")
        pipeline.stack.start_service("analyze")
        pipeline.stack.wait_ready()
        try:
            yield
        finally:
            for name in held:
                pipeline.stack.extra_env.pop(name, None)


def stage_state(document: dict[str, Any], stage: str) -> dict[str, Any]:
    return dict(document["stages"][stage])


def is_mid_stage(stage: str) -> Any:
    """Running and past its start: the stage has reported progress of its work."""

    def check(document: dict[str, Any]) -> bool:
        state = stage_state(document, stage)
        return bool(state["status"] == "running" and 0 < float(state.get("progress") or 0) < 100)

    return check


def is_past_stage(stage: str) -> Any:
    def check(document: dict[str, Any]) -> bool:
        return stage_state(document, stage)["status"] in {"done", "failed"} or document["status"] in TERMINAL

    return check


@pytest.mark.parametrize("stage", ["ingest", "transcribe", "analyze", "render"])
def test_worker_killed_mid_job_then_restarted_every_job_completes_with_exactly_its_clips(
    stage: str, pipeline: WatchedPipeline, video_url: str
) -> None:
    tally = FaultTally(f"SIGKILL {stage} worker mid-job, restart")
    errors_before = pipeline.server_errors
    job_ids: list[str] = []
    killed: tuple[str, int, float] | None = None  # job, stage attempt and stage progress at the kill
    for _ in range(KILL_TRIES):
        batch = [pipeline.submit(video_url, OPTIONS) for _ in range(JOBS_IN_FLIGHT)]
        job_ids += batch
        with analysis_held_at_scoring(pipeline) if stage == "analyze" else nullcontext():
            victim = pipeline.wait_for(batch, is_mid_stage(stage), f"running {stage}", too_late=is_past_stage(stage))
            if victim is None:
                continue
            pipeline.stack.stop_service(stage, sig=signal.SIGKILL)
        # The only worker of this stage is dead: what the document says now is where it died.
        at_kill = stage_state(pipeline.job_document(victim["_id"]), stage)
        pipeline.stack.start_service(stage)
        pipeline.stack.wait_ready()
        if at_kill["status"] == "running":
            killed = (victim["_id"], int(at_kill["attempt"]), float(at_kill.get("progress") or 0.0))
            break
    assert killed is not None, f"the {stage} stage always finished before the kill landed"
    victim_id, attempt_at_kill, progress_at_kill = killed

    outcomes = pipeline.wait_ended(job_ids)
    ledgers = [pipeline.clip_ledger(job_id) for job_id in job_ids]
    tally.runs = 1
    tally.add_jobs({job_id: outcomes.get(job_id, {}) for job_id in job_ids}, ledgers)
    tally.server_errors = pipeline.server_errors - errors_before
    tally.notes.append(f"killed at {stage} attempt {attempt_at_kill}, {progress_at_kill:.0f} % through the stage")
    tally.save()

    for job_id in job_ids:
        job = outcomes.get(job_id, {})
        assert job.get("status") == "completed", (job_id, job.get("status"), job.get("error"))
    for ledger in ledgers:
        assert ledger.exact, ledger
    redone = stage_state(pipeline.job_document(victim_id), stage)
    assert redone["attempt"] == attempt_at_kill + 1, "the restarted worker redid the stage once"
    assert (tally.jobs_lost, tally.duplicate_clips, tally.server_errors) == (0, 0, 0)
