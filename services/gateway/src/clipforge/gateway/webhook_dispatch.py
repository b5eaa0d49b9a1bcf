"""Sending queued webhook deliveries: one dispatcher per gateway replica.

Each replica claims due deliveries from ``webhook_deliveries`` (compare-and-set, see
``DeliveryQueue``), POSTs them signed, and then either removes them (2xx, or out of attempts) or
schedules the next attempt after ``base * 2^(attempt-1)`` seconds (capped). Every attempt is
appended to the job's ``webhooks`` log. A delivery being sent when its replica dies becomes due
again once its lease ends, on whichever replica is alive then.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import socket
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from prometheus_client import CollectorRegistry, Counter

from clipforge.gateway.settings import GatewaySettings
from clipforge.gateway.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    DeliveryQueue,
    WebhookSecrets,
    sign,
    utc_now,
)
from clipforge.shared.urlsafety import SourcePolicy, address_refusal

log = logging.getLogger(__name__)

PUBLIC_ONLY = SourcePolicy()  # the same address rules as job sources, with no exceptions

USER_AGENT = "ClipForge-Webhooks/1"
MAX_ERROR_CHARS = 300


class TargetRefused(Exception):
    """The callback address may not be called from here (not retried)."""


async def check_target(url: str) -> None:
    """Refuse callback URLs that resolve to loopback, private, link-local or other non-public addresses.

    This stops a tenant from using webhooks to reach the gateway's own network. The address is
    resolved again when connecting, so a hostile DNS server could still race this check; an
    egress proxy is the complete answer where that matters.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConnectionError(f"cannot resolve {host}: {exc.strerror}") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if (reason := address_refusal(address, PUBLIC_ONLY)) is not None:
            raise TargetRefused(f"{host} resolves to {address}, which is not a public address ({reason})")


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    error: str | None
    permanent: bool = False

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookDispatcher:
    def __init__(
        self,
        queue: DeliveryQueue,
        secrets: WebhookSecrets,
        settings: GatewaySettings,
        registry: CollectorRegistry,
    ) -> None:
        self.queue = queue
        self.secrets = secrets
        self.settings = settings
        self.client = httpx.AsyncClient(follow_redirects=False, timeout=settings.webhook_timeout_seconds)
        self.attempts = Counter(
            "clipforge_webhook_attempts_total",
            "Webhook delivery attempts by result (delivered, retrying, failed).",
            ["result"],
            registry=registry,
        )
        self._wake = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run(), name="webhook-dispatcher")

    def wake(self) -> None:
        """Look for due deliveries now instead of at the next poll."""
        self._wake.set()

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        # Let sends in progress finish (bounded by the request timeout); anything cut short is
        # retried by a replica once its lease ends.
        if self._in_flight:
            await asyncio.wait(self._in_flight, timeout=self.settings.webhook_timeout_seconds + 1)
        for task in self._in_flight:
            task.cancel()
        await self.client.aclose()

    async def _run(self) -> None:
        while True:
            try:
                await self._dispatch_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook dispatch failed; retrying at the next poll")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.webhook_poll_interval_seconds)
            self._wake.clear()

    async def _dispatch_due(self) -> None:
        while True:
            free = self.settings.webhook_concurrency - len(self._in_flight)
            if free <= 0:
                return
            deliveries = await self.queue.claim_due(free, self.settings.webhook_lease_seconds)
            for delivery in deliveries:
                task = asyncio.create_task(self._deliver(delivery))
                self._in_flight.add(task)
                task.add_done_callback(self._done)
            if len(deliveries) < free:
                return

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook delivery crashed", exc_info=task.exception())
        self._wake.set()  # a slot is free again

    async def _deliver(self, delivery: dict[str, Any]) -> None:
        result = await self._attempt(delivery)
        attempt = int(delivery["attempts"])
        final = result.delivered or result.permanent or attempt >= self.settings.webhook_max_attempts
        now = utc_now()
        next_at = None if final else now + timedelta(seconds=self._backoff(attempt))
        outcome = "delivered" if result.delivered else ("failed" if final else "retrying")
        await self.queue.log_attempt(
            delivery,
            {
                "delivery_id": delivery["_id"],
                "event": delivery["event"],
                "attempt": attempt,
                "status_code": result.status_code,
                "error": result.error,
                "outcome": outcome,
                "at": now,
                "next_attempt_at": next_at,
            },
        )
        self.attempts.labels(outcome).inc()
        if next_at is None:
            await self.queue.finish(delivery)
        else:
            await self.queue.retry_at(delivery, next_at)
        log.info(
            "webhook %s attempt %d for job %s: %s",
            delivery["event"],
            attempt,
            delivery["job_id"],
            outcome,
            extra={"job_id": delivery["job_id"], "status_code": result.status_code, "error": result.error},
        )

    def _backoff(self, attempt: int) -> float:
        settings = self.settings
        delay = min(settings.webhook_max_delay_seconds, settings.webhook_base_delay_seconds * 2 ** (attempt - 1))
        return delay * random.uniform(1.0, 1.1)  # jitter: receivers coming back are not hit all at once

    async def _attempt(self, delivery: dict[str, Any]) -> AttemptResult:
        url: str = delivery["url"]
        body: bytes = delivery["body"].encode()
        try:
            if not self.settings.webhook_allow_private_targets:
                await check_target(url)
            signing_secrets = await self.secrets.signing_secrets(delivery["tenant_id"])
            headers = {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                EVENT_HEADER: delivery["event"],
                DELIVERY_HEADER: delivery["_id"],
                SIGNATURE_HEADER: sign(signing_secrets, body, int(time.time())),
            }
            # Streamed so a receiver's (possibly huge) response body is never read.
            async with self.client.stream("POST", url, content=body, headers=headers) as response:
                status = response.status_code
        except TargetRefused as exc:
            return AttemptResult(None, str(exc), permanent=True)
        except httpx.TimeoutException:
            return AttemptResult(None, f"no answer within {self.settings.webhook_timeout_seconds:g} s")
        except (httpx.HTTPError, OSError) as exc:
            return AttemptResult(None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS])
        error = None if 200 <= status < 300 else f"HTTP {status}"
        return AttemptResult(status, error)
