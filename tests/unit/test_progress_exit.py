"""Leaving a stage's progress reporter never hangs, even when a flush swallows the cancellation."""

from __future__ import annotations

import asyncio

from clipforge.shared.models import Stage
from clipforge.shared.progress import ProgressEmitter, StageProgress


class SwallowingFlush(StageProgress):
    """A flush whose awaited I/O catches CancelledError and returns, as a driver may do."""

    def __init__(self) -> None:
        super().__init__(
            ProgressEmitter(None, None, None),  # type: ignore[arg-type]  # flush() below never uses it
            job_id="j",
            stage=Stage.INGEST,
            attempt=1,
            interval_seconds=0.01,
        )
        self.flushing = asyncio.Event()

    async def flush(self) -> None:
        self.flushing.set()
        try:
            await asyncio.sleep(0.2)
        except asyncio.CancelledError:
            pass


async def test_exit_returns_when_the_cancel_lands_in_a_flush_that_swallows_it() -> None:
    progress = SwallowingFlush()

    async def stage() -> None:
        async with progress:
            await progress.flushing.wait()

    await asyncio.wait_for(stage(), timeout=30)  # before the fix: waited forever
    assert progress._task is not None and progress._task.done()
