"""Per-tenant limit on job creation, shared by every gateway replica through MongoDB.

A fixed window per tenant: one counter document per (tenant, window), incremented atomically,
so replicas agree without talking to each other. A request over the limit gets 429 with
``Retry-After`` set to the seconds left in the window, which is exactly when the count resets.
Fixed windows allow a burst of up to twice the limit across a window boundary; for a limit on
starting expensive jobs that is acceptable, and in exchange the answer is one indexed write.
Window boundaries come from each replica's clock, so replicas need synchronised clocks (NTP).
"""

from __future__ import annotations

import math
import time
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


class RateLimiter:
    def __init__(self, database: AsyncDatabase[dict[str, Any]], window_seconds: int) -> None:
        self.counters = database[COLLECTION]
        self.window_seconds = window_seconds

    async def ensure_indexes(self) -> None:
        await self.counters.create_index("expires_at", expireAfterSeconds=0)

    async def hit(self, key: str, limit: int, *, now: float | None = None) -> Decision:
        """Count one request for ``key`` in the current window and say whether it is allowed."""
        now = time.time() if now is None else now
        window = math.floor(now / self.window_seconds)
        window_end = (window + 1) * self.window_seconds
        counter = await self.counters.find_one_and_update(
            {"_id": f"{key}:{self.window_seconds}:{window}"},
            {
                "$inc": {"count": 1},
                "$setOnInsert": {"expires_at": datetime.fromtimestamp(window_end + EXPIRY_SLACK_SECONDS, UTC)},
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        count = int(counter["count"]) if counter else 1
        return Decision(
            allowed=count <= limit,
            limit=limit,
            remaining=max(0, limit - count),
            reset_after_seconds=max(1, math.ceil(window_end - now)),
        )


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
