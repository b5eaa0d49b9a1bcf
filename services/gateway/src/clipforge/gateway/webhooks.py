"""Job notifications for a job's ``callback_url``: payload, signatures, secrets, the delivery queue.

Signing. Each tenant has one signing secret (``whsec_`` + 256 random bits), created the first
time it is needed (the first signed delivery or the first ``GET /v1/webhooks/secret``) and
readable by the tenant at any time through that endpoint. A delivery carries

    X-ClipForge-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

The timestamp is inside the signed bytes, so a receiver that rejects old timestamps (five
minutes is usual) cannot be replayed to. After a rotation the header carries a second ``v1``
made with the previous secret until its grace period ends, so receivers can switch secrets
without dropping notifications. Secrets are stored as they are: HMAC needs the secret itself.

Delivery. The outcome consumer enqueues one document per notification in
``webhook_deliveries`` (``_id`` = the outcome event's id, so a redelivered event is not
enqueued twice); every replica drains that queue (see ``webhook_dispatch``). Delivery is at
least once: receivers should ignore a payload ``id`` they have already processed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from clipforge.gateway.schemas import ClipView, JobLinks
from clipforge.shared.events import ClipsReady, Event, JobFailed
from clipforge.shared.models import JobError, JobStatus

SIGNATURE_HEADER = "X-ClipForge-Signature"
EVENT_HEADER = "X-ClipForge-Event"
DELIVERY_HEADER = "X-ClipForge-Delivery"
DEFAULT_TOLERANCE_SECONDS = 300
JOB_LOG_LIMIT = 50

WebhookEventType = Literal["job.completed", "job.failed"]

Document = dict[str, Any]


def utc_now() -> datetime:
    return datetime.now(UTC)


# --- signatures ---------------------------------------------------------------------------


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(signing_secrets: Sequence[str], body: bytes, timestamp: int) -> str:
    """The signature header value: the timestamp, then one ``v1`` per secret (newest first)."""
    return ",".join([f"t={timestamp}", *(f"v1={_mac(secret, timestamp, body)}" for secret in signing_secrets)])


def verify(
    secret: str,
    header: str,
    body: bytes,
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """What a receiver does: a recent timestamp and one ``v1`` matching the raw body."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or abs((time.time() if now is None else now) - timestamp) > tolerance_seconds:
        return False
    expected = _mac(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)


# --- the payload --------------------------------------------------------------------------


class WebhookPayload(BaseModel):
    """The JSON body POSTed to a job's ``callback_url`` when the job completes or fails."""

    id: str = Field(description="Unique per notification; the same on every retry of it. Deduplicate on it.")
    type: WebhookEventType
    created_at: datetime
    job_id: str
    status: JobStatus
    clips: list[ClipView] = Field(default_factory=list, description="The clips, when the job completed.")
    error: JobError | None = Field(default=None, description="Why the job failed, when it failed.")
    links: JobLinks


def payload_for(event: Event, *, base_path: str = "/v1/jobs") -> WebhookPayload:
    job_path = f"{base_path}/{event.job_id}"
    links = JobLinks(self=job_path, events=f"{job_path}/events")
    if isinstance(event, ClipsReady):
        clips = [ClipView.from_clip(clip.model_dump(), job_path) for clip in event.clips]
        return WebhookPayload(
            id=event.event_id,
            type="job.completed",
            created_at=event.emitted_at,
            job_id=event.job_id,
            status=JobStatus.COMPLETED,
            clips=clips,
            links=links,
        )
    if isinstance(event, JobFailed):
        return WebhookPayload(
            id=event.event_id,
            type="job.failed",
            created_at=event.emitted_at,
            job_id=event.job_id,
            status=JobStatus.FAILED,
            error=event.error,
            links=links,
        )
    raise TypeError(f"no notification for {type(event).__name__}")


# --- signing secrets ----------------------------------------------------------------------


@dataclass(frozen=True)
class SigningSecret:
    secret: str
    created_at: datetime
    previous_valid_until: datetime | None = None


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


class WebhookSecrets:
    """One document per tenant: ``{_id: tenant, secret, created_at, previous: {secret, valid_until}}``."""

    def __init__(self, database: AsyncDatabase[Document], grace_seconds: int) -> None:
        self.collection = database["webhook_secrets"]
        self.grace = timedelta(seconds=grace_seconds)

    async def _document(self, tenant_id: str) -> Document:
        document = await self.collection.find_one({"_id": tenant_id})
        if document is not None:
            return document
        document = {"_id": tenant_id, "secret": new_secret(), "created_at": utc_now(), "previous": None}
        try:
            await self.collection.insert_one(document)
        except DuplicateKeyError:  # another request created it first: theirs wins
            existing = await self.collection.find_one({"_id": tenant_id})
            assert existing is not None
            return existing
        return document

    async def current(self, tenant_id: str) -> SigningSecret:
        document = await self._document(tenant_id)
        previous = document.get("previous") or {}
        valid_until = previous.get("valid_until")
        return SigningSecret(
            document["secret"], document["created_at"], valid_until if valid_until and valid_until > utc_now() else None
        )

    async def signing_secrets(self, tenant_id: str) -> list[str]:
        """The secrets a delivery is signed with now: current first, then one still in its grace period."""
        document = await self._document(tenant_id)
        previous = document.get("previous") or {}
        keys = [document["secret"]]
        if previous.get("secret") and previous.get("valid_until") and previous["valid_until"] > utc_now():
            keys.append(previous["secret"])
        return keys

    async def rotate(self, tenant_id: str) -> SigningSecret:
        while True:
            document = await self._document(tenant_id)
            now = utc_now()
            replacement = {
                "secret": new_secret(),
                "created_at": now,
                "previous": {"secret": document["secret"], "valid_until": now + self.grace},
            }
            # Compare-and-set on the old secret: two concurrent rotations cannot lose one.
            result = await self.collection.update_one(
                {"_id": tenant_id, "secret": document["secret"]}, {"$set": replacement}
            )
            if result.modified_count == 1:
                return SigningSecret(replacement["secret"], now, now + self.grace if self.grace else None)


# --- the delivery queue -------------------------------------------------------------------


class DeliveryQueue:
    """Pending notifications. A document leaves the queue when delivered or given up on.

    ``next_attempt_at`` doubles as the lease: claiming a delivery moves it ``lease`` seconds into
    the future, so a replica that dies mid-delivery only delays it. ``version`` makes the claim and
    every later write a compare-and-set, so two replicas never hold the same delivery.
    """

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self.collection = database["webhook_deliveries"]
        self.jobs = database["jobs"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("next_attempt_at", ASCENDING)])

    async def enqueue(self, payload: WebhookPayload, *, tenant_id: str, url: str) -> bool:
        """False when this notification was already enqueued (a redelivered outcome event)."""
        now = utc_now()
        try:
            await self.collection.insert_one(
                {
                    "_id": payload.id,
                    "job_id": payload.job_id,
                    "tenant_id": tenant_id,
                    "url": url,
                    "event": payload.type,
                    "body": payload.model_dump_json(),
                    "attempts": 0,
                    "version": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
            )
        except DuplicateKeyError:
            return False
        return True

    async def claim_due(self, limit: int, lease_seconds: float) -> list[Document]:
        now = utc_now()
        cursor = self.collection.find({"next_attempt_at": {"$lte": now}}).sort("next_attempt_at", ASCENDING)
        claimed: list[Document] = []
        async for candidate in cursor.limit(limit):
            lease_until = now + timedelta(seconds=lease_seconds)
            result = await self.collection.update_one(
                {"_id": candidate["_id"], "version": candidate["version"]},
                {"$set": {"next_attempt_at": lease_until}, "$inc": {"version": 1, "attempts": 1}},
            )
            if result.modified_count == 1:
                candidate.update(
                    next_attempt_at=lease_until, version=candidate["version"] + 1, attempts=candidate["attempts"] + 1
                )
                claimed.append(candidate)
        return claimed

    async def retry_at(self, delivery: Document, when: datetime) -> bool:
        result = await self.collection.update_one(
            {"_id": delivery["_id"], "version": delivery["version"]},
            {"$set": {"next_attempt_at": when}, "$inc": {"version": 1}},
        )
        return result.modified_count == 1

    async def finish(self, delivery: Document) -> bool:
        result = await self.collection.delete_one({"_id": delivery["_id"], "version": delivery["version"]})
        return result.deleted_count == 1

    async def log_attempt(self, delivery: Document, entry: Document) -> None:
        """Append to the job's delivery log (the last ``JOB_LOG_LIMIT`` attempts are kept)."""
        await self.jobs.update_one(
            {"_id": delivery["job_id"]}, {"$push": {"webhooks": {"$each": [entry], "$slice": -JOB_LOG_LIMIT}}}
        )
