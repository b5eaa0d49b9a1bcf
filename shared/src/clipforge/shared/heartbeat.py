"""A running stage's sign of life on the job document (``stages.<stage>.heartbeat_at``).

The watchdog (``watchdog.py``) takes over a stage whose heartbeat is older than
``CLIPFORGE_HEARTBEAT_TIMEOUT_SECONDS``. The write is conditional on the attempt, so a worker
that was taken over (it froze and woke up) learns it at its next beat and stops its work, which
would otherwise write the same media files as the newer attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from clipforge.shared.jobs import JobStore
from clipforge.shared.models import Stage

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(self, store: JobStore, *, job_id: str, stage: Stage, attempt: int, interval_seconds: float) -> None:
        self.store = store
        self.job_id = job_id
        self.stage = stage
        self.attempt = attempt
        self.interval_seconds = interval_seconds
        self.superseded = False
        self.on_superseded: Callable[[], None] | None = None
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_seconds)
            try:
                current = await self.store.heartbeat(self.job_id, self.stage, self.attempt)
            except Exception:
                log.warning("heartbeat of job %s failed", self.job_id, exc_info=True)
                continue
            if not current and not self.superseded:
                self.superseded = True
                log.warning(
                    "job %s: %s attempt %d is no longer the current one (taken over, cancelled or failed)",
                    self.job_id,
                    self.stage.value,
                    self.attempt,
                    extra={"job_id": self.job_id, "stage": self.stage.value},
                )
                if self.on_superseded is not None:
                    self.on_superseded()
                return

    async def __aenter__(self) -> Heartbeat:
        self._task = asyncio.create_task(self._run(), name=f"heartbeat-{self.job_id}")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
