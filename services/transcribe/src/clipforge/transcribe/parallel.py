"""Parallel transcription of long audio: the job document's ledger of parts, and the waiting.

How it runs (wired in ``service.py``):

1. The transcribe stage handler that claimed the job (the *coordinator*, holding its
   ``media.ready`` message) splits audio longer than ``CLIPFORGE_TRANSCRIBE_CHUNK_SECONDS`` at
   pauses (``chunking.plan_chunks``), records the plan on the job (:class:`ChunkLedger`) and
   publishes one :class:`~clipforge.shared.events.TranscriptionChunk` per part not yet done,
   persistent and confirmed, to the quorum queue ``<prefix>.transcribe.chunks``.
2. Every transcribe process consumes that queue with a second subscriber of its own (prefetch 1,
   its own channel), apart from the stage's slot: a coordinator that waits keeps its slot, but its
   process still transcribes parts, so a fleet of coordinators can never wait on each other.
3. A part's transcript goes to the media store as JSON (``jobs/<id>/chunks/<plan>-<index>.json``),
   then its index is added to the job's ledger with ``$addToSet`` (a redelivered part changes
   nothing), with the process that did it.
4. The coordinator polls the ledger (one small read every ``POLL_SECONDS``), reports progress as
   parts finish, fails the job when a part failed or when no part finished for
   ``CLIPFORGE_TRANSCRIBE_CHUNK_TIMEOUT_SECONDS``, and joins the parts (``chunking.join_transcripts``).

The plan is deterministic, so a coordinator that restarts (a redelivered ``media.ready``, a retry
of a failed job) finds the parts already done and sends only the others.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from clipforge.shared.errors import StageError
from clipforge.shared.jobs import utc_now
from clipforge.shared.models import TERMINAL_STATUSES, ProgressCallback

from .chunking import ChunkPlan
from .core import format_clock

CHUNKS_FIELD = "transcribe_chunks"
POLL_SECONDS = 0.5
_TERMINAL = [status.value for status in TERMINAL_STATUSES]

Document = dict[str, Any]


def worker_identity() -> str:
    """Names one transcribe process (or one in-process worker) in the ledger and the logs."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def write_atomically(path: Path, text: str) -> None:
    """Readers see the whole file or none of it (a rename within one folder is atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.partial")
    partial.write_text(text)
    os.replace(partial, path)


def job_has_ended(job: Document | None) -> bool:
    return job is None or job.get("status") in _TERMINAL


class ChunkLedger:
    """``jobs.<id>.transcribe_chunks``: the plan, the parts done (and by whom), a part's failure."""

    def __init__(self, jobs: AsyncCollection[Document]) -> None:
        self.jobs = jobs

    async def state(self, job_id: str) -> Document | None:
        return await self.jobs.find_one({"_id": job_id}, {"status": 1, CHUNKS_FIELD: 1})

    async def open(
        self, job_id: str, plan: ChunkPlan, *, result_exists: Callable[[int], bool]
    ) -> frozenset[int] | None:
        """Record ``plan`` on the job; the parts already done under it (None: the job has ended).

        A previous attempt's record of the same plan is kept (its parts are not redone); a part
        whose result file is missing is taken off, and a recorded failure is cleared.
        """
        job = await self.state(job_id)
        if job_has_ended(job):
            return None
        assert job is not None
        record = job.get(CHUNKS_FIELD) or {}
        live = {"_id": job_id, "status": {"$nin": _TERMINAL}}
        if record.get("plan") == plan.plan_id:
            done = {int(index) for index in record.get("done", [])}
            missing = sorted(index for index in done if not result_exists(index))
            # Never $set "done" here: a part of the previous attempt may finish right now.
            update: Document = {"$set": {f"{CHUNKS_FIELD}.failed": None}}
            if missing:
                update["$pull"] = {f"{CHUNKS_FIELD}.done": {"$in": missing}}
            result = await self.jobs.update_one({**live, f"{CHUNKS_FIELD}.plan": plan.plan_id}, update)
            return frozenset(done - set(missing)) if result.matched_count else None
        fresh = {
            "plan": plan.plan_id,
            "count": len(plan.spans),
            "spans": [[span.start, span.end] for span in plan.spans],
            "cuts_outside_pauses": plan.forced_cuts,
            "done": [],
            "workers": {},
            "failed": None,
            "planned_at": utc_now(),
        }
        result = await self.jobs.update_one(live, {"$set": {CHUNKS_FIELD: fresh}})
        return frozenset() if result.matched_count else None

    async def mark_done(self, job_id: str, plan_id: str, index: int, worker: str) -> bool:
        """Count part ``index`` done; False when it already was (a redelivery) or the plan changed."""
        result = await self.jobs.update_one(
            {"_id": job_id, f"{CHUNKS_FIELD}.plan": plan_id, f"{CHUNKS_FIELD}.done": {"$ne": index}},
            {"$addToSet": {f"{CHUNKS_FIELD}.done": index}, "$set": {f"{CHUNKS_FIELD}.workers.{index}": worker}},
        )
        return result.modified_count == 1

    async def mark_failed(self, job_id: str, plan_id: str, index: int, error: StageError) -> None:
        await self.jobs.update_one(
            {"_id": job_id, f"{CHUNKS_FIELD}.plan": plan_id},
            {"$set": {f"{CHUNKS_FIELD}.failed": {"index": index, "code": error.code, "message": error.message}}},
        )


def is_live_for(job: Document | None, plan_id: str) -> bool:
    """The job still runs and still wants the parts of this plan."""
    return not job_has_ended(job) and ((job or {}).get(CHUNKS_FIELD) or {}).get("plan") == plan_id


async def wait_for_chunks(
    ledger: ChunkLedger,
    job_id: str,
    plan: ChunkPlan,
    *,
    on_progress: ProgressCallback,
    timeout_seconds: float,
    poll_seconds: float = POLL_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    """Wait (polling the ledger, never blocking the loop) until every part of ``plan`` is done.

    True when all are; False when the job ended or was re-planned meanwhile (there is nothing
    left to wait for). Raises the part's :class:`StageError` when one failed, and
    ``transcription_timed_out`` when no part finished for ``timeout_seconds``. Cancelling the
    awaiting task (the job was cancelled) stops it at once.
    """
    wanted = {span.index for span in plan.spans}
    total = plan.duration_seconds
    seen: set[int] | None = None
    last_change = clock()
    while True:
        job = await ledger.state(job_id)
        if not is_live_for(job, plan.plan_id):
            return False
        assert job is not None
        record = job[CHUNKS_FIELD]
        failed = record.get("failed")
        if failed:
            raise StageError(str(failed.get("code") or "internal_error"), str(failed.get("message") or ""))
        done = {int(index) for index in record.get("done", [])} & wanted
        if done != seen:
            seen, last_change = done, clock()
            seconds = sum(span.duration for span in plan.spans if span.index in done)
            on_progress(
                min(seconds / total, 1.0) if total > 0 else 1.0,
                f"Transcribed {len(done)} of {len(wanted)} parts ({format_clock(seconds)} of {format_clock(total)})",
            )
        if done == wanted:
            return True
        if clock() - last_change > timeout_seconds:
            raise StageError(
                "transcription_timed_out",
                f"The transcription of this long video was split into {len(wanted)} parts, and no part "
                f"finished for {format_clock(timeout_seconds)} ({len(done)} were done). The service may be "
                "overloaded; please try again later.",
                retryable=True,
            )
        await asyncio.sleep(poll_seconds)
