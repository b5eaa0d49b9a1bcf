"""The priority gate that lets interactive work go first inside one worker."""

from __future__ import annotations

import asyncio

from clipforge.shared.scheduling import PriorityGate


async def test_freed_slot_goes_to_interactive_before_earlier_batch_waiters() -> None:
    gate = PriorityGate(1)
    order: list[str] = []
    await gate.acquire("interactive")  # the running job

    async def wait(name: str, priority: str) -> None:
        async with gate.slot(priority):  # type: ignore[arg-type]
            order.append(name)
            await asyncio.sleep(0.01)

    waiters = [asyncio.create_task(wait("b1", "batch")), asyncio.create_task(wait("b2", "batch"))]
    await asyncio.sleep(0.01)
    waiters += [asyncio.create_task(wait("i1", "interactive")), asyncio.create_task(wait("i2", "interactive"))]
    await asyncio.sleep(0.01)
    gate.release()
    await asyncio.gather(*waiters)
    assert order == ["i1", "i2", "b1", "b2"]


async def test_slots_bound_concurrency() -> None:
    gate = PriorityGate(2)
    running = 0
    peak = 0

    async def work() -> None:
        nonlocal running, peak
        async with gate.slot("interactive"):
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.01)
            running -= 1

    await asyncio.gather(*(work() for _ in range(6)))
    assert peak == 2


async def test_cancelled_waiter_does_not_leak_a_slot() -> None:
    gate = PriorityGate(1)
    await gate.acquire("interactive")
    waiter = asyncio.create_task(gate.acquire("batch"))
    await asyncio.sleep(0.01)
    waiter.cancel()
    await asyncio.sleep(0.01)
    gate.release()
    await asyncio.wait_for(gate.acquire("batch"), 1.0)  # the slot came back
