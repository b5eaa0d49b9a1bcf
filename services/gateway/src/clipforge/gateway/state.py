"""The gateway's per-process state and the FastAPI dependencies that hand it to routes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends
from faststream.rabbit import RabbitBroker
from prometheus_client import CollectorRegistry
from pymongo import AsyncMongoClient
from starlette.requests import HTTPConnection

from clipforge.gateway.fanout import ProgressHub
from clipforge.gateway.keys import KeyStore
from clipforge.gateway.problems import Problem
from clipforge.gateway.settings import GatewaySettings
from clipforge.shared.jobs import JobStore
from clipforge.shared.media import MediaStore
from clipforge.shared.progress import ProgressEmitter
from clipforge.shared.topology import Topology


@dataclass
class GatewayState:
    settings: GatewaySettings
    broker: RabbitBroker
    topology: Topology
    hub: ProgressHub
    media: MediaStore
    registry: CollectorRegistry
    mongo: AsyncMongoClient[dict[str, Any]] | None = None
    store: JobStore | None = None
    keys: KeyStore | None = None
    emitter: ProgressEmitter | None = None
    extras: dict[str, Any] = field(default_factory=dict)


# The dependencies are ``async def`` although they never await: FastAPI runs a plain ``def``
# dependency in its thread pool, a thread hop per request for a dictionary lookup.
async def get_state(connection: HTTPConnection) -> GatewayState:
    return connection.app.state.gateway  # type: ignore[no-any-return]


async def get_store(state: Annotated[GatewayState, Depends(get_state)]) -> JobStore:
    if state.store is None:
        raise Problem(503, "starting", "Service starting", "The gateway is still starting; retry shortly.")
    return state.store


StateDep = Annotated[GatewayState, Depends(get_state)]
StoreDep = Annotated[JobStore, Depends(get_store)]
