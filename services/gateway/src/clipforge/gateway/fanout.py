"""In-memory fan-out of live progress from this replica's broker queue to its sockets.

Each socket owns a bounded queue. Delivering never waits: when a socket's queue is full the
subscription is marked overflowed and its reader disconnects it, so one slow client never
slows anyone else.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field

from clipforge.shared.events import JobProgress


@dataclass(eq=False)
class Subscription:
    job_id: str
    queue: asyncio.Queue[JobProgress]
    overflowed: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, event: JobProgress) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed.set()


class ProgressHub:
    def __init__(self, buffer_size: int) -> None:
        self.buffer_size = buffer_size
        self._by_job: defaultdict[str, set[Subscription]] = defaultdict(set)

    def subscribe(self, job_id: str) -> Subscription:
        subscription = Subscription(job_id, asyncio.Queue(maxsize=self.buffer_size))
        self._by_job[job_id].add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscribers = self._by_job.get(subscription.job_id)
        if subscribers is None:
            return
        subscribers.discard(subscription)
        if not subscribers:
            del self._by_job[subscription.job_id]

    def deliver(self, event: JobProgress) -> None:
        for subscription in tuple(self._by_job.get(event.job_id, ())):
            subscription.offer(event)

    @property
    def socket_count(self) -> int:
        return sum(len(subscribers) for subscribers in self._by_job.values())
