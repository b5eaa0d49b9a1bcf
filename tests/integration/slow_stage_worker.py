"""A worker process around a slow test stage, served the way the real services are (uvicorn, SIGTERM).

Run as ``python slow_stage_worker.py``; settings come from ``CLIPFORGE_*`` like any service.
``SLOW_STAGE_SECONDS`` is how long each job's work takes, ``SLOW_STAGE_MARKERS`` a folder where
``<job>-<attempt>.started`` and ``.finished`` are written, ``SLOW_STAGE_PREFETCH`` the slots.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from stagekit import media_ready  # this script's folder is on sys.path

from clipforge.shared.events import JobRequested
from clipforge.shared.models import Stage
from clipforge.shared.runner import serve
from clipforge.shared.settings import Settings
from clipforge.shared.worker import StageContext, StageDefinition, StageOutcome, StageWorker

SECONDS = float(os.environ.get("SLOW_STAGE_SECONDS", "5"))
MARKERS = Path(os.environ.get("SLOW_STAGE_MARKERS", "."))
STEPS = 20


def mark(ctx: StageContext, what: str) -> None:
    (MARKERS / f"{ctx.job_id}-{ctx.attempt}.{what}").write_text(str(os.getpid()))


async def slow(event: JobRequested, ctx: StageContext) -> StageOutcome:
    await asyncio.to_thread(mark, ctx, "started")
    for step in range(STEPS):
        await asyncio.sleep(SECONDS / STEPS)
        ctx.progress((step + 1) / STEPS, f"working {step + 1}/{STEPS}")
    await asyncio.to_thread(mark, ctx, "finished")
    return media_ready(event, ctx)


def main() -> None:
    settings = Settings()
    prefetch = int(os.environ.get("SLOW_STAGE_PREFETCH", "1"))
    worker: StageWorker[JobRequested] = StageWorker(StageDefinition(Stage.INGEST, slow, prefetch=prefetch), settings)
    serve(worker.build_app(), settings, "slow-stage")


if __name__ == "__main__":
    main()
