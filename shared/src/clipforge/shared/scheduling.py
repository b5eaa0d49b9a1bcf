"""Letting interactive work go first inside one worker process.

Each priority class has its own queue, and a worker consumes both. Messages from either queue
then wait here for one of the worker's slots; a freed slot goes to a waiting interactive
message before any batch one. A batch message that waits too long is handed back to its queue
(RabbitMQ closes channels whose deliveries stay unacked past the consumer timeout).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from clipforge.shared.events import PRIORITIES, Priority


class PriorityGate:
    def __init__(self, slots: int) -> None:
        self._free = slots
        self._waiters: dict[Priority, deque[asyncio.Future[None]]] = {p: deque() for p in PRIORITIES}

    def _has_waiters(self) -> bool:
        return any(self._waiters.values())

    async def acquire(self, priority: Priority) -> None:
        if self._free > 0 and not self._has_waiters():
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[priority].append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # we were handed a slot just as we gave up: pass it on
            else:
                self._waiters[priority].remove(waiter)
            raise

    def release(self) -> None:
        for priority in PRIORITIES:
            queue = self._waiters[priority]
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self._free += 1

    @asynccontextmanager
    async def slot(self, priority: Priority) -> AsyncIterator[None]:
        await self.acquire(priority)
        try:
            yield
        finally:
            self.release()
