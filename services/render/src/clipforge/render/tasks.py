"""Running a few awaitables side by side, all or nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def all_or_cancel(*awaitables: Awaitable[T]) -> list[T]:
    """Their results in order; on the first failure (or when cancelled) the others are
    cancelled and waited for, so none is left writing files, and that failure is raised."""
    tasks = [asyncio.ensure_future(awaitable) for awaitable in awaitables]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
