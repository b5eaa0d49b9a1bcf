"""Operators' endpoints: the dead-letter queue. Every call needs a key created with ``keys_cli create --admin``."""

from __future__ import annotations

from typing import Annotated

from aio_pika.exceptions import AMQPError
from fastapi import APIRouter, Query

from clipforge.gateway.auth import AdminDep
from clipforge.gateway.dead_letters import DeadLetterList, DeadLetterQueue, RequeueReport, RequeueRequest
from clipforge.gateway.problem_docs import problem_doc
from clipforge.gateway.problems import Problem
from clipforge.gateway.state import GatewayState, StateDep

router = APIRouter(prefix="/v1/admin", tags=["admin"])

FORBIDDEN = problem_doc(
    403, "admin_required", "Admin key required", "This operation needs an API key created with --admin."
)


def _queue(state: GatewayState) -> DeadLetterQueue:
    if state.store is None or state.emitter is None:
        raise Problem(503, "starting", "Service starting", "The gateway is still starting; retry shortly.")
    return DeadLetterQueue(state.settings.amqp_url, state.topology, state.store, emit=state.emitter.emit)


def _broker_down(exc: Exception) -> Problem:
    return Problem(
        503, "queue_unavailable", "Service temporarily unavailable", f"The message broker is not reachable ({exc})."
    )


@router.get(
    "/dead-letters",
    response_model=DeadLetterList,
    responses=FORBIDDEN,
    summary="List the messages parked in the dead-letter queue",
    description="Each with the stage, code and reason it was parked for, its job and when. Reading loses nothing.",
)
async def list_dead_letters(
    state: StateDep,
    _admin: AdminDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most messages listed.")] = 100,
) -> DeadLetterList:
    try:
        return await _queue(state).list(limit)
    except (AMQPError, OSError) as exc:
        raise _broker_down(exc) from exc


@router.post(
    "/dead-letters/requeue",
    response_model=RequeueReport,
    responses={
        **FORBIDDEN,
        **problem_doc(422, "nothing_selected", "Nothing selected", "Give the ids to send back, or all: true."),
    },
    summary="Send parked messages back to their stage queue",
    description=(
        "A failed job is reset from the message's stage first (like a retry), so the stage runs it again. "
        "Messages of completed or cancelled jobs stay parked."
    ),
)
async def requeue_dead_letters(body: RequeueRequest, state: StateDep, _admin: AdminDep) -> RequeueReport:
    if body.all == bool(body.ids):
        raise Problem(
            422, "nothing_selected", "Nothing selected", "Give the ids to send back, or all: true (not both)."
        )
    try:
        return await _queue(state).requeue(None if body.all else set(body.ids))
    except (AMQPError, OSError) as exc:
        raise _broker_down(exc) from exc
