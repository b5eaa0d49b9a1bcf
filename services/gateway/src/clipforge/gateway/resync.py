"""Finds progress events that never reached this replica and puts them into its fan-out.

Progress travels as transient messages, so one can be lost (a broker restart, a replica that
reconnected). Streams fill a gap in a job's sequence numbers as soon as a later event arrives;
this task covers the event after which nothing else comes, typically a job's last. Every
``interval`` it asks, in one query per 500 watched jobs, how far each job has got; a job that
stays ahead of what this replica delivered for two rounds in a row (one round is normal: the
event may be on its way) gets its missing events from ``job_events``. A job that ended without
a logged event gets one made from its document, so no stream waits forever. For tenant streams
it re-reads the tenant's events logged since the previous round and delivers those the replica
has not delivered yet. Streams drop what they already have, so delivering twice is harmless.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from clipforge.gateway.fanout import ProgressHub
from clipforge.shared.events import JobProgress
from clipforge.shared.jobs import JobStore, utc_now
from clipforge.shared.models import JobStatus
from clipforge.shared.progress import progress_event_from_job

log = logging.getLogger(__name__)

BATCH = 500


class LiveResync:
    def __init__(
        self, hub: ProgressHub, store: JobStore, *, interval_seconds: float, margin_seconds: float, limit: int
    ) -> None:
        self.hub = hub
        self.store = store
        self.interval = interval_seconds
        self.margin = margin_seconds
        self.limit = limit
        self._suspects: dict[str, int] = {}  # job -> the seq it was seen ahead at, last round
        self._tenant_since: datetime | None = None

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.once()
            except Exception:
                log.warning("live progress resync failed", exc_info=True)

    async def once(self) -> None:
        started = utc_now()
        await self._resync_jobs()
        await self._resync_tenants(started)
        self.hub.forget_idle(older_than_seconds=2 * self.interval + 2 * self.margin)

    async def _resync_jobs(self) -> None:
        job_ids = self.hub.watched_job_ids()
        suspects: dict[str, int] = {}
        # In batches, so the event loop never stalls on many watched jobs at once.
        for start in range(0, len(job_ids), BATCH):
            known = {job_id: self.hub.known_seq(job_id) for job_id in job_ids[start : start + BATCH]}
            batch = {job_id: seq for job_id, seq in known.items() if seq is not None}
            if not batch:
                continue
            for job_id, seq in (await self.store.job_seqs(list(batch))).items():
                ahead_of = max(batch[job_id], self.hub.highest_delivered(job_id))
                if seq <= ahead_of:
                    continue
                if job_id in self._suspects:
                    await self._recover(job_id, ahead_of, seq)
                else:
                    suspects[job_id] = seq
        self._suspects = suspects

    async def _recover(self, job_id: str, known: int, seq: int) -> None:
        docs = await self.store.events_after_seq(job_id, known, limit=self.limit)
        events = [JobProgress.model_validate(doc["event"]) for doc in docs]
        if not events or events[-1].seq < seq:
            job = await self.store.get(job_id)
            if job is not None and JobStatus(job["status"]).is_terminal and job["seq"] > known:
                events.append(progress_event_from_job(job))
        for event in events:
            self.hub.deliver(event)

    async def _resync_tenants(self, started: datetime) -> None:
        tenants = self.hub.watched_tenants()
        since = self._tenant_since or started - timedelta(seconds=self.interval)
        self._tenant_since = started
        if not tenants:
            return
        since -= timedelta(seconds=self.margin)
        for doc in await self.store.tenant_events_since(tenants, since, limit=self.limit):
            event = JobProgress.model_validate(doc["event"])
            if event.seq > self.hub.highest_delivered(event.job_id):
                self.hub.deliver(event)
