"""The gateway: REST API under /v1, live progress over WebSocket, health and metrics.

The FastStream broker is started and stopped in FastAPI's lifespan (the FastStream FastAPI
plugin is deprecated). Each replica consumes live progress through its own exclusive queue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, WebSocket
from fastapi.responses import FileResponse, JSONResponse, Response
from faststream.rabbit import Channel, RabbitBroker
from faststream.rabbit.prometheus import RabbitPrometheusMiddleware
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest
from pymongo import AsyncMongoClient

from clipforge.gateway.fanout import ProgressHub
from clipforge.gateway.live import stream_job
from clipforge.gateway.problems import Problem, install_problem_handlers
from clipforge.gateway.schemas import CreateJobRequest, JobCreated, JobLinks, JobView
from clipforge.gateway.settings import GatewaySettings
from clipforge.shared.events import ClipsReady, JobFailed, JobProgress, JobRequested, new_event_id
from clipforge.shared.jobs import JobStore, connect
from clipforge.shared.media import MediaStore, MediaStoreError
from clipforge.shared.models import JobError, SourceRef, Transcript
from clipforge.shared.topology import Topology

log = logging.getLogger(__name__)


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


def _state(request: Request) -> GatewayState:
    return request.app.state.gateway  # type: ignore[no-any-return]


def _store(state: Annotated[GatewayState, Depends(_state)]) -> JobStore:
    if state.store is None:
        raise Problem(503, "starting", "Service starting", "The gateway is still starting; retry shortly.")
    return state.store


def current_tenant(state: Annotated[GatewayState, Depends(_state)]) -> str:
    """The caller's tenant. One default tenant until API keys arrive."""
    return state.settings.default_tenant_id


StateDep = Annotated[GatewayState, Depends(_state)]
StoreDep = Annotated[JobStore, Depends(_store)]
TenantDep = Annotated[str, Depends(current_tenant)]


def _job_not_found(job_id: str) -> Problem:
    return Problem(404, "job_not_found", "Job not found", f"There is no job {job_id!r}.")


async def _load_job(store: JobStore, job_id: str, tenant_id: str) -> dict[str, Any]:
    job = await store.get(job_id, tenant_id=tenant_id)
    if job is None:
        raise _job_not_found(job_id)
    return job


def _build_broker(
    settings: GatewaySettings, topology: Topology, hub: ProgressHub, registry: CollectorRegistry
) -> RabbitBroker:
    broker = RabbitBroker(
        settings.amqp_url,
        default_channel=Channel(publisher_confirms=True, on_return_raises=True),
        middlewares=[RabbitPrometheusMiddleware(registry=registry, app_name="clipforge-gateway")],
    )
    finished = Counter(
        "clipforge_jobs_finished_total", "Jobs that reached the end of the pipeline.", ["status"], registry=registry
    )
    Gauge("clipforge_gateway_websockets", "Open progress sockets.", registry=registry).set_function(
        lambda: hub.socket_count
    )

    @broker.subscriber(topology.progress_queue(), topology.progress, title="gateway-progress")
    async def on_progress(event: JobProgress) -> None:
        hub.deliver(event)

    @broker.subscriber(
        topology.gateway_queue, topology.pipeline, channel=Channel(prefetch_count=16), title="gateway-outcomes"
    )
    async def on_outcome(body: dict[str, Any]) -> None:
        # The seam for completion webhooks; today it counts outcomes.
        if "clips" in body:
            ClipsReady.model_validate(body)
            finished.labels("completed").inc()
        else:
            JobFailed.model_validate(body)
            finished.labels("failed").inc()

    return broker


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    topology = Topology(settings.topology_prefix)
    hub = ProgressHub(settings.websocket_buffer_events)
    registry = CollectorRegistry()
    broker = _build_broker(settings, topology, hub, registry)
    state = GatewayState(settings, broker, topology, hub, MediaStore(settings.media_root), registry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.mongo = connect(settings.mongo_url, settings.database_timeout_ms)
        state.store = JobStore(state.mongo[settings.mongo_database], events_ttl_seconds=settings.job_events_ttl_seconds)
        await state.store.ensure_indexes()
        await broker.connect()
        await topology.declare(broker)
        await broker.start()
        try:
            yield
        finally:
            await broker.stop()
            await state.mongo.close()

    app = FastAPI(
        title="ClipForge API",
        version="0.1.0",
        description="Turn long videos into short, captioned highlight clips.",
        lifespan=lifespan,
    )
    app.state.gateway = state
    install_problem_handlers(app)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz(state: StateDep) -> JSONResponse:
        checks = {"broker": await state.broker.ping(timeout=2.0), "database": False}
        if state.store is not None:
            try:
                await asyncio.wait_for(state.store.ping(), 2.0)
                checks["database"] = True
            except Exception:
                checks["database"] = False
        ready = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503
        )

    @app.post("/v1/jobs", status_code=202, response_model=JobCreated, tags=["jobs"])
    async def create_job(body: CreateJobRequest, state: StateDep, store: StoreDep, tenant: TenantDep) -> JobCreated:
        source = SourceRef(url=body.url)
        job = await store.create(tenant_id=tenant, source=source, options=body.options)
        event = JobRequested(
            job_id=job["_id"], tenant_id=tenant, correlation_id=new_event_id(), source=source, options=body.options
        )
        try:
            await asyncio.wait_for(
                state.broker.publish(
                    event.model_dump(mode="json"),
                    exchange=state.topology.pipeline,
                    routing_key=event.routing_key,
                    persist=True,
                    mandatory=True,
                    message_id=event.event_id,
                    correlation_id=event.correlation_id,
                    content_type="application/json",
                ),
                settings.publish_timeout_seconds,
            )
        except Exception as exc:
            log.exception("could not queue job %s", job["_id"])
            await store.fail_job(
                job["_id"],
                JobError(
                    stage="queued",
                    code="queue_unavailable",
                    message="The job could not be queued because the message broker is unavailable. Please retry.",
                ),
            )
            raise Problem(
                503,
                "queue_unavailable",
                "Service temporarily unavailable",
                "The job queue is not reachable right now. Please retry in a few seconds.",
            ) from exc
        path = f"/v1/jobs/{job['_id']}"
        return JobCreated(id=job["_id"], status=job["status"], links=JobLinks(self=path, events=f"{path}/events"))

    @app.get("/v1/jobs/{job_id}", response_model=JobView, tags=["jobs"])
    async def get_job(job_id: str, store: StoreDep, tenant: TenantDep) -> JobView:
        return JobView.from_document(await _load_job(store, job_id, tenant))

    @app.get("/v1/jobs/{job_id}/transcript", response_model=Transcript, tags=["jobs"])
    async def get_transcript(job_id: str, state: StateDep, store: StoreDep, tenant: TenantDep) -> Transcript:
        job = await _load_job(store, job_id, tenant)
        if not job.get("transcript"):
            raise Problem(
                409,
                "transcript_not_ready",
                "Transcript not ready",
                f"Job {job_id} has no transcript yet (status: {job['status']}).",
            )
        path = state.media.path(job["transcript"]["key"])
        return Transcript.model_validate_json(await asyncio.to_thread(path.read_bytes))

    @app.get(
        "/v1/jobs/{job_id}/clips/{index}",
        response_class=FileResponse,
        responses={200: {"content": {"video/mp4": {}}, "description": "The clip as an mp4 file."}},
        tags=["jobs"],
    )
    async def get_clip(job_id: str, index: int, state: StateDep, store: StoreDep, tenant: TenantDep) -> FileResponse:
        job = await _load_job(store, job_id, tenant)
        clip = next((clip for clip in job.get("clips") or [] if clip["index"] == index), None)
        if clip is None:
            raise Problem(404, "clip_not_found", "Clip not found", f"Job {job_id} has no clip {index}.")
        try:
            path = state.media.path(clip["media_key"])
        except MediaStoreError as exc:
            raise Problem(404, "clip_not_found", "Clip not found", f"Job {job_id} has no clip {index}.") from exc
        if not path.is_file():
            raise Problem(410, "clip_gone", "Clip file gone", f"The file of clip {index} is no longer stored.")
        return FileResponse(path, media_type="video/mp4", filename=f"{job_id}-clip-{index:02d}.mp4")

    @app.websocket("/v1/jobs/{job_id}/events")
    async def job_events(websocket: WebSocket, job_id: str) -> None:
        if state.store is None:
            await websocket.close(code=1013)
            return
        await stream_job(websocket, job_id, settings.default_tenant_id, state.hub, state.store)

    return app
