from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict

from clipforge.gateway.state import StateDep

router = APIRouter(tags=["health"])


class Health(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "ready", "checks": {"broker": True, "database": True}}]}
    )

    status: Literal["ready", "not ready"]
    checks: dict[str, bool]


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers")
async def healthz() -> Health:
    return Health()


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness: the broker and the database answer",
    responses={503: {"model": Readiness, "description": "Not ready; `checks` names what does not answer."}},
)
async def readyz(state: StateDep) -> JSONResponse:
    checks = {"broker": await state.broker.ping(timeout=2.0), "database": False}
    if state.store is not None:
        try:
            await asyncio.wait_for(state.store.ping(), 2.0)
            checks["database"] = True
        except Exception:
            checks["database"] = False
    ready = all(checks.values())
    body = Readiness(status="ready" if ready else "not ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics(state: StateDep) -> Response:
    return Response(generate_latest(state.registry), media_type=CONTENT_TYPE_LATEST)
