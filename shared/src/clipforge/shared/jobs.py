"""The MongoDB job store (PyMongo's own async API).

Every write that changes what a watcher sees increments the job's ``seq`` in the same update,
so each live event has a per-job sequence number without a second round trip. Stage writes
are conditional on the stage attempt and on the job not being finished, so a redelivered or
late message can never move a job backwards.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from clipforge.shared.models import (
    RUNNING_STATUS,
    STAGE_PROGRESS_SPAN,
    TERMINAL_STATUSES,
    JobError,
    JobOptions,
    JobStatus,
    SourceRef,
    Stage,
    StageStatus,
)

_TERMINAL = [status.value for status in TERMINAL_STATUSES]
_UNFINISHED = [status.value for status in JobStatus if status not in TERMINAL_STATUSES]

Document = dict[str, Any]


def new_job_id() -> str:
    """A time-sortable id (MongoDB ObjectId as 24 hex characters)."""
    return str(ObjectId())


def utc_now() -> datetime:
    return datetime.now(UTC)


class ClaimOutcome(enum.Enum):
    CLAIMED = "claimed"
    ALREADY_DONE = "already_done"
    JOB_FINISHED = "job_finished"
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class Claim:
    outcome: ClaimOutcome
    job: Document | None
    attempt: int = 0
    tries: int = 0  # attempts in this run of the job (a retry of a failed job starts again at 1)


def connect(mongo_url: str, timeout_ms: int = 5000) -> AsyncMongoClient[Document]:
    # Journaled writes (j: true): a stage's result is acknowledged, and its message acked, only once
    # it would survive the database server being killed; without it the last writes before a crash
    # can vanish and a finished stage shows as still running.
    return AsyncMongoClient(
        mongo_url,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        journal=True,
        tz_aware=True,
        uuidRepresentation="standard",
    )


class JobStore:
    def __init__(self, database: AsyncDatabase[Document], *, events_ttl_seconds: int = 7 * 24 * 3600) -> None:
        self.db = database
        self.jobs = database["jobs"]
        self.events = database["job_events"]
        self.events_ttl_seconds = events_ttl_seconds

    async def ensure_indexes(self) -> None:
        await self.jobs.create_index([("tenant_id", ASCENDING), ("_id", DESCENDING)])
        await self.jobs.create_index([("status", ASCENDING)])
        await self.events.create_index([("job_id", ASCENDING), ("seq", ASCENDING)], unique=True)
        await self.events.create_index("created_at", expireAfterSeconds=self.events_ttl_seconds)

    async def ping(self) -> None:
        await self.db.command("ping")

    # --- creation and reads -------------------------------------------------------------

    async def create(
        self,
        *,
        tenant_id: str,
        source: SourceRef,
        options: JobOptions,
        job_id: str | None = None,
        priority: str = "interactive",
        extra: Document | None = None,
    ) -> Document:
        now = utc_now()
        document: Document = {
            "_id": job_id or new_job_id(),
            "tenant_id": tenant_id,
            "source": source.model_dump(),
            "options": options.model_dump(),
            "status": JobStatus.QUEUED.value,
            "progress": 0.0,
            "message": "Waiting for a worker",
            "stage": "queued",
            "seq": 0,
            "stages": {stage.value: {"status": StageStatus.PENDING.value, "attempt": 0} for stage in Stage},
            "media": None,
            "transcript": None,
            "highlights": [],
            "clips": [],
            "error": None,
            "priority": priority,
            "retries": 0,
            "created_at": now,
            "updated_at": now,
            "finished_at": None,
            "version": 0,
        }
        document.update(extra or {})
        await self.jobs.insert_one(document)
        return document

    async def get(self, job_id: str, *, tenant_id: str | None = None) -> Document | None:
        query: Document = {"_id": job_id}
        if tenant_id is not None:
            query["tenant_id"] = tenant_id
        return await self.jobs.find_one(query)

    async def events_after(self, job_id: str, seq: int) -> list[Document]:
        cursor = self.events.find({"job_id": job_id, "seq": {"$gt": seq}}, {"_id": 0}).sort("seq", ASCENDING)
        return [doc async for doc in cursor]

    async def ensure_live_indexes(self) -> None:
        """The index behind a tenant's live stream replay (``tenant_events_since``)."""
        await self.events.create_index([("tenant_id", ASCENDING), ("created_at", ASCENDING)])

    async def events_after_seq(self, job_id: str, seq: int, *, limit: int) -> list[Document]:
        """Up to ``limit`` logged events of a job after ``seq``, in order."""
        cursor = self.events.find({"job_id": job_id, "seq": {"$gt": seq}}, {"_id": 0})
        return [doc async for doc in cursor.sort("seq", ASCENDING).limit(limit)]

    async def tenant_events_since(
        self, tenant_ids: list[str], since: datetime, *, job_id: str | None = None, limit: int = 1000
    ) -> list[Document]:
        """Logged events of these tenants (optionally of one job) at or after ``since``, oldest first."""
        query: Document = {"tenant_id": {"$in": tenant_ids}, "created_at": {"$gte": since}}
        if job_id is not None:
            query["job_id"] = job_id
        cursor = self.events.find(query, {"_id": 0}).sort([("created_at", ASCENDING), ("seq", ASCENDING)])
        return [doc async for doc in cursor.limit(limit)]

    async def job_seqs(self, job_ids: list[str]) -> dict[str, int]:
        """The current sequence number of each of these jobs that exists."""
        cursor = self.jobs.find({"_id": {"$in": job_ids}}, {"seq": 1})
        return {doc["_id"]: int(doc.get("seq", 0)) async for doc in cursor}

    async def append_event(self, job_id: str, seq: int, event: Document) -> None:
        await self.events.update_one(
            {"job_id": job_id, "seq": seq},
            {"$setOnInsert": {"tenant_id": event.get("tenant_id"), "event": event, "created_at": utc_now()}},
            upsert=True,
        )

    async def list_jobs(
        self,
        tenant_id: str,
        *,
        statuses: list[str] | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        before_id: str | None = None,
        limit: int = 50,
    ) -> list[Document]:
        """Newest first; ``before_id`` is the cursor (ids are time-ordered)."""
        query: Document = {"tenant_id": tenant_id}
        if statuses:
            query["status"] = {"$in": statuses}
        created: Document = {}
        if created_after is not None:
            created["$gte"] = created_after
        if created_before is not None:
            created["$lt"] = created_before
        if created:
            query["created_at"] = created
        if before_id is not None:
            query["_id"] = {"$lt": before_id}
        cursor = self.jobs.find(query).sort("_id", DESCENDING).limit(limit)
        return [doc async for doc in cursor]

    async def count_by_status(self, tenant_id: str) -> dict[str, int]:
        pipeline = [{"$match": {"tenant_id": tenant_id}}, {"$group": {"_id": "$status", "count": {"$sum": 1}}}]
        cursor = await self.jobs.aggregate(pipeline)
        return {doc["_id"]: doc["count"] async for doc in cursor}

    async def delete(self, job_id: str, tenant_id: str) -> bool:
        result = await self.jobs.delete_one({"_id": job_id, "tenant_id": tenant_id})
        await self.events.delete_many({"job_id": job_id})
        return result.deleted_count == 1

    async def cancel(self, job_id: str, tenant_id: str) -> Document | None:
        """End a job ``cancelled``; None when it had already ended (or is not the tenant's)."""
        now = utc_now()
        return await self.jobs.find_one_and_update(
            {"_id": job_id, "tenant_id": tenant_id, "status": {"$nin": _TERMINAL}},
            {
                "$set": {
                    "status": JobStatus.CANCELLED.value,
                    "stage": JobStatus.CANCELLED.value,
                    "message": "Cancelled at your request",
                    "finished_at": now,
                    "updated_at": now,
                },
                "$inc": {"seq": 1, "version": 1},
            },
            return_document=ReturnDocument.AFTER,
        )

    async def reset_for_retry(self, job_id: str, tenant_id: str, from_stage: Stage) -> Document | None:
        """Put a failed job back to ``queued`` with ``from_stage`` and later stages pending.

        Earlier stages stay done: their artifacts and stored output events are reused.
        """
        later = list(Stage)[list(Stage).index(from_stage) :]
        now = utc_now()
        fields: Document = {
            "status": JobStatus.QUEUED.value,
            "stage": JobStatus.QUEUED.value,
            "error": None,
            "finished_at": None,
            "message": f"Retrying from {from_stage.value}",
            "progress": STAGE_PROGRESS_SPAN[from_stage][0],
            "updated_at": now,
        }
        for stage in later:
            fields[f"stages.{stage.value}.status"] = StageStatus.PENDING.value
            fields[f"stages.{stage.value}.error"] = None
            fields[f"stages.{stage.value}.progress"] = 0.0
            fields[f"stages.{stage.value}.tries"] = 0
            fields[f"stages.{stage.value}.next_retry_at"] = None
            fields[f"stages.{stage.value}.last_error"] = None
        return await self.jobs.find_one_and_update(
            {"_id": job_id, "tenant_id": tenant_id, "status": JobStatus.FAILED.value},
            {"$set": fields, "$inc": {"seq": 1, "version": 1, "retries": 1}},
            return_document=ReturnDocument.AFTER,
        )

    # --- stage transitions --------------------------------------------------------------

    async def claim_stage(self, job_id: str, stage: Stage, *, input_event: Document | None = None) -> Claim:
        """Mark ``stage`` running for a new attempt, unless it is done or the job is over.

        ``input_event`` (``{"routing_key", "body"}``) is kept on the stage so the watchdog can
        send it again if this attempt stops beating.
        """
        key = f"stages.{stage.value}"
        now = utc_now()
        fields: Document = {
            "status": RUNNING_STATUS[stage].value,
            "stage": stage.value,
            "progress": STAGE_PROGRESS_SPAN[stage][0],
            "message": f"Starting {stage.value}",
            f"{key}.status": StageStatus.RUNNING.value,
            f"{key}.started_at": now,
            f"{key}.heartbeat_at": now,
            f"{key}.next_retry_at": None,
            f"{key}.finished_at": None,
            f"{key}.progress": 0.0,
            f"{key}.error": None,
            "updated_at": now,
        }
        if input_event is not None:
            fields[f"{key}.input_event"] = input_event
        job = await self.jobs.find_one_and_update(
            {"_id": job_id, "status": {"$nin": _TERMINAL}, f"{key}.status": {"$ne": StageStatus.DONE.value}},
            {"$set": fields, "$inc": {f"{key}.attempt": 1, f"{key}.tries": 1, "seq": 1, "version": 1}},
            return_document=ReturnDocument.AFTER,
        )
        if job is not None:
            state = job["stages"][stage.value]
            return Claim(ClaimOutcome.CLAIMED, job, state["attempt"], int(state.get("tries", state["attempt"])))
        existing = await self.jobs.find_one({"_id": job_id})
        if existing is None:
            return Claim(ClaimOutcome.NOT_FOUND, None)
        if existing["status"] in _TERMINAL:
            return Claim(ClaimOutcome.JOB_FINISHED, existing)
        return Claim(ClaimOutcome.ALREADY_DONE, existing, existing["stages"][stage.value]["attempt"])

    def _running_filter(self, job_id: str, stage: Stage, attempt: int) -> Document:
        key = f"stages.{stage.value}"
        return {
            "_id": job_id,
            "status": {"$nin": _TERMINAL},
            f"{key}.status": StageStatus.RUNNING.value,
            f"{key}.attempt": attempt,
        }

    async def record_progress(
        self, job_id: str, stage: Stage, attempt: int, *, stage_fraction: float, message: str
    ) -> Document | None:
        start, end = STAGE_PROGRESS_SPAN[stage]
        fraction = min(max(stage_fraction, 0.0), 1.0)
        return await self.jobs.find_one_and_update(
            self._running_filter(job_id, stage, attempt),
            {
                "$set": {
                    "progress": round(start + (end - start) * fraction, 2),
                    "message": message,
                    f"stages.{stage.value}.progress": round(100.0 * fraction, 2),
                    "updated_at": utc_now(),
                },
                "$inc": {"seq": 1},
            },
            return_document=ReturnDocument.AFTER,
        )

    async def complete_stage(
        self,
        job_id: str,
        stage: Stage,
        attempt: int,
        *,
        record: Document,
        output_event: Document,
        final: bool,
        message: str,
        duration_seconds: float,
    ) -> Document | None:
        key = f"stages.{stage.value}"
        now = utc_now()
        fields: Document = {
            **record,
            f"{key}.status": StageStatus.DONE.value,
            f"{key}.finished_at": now,
            f"{key}.progress": 100.0,
            f"{key}.duration_seconds": round(duration_seconds, 3),
            f"{key}.output_event": output_event,
            "progress": STAGE_PROGRESS_SPAN[stage][1],
            "message": message,
            "updated_at": now,
        }
        if final:
            fields.update(status=JobStatus.COMPLETED.value, stage=JobStatus.COMPLETED.value, finished_at=now)
        return await self.jobs.find_one_and_update(
            self._running_filter(job_id, stage, attempt),
            {"$set": fields, "$inc": {"seq": 1, "version": 1}},
            return_document=ReturnDocument.AFTER,
        )

    async def fail_job(self, job_id: str, error: JobError, *, attempt: int | None = None) -> Document | None:
        """End the job ``failed`` with a reason; a no-op (None) when it already ended."""
        now = utc_now()
        query: Document = {"_id": job_id, "status": {"$nin": _TERMINAL}}
        fields: Document = {
            "status": JobStatus.FAILED.value,
            "stage": JobStatus.FAILED.value,
            "error": error.model_dump(),
            "message": error.message,
            "finished_at": now,
            "updated_at": now,
        }
        if error.stage in {stage.value for stage in Stage}:
            key = f"stages.{error.stage}"
            if attempt is not None:
                query[f"{key}.attempt"] = attempt
            fields.update(
                {
                    f"{key}.status": StageStatus.FAILED.value,
                    f"{key}.finished_at": now,
                    f"{key}.error": error.model_dump(),
                }
            )
        return await self.jobs.find_one_and_update(
            query, {"$set": fields, "$inc": {"seq": 1, "version": 1}}, return_document=ReturnDocument.AFTER
        )

    # --- retries and liveness -----------------------------------------------------------

    async def heartbeat(self, job_id: str, stage: Stage, attempt: int) -> bool:
        """Record that this attempt is alive; False when it is no longer the job's current attempt."""
        result = await self.jobs.update_one(
            self._running_filter(job_id, stage, attempt),
            {"$set": {f"stages.{stage.value}.heartbeat_at": utc_now()}},
        )
        return result.matched_count == 1

    async def mark_retrying(
        self, job_id: str, stage: Stage, attempt: int, *, error: JobError, delay_seconds: float, message: str
    ) -> Document | None:
        """Attempt ``attempt`` failed for a reason that may pass: show it, and when the next one is due."""
        key = f"stages.{stage.value}"
        now = utc_now()
        return await self.jobs.find_one_and_update(
            self._running_filter(job_id, stage, attempt),
            {
                "$set": {
                    f"{key}.status": StageStatus.RETRYING.value,
                    f"{key}.next_retry_at": now + timedelta(seconds=delay_seconds),
                    f"{key}.last_error": error.model_dump(),
                    f"{key}.heartbeat_at": None,
                    "message": message,
                    "updated_at": now,
                },
                "$inc": {"seq": 1, "version": 1},
            },
            return_document=ReturnDocument.AFTER,
        )

    async def release_stage(self, job_id: str, stage: Stage, attempt: int, *, message: str) -> Document | None:
        """Hand an unfinished attempt back (the worker is stopping); it does not count as a try."""
        key = f"stages.{stage.value}"
        now = utc_now()
        return await self.jobs.find_one_and_update(
            self._running_filter(job_id, stage, attempt),
            {
                "$set": {
                    f"{key}.status": StageStatus.RETRYING.value,
                    f"{key}.next_retry_at": now,
                    f"{key}.heartbeat_at": None,
                    "message": message,
                    "updated_at": now,
                },
                "$inc": {f"{key}.tries": -1, "seq": 1, "version": 1},
            },
            return_document=ReturnDocument.AFTER,
        )

    async def stalled_stages(self, stage: Stage, *, beaten_before: datetime, limit: int = 100) -> list[Document]:
        """Unfinished jobs whose ``stage`` runs but has not beaten since ``beaten_before``."""
        key = f"stages.{stage.value}"
        query = {
            "status": {"$in": _UNFINISHED},
            f"{key}.status": StageStatus.RUNNING.value,
            f"{key}.heartbeat_at": {"$lt": beaten_before},
        }
        return [doc async for doc in self.jobs.find(query).limit(limit)]

    async def overdue_retries(self, stage: Stage, *, due_before: datetime, limit: int = 100) -> list[Document]:
        """Unfinished jobs whose ``stage`` waits for a retry that was due before ``due_before``."""
        key = f"stages.{stage.value}"
        query = {
            "status": {"$in": _UNFINISHED},
            f"{key}.status": StageStatus.RETRYING.value,
            f"{key}.next_retry_at": {"$lt": due_before},
        }
        return [doc async for doc in self.jobs.find(query).limit(limit)]

    async def idle_jobs(self, *, updated_before: datetime, limit: int = 100) -> list[Document]:
        """Unfinished jobs with no stage running or waiting to retry, unchanged since ``updated_before``."""
        query: Document = {"status": {"$in": _UNFINISHED}, "updated_at": {"$lt": updated_before}}
        for stage in Stage:
            query[f"stages.{stage.value}.status"] = {"$nin": [StageStatus.RUNNING.value, StageStatus.RETRYING.value]}
        return [doc async for doc in self.jobs.find(query).limit(limit)]

    async def take_over_stalled(
        self, job_id: str, stage: Stage, attempt: int, *, seen_heartbeat: datetime, error: JobError, message: str
    ) -> Document | None:
        """Compare-and-set: only the first watchdog to see this heartbeat marks the stage for a retry."""
        key = f"stages.{stage.value}"
        now = utc_now()
        return await self.jobs.find_one_and_update(
            {**self._running_filter(job_id, stage, attempt), f"{key}.heartbeat_at": seen_heartbeat},
            {
                "$set": {
                    f"{key}.status": StageStatus.RETRYING.value,
                    f"{key}.next_retry_at": now,
                    f"{key}.last_error": error.model_dump(),
                    f"{key}.heartbeat_at": None,
                    "message": message,
                    "updated_at": now,
                },
                "$inc": {"seq": 1, "version": 1},
            },
            return_document=ReturnDocument.AFTER,
        )

    async def renew_overdue_retry(self, job_id: str, stage: Stage, *, seen_due: datetime) -> bool:
        """Compare-and-set: move a lost retry's due time to now, so one watchdog sends it again."""
        key = f"stages.{stage.value}"
        result = await self.jobs.update_one(
            {
                "_id": job_id,
                "status": {"$nin": _TERMINAL},
                f"{key}.status": StageStatus.RETRYING.value,
                f"{key}.next_retry_at": seen_due,
            },
            {"$set": {f"{key}.next_retry_at": utc_now()}},
        )
        return result.modified_count == 1

    async def touch_idle(self, job_id: str, *, seen_updated: datetime) -> bool:
        """Compare-and-set on ``updated_at``: one watchdog resends an idle job's next event."""
        result = await self.jobs.update_one(
            {"_id": job_id, "status": {"$nin": _TERMINAL}, "updated_at": seen_updated},
            {"$set": {"updated_at": utc_now()}},
        )
        return result.modified_count == 1
