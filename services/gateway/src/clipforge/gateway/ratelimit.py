"""Per-tenant limit on job creation, shared by every gateway replica through MongoDB.

A fixed window per tenant: one counter document per (tenant, window), incremented atomically,
so replicas agree without talking to each other. A request over the limit gets 429 with
``Retry-After`` set to the seconds left in the window, which is exactly when the count resets.
Fixed windows allow a burst of up to twice the limit across a window boundary; for a limit on
starting expensive jobs that is acceptable, and in exchange the answer is one indexed write.
Window boundaries come from each replica's clock, so replicas need synchronised clocks (NTP).

Large limits are counted in batches: a replica claims ``limit // 32`` slots (at most 64) with one
write and hands them out locally, so a busy tenant costs one write per batch instead of one per
job. The shared count never lets more than ``limit`` through; slots a replica claimed but did not
use before the window ended are lost, at most ``batch - 1`` per replica. Limits under 64 are
counted one by one, exactly.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import Depends, Response
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from clipforge.gateway.auth import TenantDep
from clipforge.gateway.problem_docs import problem_doc
from clipforge.gateway.problems import Problem
from clipforge.gateway.state import GatewayState, StateDep

COLLECTION = "rate_limits"
# Counter documents outlive their window by this much before the TTL monitor removes them.
EXPIRY_SLACK_SECONDS = 60


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_after_seconds: int

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_after_seconds),
        }


@dataclass
class _Slots:
    """Slots this replica claimed in one window and has not handed out yet."""

    window: int
    left: int
    counted: int  # the shared count right after the claim


class RateLimiter:
    def __init__(self, database: AsyncDatabase[dict[str, Any]], window_seconds: int, *, max_batch: int = 64) -> None:
        self.counters = database[COLLECTION]
        self.window_seconds = window_seconds
        self.max_batch = max_batch
        self._slots: dict[str, _Slots] = {}
        self._exhausted: dict[str, int] = {}  # key -> the window in which its count reached the limit
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def ensure_indexes(self) -> None:
        await self.counters.create_index("expires_at", expireAfterSeconds=0)

    def batch_for(self, limit: int) -> int:
        return max(1, min(self.max_batch, limit // 32))

    async def hit(self, key: str, limit: int, *, now: float | None = None) -> Decision:
        """Count one request for ``key`` in the current window and say whether it is allowed."""
        now = time.time() if now is None else now
        window = math.floor(now / self.window_seconds)
        reset = max(1, math.ceil((window + 1) * self.window_seconds - now))
        batch = self.batch_for(limit)
        if batch == 1:
            if self._exhausted.get(key) == window:  # counts only grow within a window: no need to ask again
                return Decision(allowed=False, limit=limit, remaining=0, reset_after_seconds=reset)
            return self._take(key, await self._claim(key, window, 1, limit), limit, reset)
        # One claim at a time per key, so concurrent requests share a batch instead of each claiming one.
        async with self._locks[key]:
            if self._exhausted.get(key) == window:
                return Decision(allowed=False, limit=limit, remaining=0, reset_after_seconds=reset)
            slots = self._slots.get(key)
            if slots is None or slots.window != window or slots.left == 0:
                slots = self._slots[key] = await self._claim(key, window, batch, limit)
            return self._take(key, slots, limit, reset)

    def _take(self, key: str, slots: _Slots, limit: int, reset: int) -> Decision:
        if slots.left == 0:
            self._exhausted[key] = slots.window
            return Decision(allowed=False, limit=limit, remaining=0, reset_after_seconds=reset)
        slots.left -= 1
        remaining = max(0, limit - slots.counted) + slots.left
        return Decision(allowed=True, limit=limit, remaining=remaining, reset_after_seconds=reset)

    async def _claim(self, key: str, window: int, batch: int, limit: int) -> _Slots:
        window_end = (window + 1) * self.window_seconds
        counter = await self.counters.find_one_and_update(
            {"_id": f"{key}:{self.window_seconds}:{window}"},
            {
                "$inc": {"count": batch},
                "$setOnInsert": {"expires_at": datetime.fromtimestamp(window_end + EXPIRY_SLACK_SECONDS, UTC)},
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        counted = int(counter["count"]) if counter else batch
        granted = max(0, min(batch, limit - (counted - batch)))  # the claimed slots still under the limit
        return _Slots(window=window, left=granted, counted=counted)


def limit_for(state: GatewayState, tenant: str) -> int:
    settings = state.settings
    return settings.job_rate_limit_overrides.get(tenant, settings.job_rate_limit)


async def limit_job_creation(state: StateDep, tenant: TenantDep, response: Response) -> None:
    """Dependency of the routes that create jobs: 429 once the tenant's window is used up."""
    limit = limit_for(state, tenant)
    limiter: RateLimiter | None = state.extras.get("rate_limiter")
    if limit == 0 or limiter is None:
        return
    decision = await limiter.hit(f"jobs:{tenant}", limit)
    if not decision.allowed:
        raise Problem(
            429,
            "rate_limited",
            "Too many jobs",
            f"This account may create {limit} jobs every {limiter.window_seconds} s; "
            f"retry in {decision.reset_after_seconds} s.",
            headers={"Retry-After": str(decision.reset_after_seconds), **decision.headers()},
        )
    response.headers.update(decision.headers())


JobCreationLimit = Depends(limit_job_creation)

RATE_LIMITED = problem_doc(
    429,
    "rate_limited",
    "Too many jobs",
    "This account may create 120 jobs every 60 s; retry in 17 s.",
    description="The tenant created too many jobs in the current window; retry after `Retry-After` seconds.",
    headers={
        "Retry-After": {"description": "Seconds until the window resets.", "schema": {"type": "integer"}},
        "RateLimit-Limit": {"description": "Jobs allowed per window.", "schema": {"type": "integer"}},
        "RateLimit-Remaining": {"description": "Jobs left in this window.", "schema": {"type": "integer"}},
        "RateLimit-Reset": {"description": "Seconds until the window resets.", "schema": {"type": "integer"}},
    },
)


async def on_startup(state: GatewayState) -> None:
    assert state.mongo is not None
    limiter = RateLimiter(state.mongo[state.settings.mongo_database], state.settings.job_rate_window_seconds)
    await limiter.ensure_indexes()
    state.extras["rate_limiter"] = limiter
