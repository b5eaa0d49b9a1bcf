"""In-memory fan-out of live progress from this replica's broker queue to its streams.

A stream subscribes to one job or to a whole tenant, and owns a bounded queue. Delivering
never waits: when a stream's queue is full the subscription is marked overflowed and its
transport disconnects it, so one slow client never slows anyone else. An event is serialised
once per replica, however many streams receive it.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from clipforge.gateway.live_messages import progress_message
from clipforge.shared.events import JobProgress


@dataclass(eq=False)
class Delivery:
    event: JobProgress

    @cached_property
    def text(self) -> str:
        """The progress message as JSON, without a tenant cursor."""
        return progress_message(self.event).model_dump_json(exclude={"cursor"})


@dataclass(eq=False)
class Subscription:
    tenant_id: str
    job_id: str | None  # None: every job of the tenant
    queue: asyncio.Queue[Delivery]
    positions: dict[str, int] = field(default_factory=dict)  # last seq handed to the client, per job
    overflowed: bool = False
    # Called once when the buffer overflows; a callback rather than a waiting task per socket.
    on_overflow: Callable[[], object] | None = None

    def offer(self, delivery: Delivery) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(delivery)
        except asyncio.QueueFull:
            self.overflowed = True
            if self.on_overflow is not None:
                self.on_overflow()


class ProgressHub:
    def __init__(self, buffer_size: int) -> None:
        self.buffer_size = buffer_size
        self._by_job: defaultdict[str, set[Subscription]] = defaultdict(set)
        self._by_tenant: defaultdict[str, set[Subscription]] = defaultdict(set)
        # Highest seq put in front of subscribers per job, and when (monotonic): the resync's baseline.
        self._highest: dict[str, tuple[int, float]] = {}

    def subscribe_job(self, tenant_id: str, job_id: str) -> Subscription:
        subscription = Subscription(tenant_id, job_id, asyncio.Queue(maxsize=self.buffer_size))
        self._by_job[job_id].add(subscription)
        return subscription

    def subscribe_tenant(self, tenant_id: str) -> Subscription:
        subscription = Subscription(tenant_id, None, asyncio.Queue(maxsize=self.buffer_size))
        self._by_tenant[tenant_id].add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        index, key = (
            (self._by_job, subscription.job_id)
            if subscription.job_id is not None
            else (self._by_tenant, subscription.tenant_id)
        )
        subscribers = index.get(key)
        if subscribers is None:
            return
        subscribers.discard(subscription)
        if not subscribers:
            del index[key]

    def deliver(self, event: JobProgress) -> None:
        job_subscribers = self._by_job.get(event.job_id, ())
        tenant_subscribers = self._by_tenant.get(event.tenant_id, ())
        if not job_subscribers and not tenant_subscribers:
            return
        previous = self._highest.get(event.job_id)
        if previous is None or event.seq >= previous[0]:
            self._highest[event.job_id] = (event.seq, time.monotonic())
        delivery = Delivery(event)
        for subscription in tuple(job_subscribers):
            subscription.offer(delivery)
        for subscription in tuple(tenant_subscribers):
            subscription.offer(delivery)

    # --- for the resync ------------------------------------------------------------------

    def highest_delivered(self, job_id: str) -> int:
        entry = self._highest.get(job_id)
        return -1 if entry is None else entry[0]

    def watched_job_ids(self) -> list[str]:
        return list(self._by_job)

    def known_seq(self, job_id: str) -> int | None:
        """The highest seq the job's streams are known to have or to get; None if none has started."""
        positions = [sub.positions[job_id] for sub in self._by_job.get(job_id, ()) if job_id in sub.positions]
        if not positions:
            return None
        return max(max(positions), self.highest_delivered(job_id))

    def watched_tenants(self) -> list[str]:
        return list(self._by_tenant)

    def forget_idle(self, older_than_seconds: float) -> None:
        """Drop the baseline of jobs nobody watches that have been quiet this long."""
        cutoff = time.monotonic() - older_than_seconds
        for job_id, (_, touched) in list(self._highest.items()):
            if touched < cutoff and job_id not in self._by_job:
                del self._highest[job_id]

    @property
    def socket_count(self) -> int:
        return sum(len(s) for s in self._by_job.values()) + sum(len(s) for s in self._by_tenant.values())
