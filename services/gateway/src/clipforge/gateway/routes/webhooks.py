"""Webhooks: the tenant's signing secret, and the wiring of notifications into the gateway.

At start-up this module adds an outcome handler (completed and failed jobs with a
``callback_url`` get a notification queued) and starts this replica's delivery dispatcher.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from clipforge.gateway.auth import TenantDep
from clipforge.gateway.broker import OutcomeHandler
from clipforge.gateway.problems import Problem
from clipforge.gateway.state import GatewayState, StateDep
from clipforge.gateway.webhook_dispatch import WebhookDispatcher
from clipforge.gateway.webhooks import (
    SIGNATURE_HEADER,
    DeliveryQueue,
    SigningSecret,
    WebhookSecrets,
    payload_for,
)
from clipforge.shared.events import Event

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


class WebhookSecretView(BaseModel):
    secret: str = Field(description="Verify each notification's signature with this secret.")
    created_at: datetime
    previous_valid_until: datetime | None = Field(
        description="After a rotation, notifications are also signed with the previous secret until then."
    )
    signature_header: str = SIGNATURE_HEADER
    signature_scheme: str = "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, '<t>.<raw body>')>"


def _view(secret: SigningSecret) -> WebhookSecretView:
    return WebhookSecretView(
        secret=secret.secret, created_at=secret.created_at, previous_valid_until=secret.previous_valid_until
    )


def _secrets(state: GatewayState) -> WebhookSecrets:
    secrets: WebhookSecrets | None = state.extras.get("webhook_secrets")
    if secrets is None:
        raise Problem(503, "starting", "Service starting", "The gateway is still starting; retry shortly.")
    return secrets


@router.get(
    "/secret",
    response_model=WebhookSecretView,
    summary="The secret that signs this tenant's job notifications",
    description="Created on first use. Every notification to a job's `callback_url` is signed with it.",
)
async def get_secret(state: StateDep, tenant: TenantDep) -> WebhookSecretView:
    return _view(await _secrets(state).current(tenant))


@router.post(
    "/secret/rotate",
    response_model=WebhookSecretView,
    summary="Replace the signing secret",
    description="Notifications are signed with both the new and the previous secret during the grace period.",
)
async def rotate_secret(state: StateDep, tenant: TenantDep) -> WebhookSecretView:
    return _view(await _secrets(state).rotate(tenant))


def notifier(state: GatewayState, queue: DeliveryQueue, dispatcher: WebhookDispatcher) -> OutcomeHandler:
    async def notify(event: Event) -> None:
        assert state.store is not None
        job = await state.store.get(event.job_id)
        url = (job or {}).get("callback_url")
        if job is None or not url:
            return
        if await queue.enqueue(payload_for(event), tenant_id=job["tenant_id"], url=url):
            dispatcher.wake()

    return notify


async def on_startup(state: GatewayState) -> None:
    assert state.mongo is not None
    database = state.mongo[state.settings.mongo_database]
    secrets = WebhookSecrets(database, state.settings.webhook_secret_grace_seconds)
    queue = DeliveryQueue(database)
    await queue.ensure_indexes()
    dispatcher = WebhookDispatcher(queue, secrets, state.settings, state.registry)
    state.extras.update(webhook_secrets=secrets, webhook_queue=queue, webhook_dispatcher=dispatcher)
    state.extras["outcome_handlers"].append(notifier(state, queue, dispatcher))
    dispatcher.start()


async def on_shutdown(state: GatewayState) -> None:
    dispatcher: WebhookDispatcher | None = state.extras.get("webhook_dispatcher")
    if dispatcher is not None:
        await dispatcher.stop()
