"""The gateway: REST API under /v1, live progress, health and metrics, and the web app at /.

The FastStream broker is started and stopped in FastAPI's lifespan (the FastStream FastAPI
plugin is deprecated). Each replica consumes live progress through its own exclusive queue.
Routes live in ``clipforge.gateway.routes``, one module per area; a module may also define
``on_startup(state)`` / ``on_shutdown(state)`` for its background work.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import ModuleType

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Gauge

from clipforge.gateway import ratelimit
from clipforge.gateway.bodylimit import BodyLimit
from clipforge.gateway.broker import OutcomeHandler, build_broker
from clipforge.gateway.fanout import ProgressHub
from clipforge.gateway.keys import KeyStore
from clipforge.gateway.openapi import install_openapi, operation_id
from clipforge.gateway.problems import install_problem_handlers
from clipforge.gateway.routes import admin, health, jobs, live, results, uploads
from clipforge.gateway.routes import webhooks as webhook_routes
from clipforge.gateway.settings import GatewaySettings
from clipforge.gateway.state import GatewayState
from clipforge.gateway.webapp import install_webapp
from clipforge.shared.jobs import JobStore, connect
from clipforge.shared.media import MediaStore
from clipforge.shared.progress import ProgressEmitter
from clipforge.shared.topology import Topology

ROUTE_MODULES: tuple[ModuleType, ...] = (health, jobs, uploads, results, live, webhook_routes, ratelimit, admin)

DESCRIPTION = """Turn long videos into short, captioned highlight clips.

Authenticate every call with an API key: `Authorization: Bearer cf_...` (or `X-API-Key`; for
WebSockets and EventSource, `?api_key=`). Errors are RFC 9457 problem details with a stable `code`.
"""


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    topology = Topology(settings.topology_prefix)
    hub = ProgressHub(settings.websocket_buffer_events)
    registry = CollectorRegistry()
    outcome_handlers: list[OutcomeHandler] = []
    broker = build_broker(settings.amqp_url, topology, hub, registry, outcome_handlers)
    state = GatewayState(settings, broker, topology, hub, MediaStore(settings.media_root), registry)
    state.extras["outcome_handlers"] = outcome_handlers
    Gauge("clipforge_gateway_websockets", "Open live progress connections.", registry=registry).set_function(
        lambda: hub.socket_count
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.mongo = connect(settings.mongo_url, settings.database_timeout_ms)
        database = state.mongo[settings.mongo_database]
        state.store = JobStore(database, events_ttl_seconds=settings.job_events_ttl_seconds)
        state.keys = KeyStore(database, cache_seconds=settings.api_key_cache_seconds)
        await state.store.ensure_indexes()
        await state.keys.ensure_indexes()
        state.emitter = ProgressEmitter(broker, state.store, topology)
        await broker.connect()
        await topology.declare(broker)
        for module in ROUTE_MODULES:
            if hasattr(module, "on_startup"):
                await module.on_startup(state)
        await broker.start()
        try:
            yield
        finally:
            for module in reversed(ROUTE_MODULES):
                if hasattr(module, "on_shutdown"):
                    await module.on_shutdown(state)
            await broker.stop()
            await state.mongo.close()

    app = FastAPI(
        title="ClipForge API",
        version="0.2.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    app.state.gateway = state
    install_problem_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, exempt_paths=frozenset({uploads.UPLOAD_PATH}))
    install_openapi(app)
    for module in ROUTE_MODULES:
        for name in ("router", "stats_router"):
            if hasattr(module, name):
                app.include_router(getattr(module, name))
    install_webapp(app)
    return app
