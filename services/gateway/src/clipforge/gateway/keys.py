"""API keys: shown once, stored hashed, each mapped to a tenant.

A key reads ``cf_<key_id>_<secret>``. The key id is stored in the clear so a lookup is one
indexed read; the secret (256 random bits) is stored as its SHA-256 digest and compared in
constant time. A slow password hash adds nothing for secrets of that entropy.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
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


class KeyStore:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.keys = database["api_keys"]

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
        record = await self._record(api_key)
        return None if record is None else str(record["tenant_id"])

    async def is_admin(self, api_key: str) -> bool | None:
        """Whether a valid, unrevoked key has the admin scope; None when the key is not valid."""
        record = await self._record(api_key)
        return None if record is None else bool(record.get("admin", False))

    async def _record(self, api_key: str) -> dict[str, Any] | None:
        match = KEY_PATTERN.fullmatch(api_key.strip())
        if match is None:
            return None
        record = await self.keys.find_one({"_id": match["key_id"], "revoked_at": None})
        if record is None or not hmac.compare_digest(record["digest"], _digest(match["secret"])):
            return None
        return record
