"""Live progress streams, independent of the transport (WebSocket or SSE).

A stream subscribes to this replica's fan-out *before* it reads anything from the database,
so no event can fall between what it reads and what it receives live. It then sends either a
snapshot or, on resume, what the client missed from ``job_events``, followed by live events.
Events at or below what was already sent are dropped and a gap in a job's sequence numbers is
filled from ``job_events``; events lost in transit altogether are found by the resync
(``clipforge.gateway.resync``), which puts them back into the fan-out.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from clipforge.gateway.fanout import Delivery, ProgressHub, Subscription
from clipforge.gateway.live_messages import (
    ActiveJob,
    JobSnapshotMessage,
    TenantCursor,
    TenantSnapshotMessage,
)
from clipforge.gateway.schemas import JobView
from clipforge.shared.events import JobProgress
from clipforge.shared.jobs import JobStore
from clipforge.shared.models import JobStatus

ACTIVE_STATUSES = [status.value for status in JobStatus if not status.is_terminal]
SNAPSHOT_JOBS_LIMIT = 200


@dataclass(frozen=True)
class Outgoing:
    kind: Literal["snapshot", "progress"]
    event_id: str  # what a client passes back to resume after this message (SSE ``id:``)
    data: str  # the message as JSON
    final: bool = False  # the stream ends after it


def _stored(doc: dict[str, Any]) -> Delivery:
    return Delivery(JobProgress.model_validate(doc["event"]))


class LiveStream(ABC):
    def __init__(self, hub: ProgressHub, store: JobStore, *, tenant_id: str, replay_limit: int) -> None:
        self.hub = hub
        self.store = store
        self.tenant_id = tenant_id
        self.replay_limit = replay_limit
        self._subscription: Subscription | None = None

    @property
    def subscription(self) -> Subscription:
        assert self._subscription is not None, "open the stream first"
        return self._subscription

    def close(self) -> None:
        if self._subscription is not None:
            self.hub.unsubscribe(self._subscription)

    async def _next(self, idle_seconds: float | None) -> Delivery | None:
        queue = self.subscription.queue
        if idle_seconds is None:
            return await queue.get()
        try:
            return await asyncio.wait_for(queue.get(), idle_seconds)
        except TimeoutError:
            return None

    @abstractmethod
    async def open(self) -> bool:
        """Subscribe (before anything is read); False when there is nothing to stream."""

    @abstractmethod
    def messages(self, idle_seconds: float | None = None) -> AsyncIterator[Outgoing | None]:
        """Messages in order; ``None`` after ``idle_seconds`` without one (for heartbeats)."""


class JobStream(LiveStream):
    """One job: a snapshot (or the events after ``after_seq``), then every event until it ends."""

    def __init__(
        self,
        hub: ProgressHub,
        store: JobStore,
        *,
        tenant_id: str,
        job_id: str,
        after_seq: int | None,
        replay_limit: int,
    ) -> None:
        super().__init__(hub, store, tenant_id=tenant_id, replay_limit=replay_limit)
        self.job_id = job_id
        self.after_seq = after_seq
        self._job: dict[str, Any] | None = None
        self._last = 0

    async def open(self) -> bool:
        """Subscribe and read the job; False (and closed) when the tenant has no such job."""
        self._subscription = self.hub.subscribe_job(self.tenant_id, self.job_id)
        self._job = await self.store.get(self.job_id, tenant_id=self.tenant_id)
        if self._job is None:
            self.close()
            return False
        return True

    @property
    def finished_for_client(self) -> bool:
        """The job has ended and the client already has everything (SSE answers 204: stop reconnecting)."""
        assert self._job is not None
        return (
            JobStatus(self._job["status"]).is_terminal
            and self.after_seq is not None
            and self.after_seq >= self._job["seq"]
        )

    def _advance(self, seq: int) -> None:
        self._last = seq
        self.subscription.positions[self.job_id] = seq

    def _snapshot(self, job: dict[str, Any]) -> Outgoing:
        self._advance(job.get("seq", 0))
        view = JobView.from_document(job)
        return Outgoing(
            "snapshot", str(view.seq), JobSnapshotMessage(job=view).model_dump_json(), view.status.is_terminal
        )

    def _progress(self, delivery: Delivery) -> Outgoing:
        self._advance(delivery.event.seq)
        return Outgoing("progress", str(delivery.event.seq), delivery.text, delivery.event.status.is_terminal)

    async def _replay(self, job: dict[str, Any], after_seq: int) -> list[Delivery] | None:
        """The events after ``after_seq``, or None when the log cannot give all of them."""
        if after_seq > job["seq"]:
            return None
        docs = await self.store.events_after_seq(self.job_id, after_seq, limit=self.replay_limit + 1)
        if len(docs) > self.replay_limit:
            return None
        if (docs and docs[0]["seq"] != after_seq + 1) or (not docs and job["seq"] > after_seq):
            return None  # expired from the log, or not logged (yet)
        return [_stored(doc) for doc in docs]

    async def messages(self, idle_seconds: float | None = None) -> AsyncIterator[Outgoing | None]:
        job = self._job
        assert job is not None, "open the stream first"
        replay = None if self.after_seq is None else await self._replay(job, self.after_seq)
        if replay is None:
            snapshot = self._snapshot(job)
            yield snapshot
            if snapshot.final:
                return
        else:
            self._advance(self.after_seq or 0)
            for delivery in replay:
                out = self._progress(delivery)
                yield out
                if out.final:
                    return
            if JobStatus(job["status"]).is_terminal and self._last >= job["seq"]:
                return
        while True:
            live = await self._next(idle_seconds)
            if live is None:
                yield None
                continue
            if live.event.seq <= self._last:
                continue
            if live.event.seq > self._last + 1:
                docs = await self.store.events_after_seq(self.job_id, self._last, limit=live.event.seq - self._last - 1)
                for delivery in map(_stored, docs):
                    if delivery.event.seq >= live.event.seq:
                        break
                    out = self._progress(delivery)
                    yield out
                    if out.final:
                        return
            out = self._progress(live)
            yield out
            if out.final:
                return


def _in_log_order(docs: list[dict[str, Any]]) -> list[Delivery]:
    """Log order across jobs, but each job's events by seq (two writers may log out of order)."""
    by_job: defaultdict[str, list[Delivery]] = defaultdict(list)
    for doc in docs:
        by_job[doc["job_id"]].append(_stored(doc))
    for events in by_job.values():
        events.sort(key=lambda delivery: delivery.event.seq)
        events.reverse()
    return [by_job[doc["job_id"]].pop() for doc in docs]


class TenantStream(LiveStream):
    """Every job of a tenant: a snapshot of its unfinished jobs (or a resume), then live events.

    Each message carries a cursor (``TenantCursor``): every event logged before ``since`` has
    been sent, and for jobs with events after it, the last ``seq`` sent. ``margin_seconds`` is
    the lag tolerated between an event being logged and it reaching this replica.
    """

    def __init__(
        self,
        hub: ProgressHub,
        store: JobStore,
        *,
        tenant_id: str,
        cursor: TenantCursor | None,
        replay_limit: int,
        margin_seconds: float,
    ) -> None:
        super().__init__(hub, store, tenant_id=tenant_id, replay_limit=replay_limit)
        self.cursor = cursor
        self.margin = margin_seconds
        self._high = 0.0  # newest emission time seen (epoch seconds)
        self._recent: dict[str, tuple[int, float]] = {}  # job -> (last seq sent, newest emission time)
        self._since = 0.0  # events of jobs this stream has not seen are wanted from this time on

    async def open(self) -> bool:
        self._subscription = self.hub.subscribe_tenant(self.tenant_id)
        return True

    @property
    def _positions(self) -> dict[str, int]:
        return self.subscription.positions

    def _cursor(self) -> str:
        keep_after = self._high - 2 * self.margin
        for job_id in [job for job, (_, seen) in self._recent.items() if seen < keep_after]:
            del self._recent[job_id]
        since_ms = max(0, int((self._high - self.margin) * 1000))
        return TenantCursor(since_ms=since_ms, jobs={job: seq for job, (seq, _) in self._recent.items()}).encode()

    def _progress(self, delivery: Delivery) -> Outgoing:
        event = delivery.event
        emitted = event.emitted_at.timestamp()
        self._high = max(self._high, emitted)
        previous = self._recent.get(event.job_id, (0, 0.0))[1]
        self._recent[event.job_id] = (event.seq, max(previous, emitted))
        self._positions[event.job_id] = event.seq
        cursor = self._cursor()
        return Outgoing("progress", cursor, f'{delivery.text[:-1]},"cursor":"{cursor}"}}')

    async def _snapshot(self) -> Outgoing:
        jobs = await self.store.list_jobs(self.tenant_id, statuses=ACTIVE_STATUSES, limit=SNAPSHOT_JOBS_LIMIT)
        now = time.time()
        self._high = now
        self._since = now - self.margin
        self._positions.clear()
        self._positions.update({job["_id"]: job.get("seq", 0) for job in jobs})
        # Only jobs that changed lately can have logged events a resume would replay.
        self._recent = {
            job["_id"]: (job.get("seq", 0), job["updated_at"].timestamp())
            for job in jobs
            if job["updated_at"].timestamp() >= now - 2 * self.margin
        }
        cursor = self._cursor()
        message = TenantSnapshotMessage(jobs=[ActiveJob.from_document(job) for job in jobs], cursor=cursor)
        return Outgoing("snapshot", cursor, message.model_dump_json())

    async def _replay(self, cursor: TenantCursor) -> list[Delivery] | None:
        docs = await self.store.tenant_events_since([self.tenant_id], cursor.since, limit=self.replay_limit + 1)
        if len(docs) > self.replay_limit:
            return None
        self._since = cursor.since_ms / 1000
        self._high = self._since + self.margin
        self._recent = {job_id: (seq, self._high) for job_id, seq in cursor.jobs.items()}
        self._positions.update(cursor.jobs)
        return _in_log_order(docs)

    async def _fill(self, live: Delivery) -> list[Delivery]:
        """What this stream lacks of ``live``'s job before it, from the log."""
        event = live.event
        position = self._positions.get(event.job_id)
        if position is not None:
            docs = await self.store.events_after_seq(event.job_id, position, limit=event.seq - position - 1)
        elif event.seq > 1:
            since = datetime.fromtimestamp(self._since, UTC)
            docs = await self.store.tenant_events_since([self.tenant_id], since, job_id=event.job_id)
        else:
            docs = []
        return [delivery for delivery in map(_stored, docs) if delivery.event.seq < event.seq]

    def _wanted(self, delivery: Delivery) -> bool:
        event = delivery.event
        position = self._positions.get(event.job_id)
        if position is None:
            # A job this stream has not seen: only what happened since the stream's starting point.
            return event.emitted_at.timestamp() >= self._since
        return event.seq > position

    async def messages(self, idle_seconds: float | None = None) -> AsyncIterator[Outgoing | None]:
        replay = None if self.cursor is None else await self._replay(self.cursor)
        if replay is None:
            yield await self._snapshot()
        else:
            for delivery in replay:
                if delivery.event.seq > self._positions.get(delivery.event.job_id, 0):
                    yield self._progress(delivery)
        while True:
            live = await self._next(idle_seconds)
            if live is None:
                yield None
                continue
            if not self._wanted(live):
                continue
            position = self._positions.get(live.event.job_id)
            if position is None or live.event.seq > position + 1:
                for delivery in await self._fill(live):
                    if delivery.event.seq > self._positions.get(delivery.event.job_id, 0):
                        yield self._progress(delivery)
            yield self._progress(live)
