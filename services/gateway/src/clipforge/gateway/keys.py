"""API keys: shown once, stored hashed, each mapped to a tenant.

A key reads ``cf_<key_id>_<secret>``. The key id is stored in the clear so a lookup is one
indexed read; the secret (256 random bits) is stored as its SHA-256 digest and compared in
constant time. A slow password hash adds nothing for secrets of that entropy.

Verified keys are remembered per replica for ``cache_seconds`` (an LRU bounded by
``cache_size``), so a busy client costs one key read per interval instead of one per request.
The price is bounded staleness: a revoked key keeps working on a replica that verified it for
at most ``cache_seconds``. Unknown or bad keys are never cached, so a new key works at once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

KEY_PATTERN = re.compile(r"^cf_(?P<key_id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{20,100})$")
TENANT_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    tenant_id: str
    name: str
    api_key: str  # the only time the full key exists outside the caller's hands
    admin: bool = False


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class VerifiedKey:
    """What a valid, unrevoked key grants."""

    tenant_id: str
    admin: bool


class VerifiedKeyCache:
    """Recently verified keys, by the digest of the whole key, expiring after a TTL."""

    def __init__(self, ttl_seconds: float, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[str, tuple[VerifiedKey, float]] = OrderedDict()

    def get(self, key_digest: str) -> VerifiedKey | None:
        entry = self._entries.get(key_digest)
        if entry is None:
            return None
        verified, expires_at = entry
        if self.clock() >= expires_at:
            del self._entries[key_digest]
            return None
        self._entries.move_to_end(key_digest)
        return verified

    def put(self, key_digest: str, verified: VerifiedKey) -> None:
        if self.ttl_seconds <= 0:
            return
        self._entries[key_digest] = (verified, self.clock() + self.ttl_seconds)
        self._entries.move_to_end(key_digest)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


class KeyStore:
    def __init__(
        self,
        database: AsyncDatabase[dict[str, Any]],
        *,
        cache_seconds: float = 0.0,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.keys = database["api_keys"]
        self.cache = VerifiedKeyCache(cache_seconds, cache_size, clock)

    async def ensure_indexes(self) -> None:
        await self.keys.create_index("tenant_id")

    async def create(self, tenant_id: str, name: str = "", *, admin: bool = False) -> IssuedKey:
        if not TENANT_PATTERN.fullmatch(tenant_id):
            raise ValueError("tenant ids are 1-63 lowercase letters, digits, '-' or '_'")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        await self.keys.insert_one(
            {
                "_id": key_id,
                "tenant_id": tenant_id,
                "name": name,
                "digest": _digest(secret),
                "created_at": datetime.now(UTC),
                "revoked_at": None,
                "admin": admin,  # may also call the operators' endpoints under /v1/admin
            }
        )
        return IssuedKey(key_id, tenant_id, name, f"cf_{key_id}_{secret}", admin)

    async def revoke(self, key_id: str) -> bool:
        result = await self.keys.update_one(
            {"_id": key_id, "revoked_at": None}, {"$set": {"revoked_at": datetime.now(UTC)}}
        )
        return result.modified_count == 1

    async def list(self, tenant_id: str | None = None) -> list[dict[str, Any]]:
        query = {} if tenant_id is None else {"tenant_id": tenant_id}
        return [doc async for doc in self.keys.find(query, {"digest": 0}).sort("created_at", 1)]

    async def tenant_for(self, api_key: str) -> str | None:
        """The tenant of a valid, unrevoked key; None for anything else."""
        verified = await self._verify(api_key)
        return None if verified is None else verified.tenant_id

    async def is_admin(self, api_key: str) -> bool | None:
        """Whether a valid, unrevoked key has the admin scope; None when the key is not valid."""
        verified = await self._verify(api_key)
        return None if verified is None else verified.admin

    async def _verify(self, api_key: str) -> VerifiedKey | None:
        match = KEY_PATTERN.fullmatch(api_key.strip())
        if match is None:
            return None
        key_digest = _digest(match[0])
        cached = self.cache.get(key_digest)
        if cached is not None:
            return cached
        record = await self.keys.find_one({"_id": match["key_id"], "revoked_at": None})
        if record is None or not hmac.compare_digest(record["digest"], _digest(match["secret"])):
            return None
        verified = VerifiedKey(tenant_id=str(record["tenant_id"]), admin=bool(record.get("admin", False)))
        self.cache.put(key_digest, verified)
        return verified
