"""The source cache: downloads, speech tracks and transcripts kept for the next job that needs them.

An entry is a folder ``<media root>/cache/<entry id>.<nonce>/`` plus a document in the
``source_cache`` collection. The folder is filled completely first; inserting the document (its
``_id`` is the entry id, unique) is the commit. Of two jobs storing the same entry at once, one
insert wins and the other removes its folder, so a reader never sees a half-written entry.

A hit links (hard link, else a copy) the entry's files into the job's own folder under a
temporary name and renames them into place. The job then owns its names: deleting or cancelling
the job removes its links, never the cache's, and evicting an entry never takes a file from a job
that already has it. Nothing writes into a job's linked file in place (ffmpeg and the transcript
writer replace files by rename, and ingest unlinks shared names before it writes them again).

Entry ids are SHA-256 of the parts that decide the content (scope, kind, source or content hash,
options that change the result), so the key never holds user input as a path.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit, urlunsplit

from pydantic import Field
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from clipforge.shared.settings import Settings

log = logging.getLogger(__name__)

CACHE_FOLDER = "cache"
COLLECTION = "source_cache"
# A folder no document points to is a store that died before its commit (or lost the race and
# died before cleaning up); it is removed once it is this old.
ORPHAN_GRACE_SECONDS = 3600.0

CacheScope = Literal["tenant", "global"]
CacheResult = Literal["hit", "miss"]

_YOUTUBE_HOSTS = frozenset({"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com"})
_YOUTUBE_PATH_PREFIXES = ("/shorts/", "/live/", "/embed/", "/v/")
_YOUTUBE_ID_LENGTH = 11
_DEFAULT_PORTS = {"http": 80, "https": 443}


class CacheSettings(Settings):
    """The cache's knobs; the ingest and transcribe settings inherit them."""

    cache_enabled: bool = Field(default=True, description="Reuse downloads and transcripts of earlier jobs.")
    cache_max_bytes: int = Field(
        default=20 * 1024**3, ge=0, description="Total size of cached files; the least recently used go first."
    )
    cache_max_age_seconds: float = Field(
        default=30 * 24 * 3600.0, gt=0, description="An entry not used for this long is removed."
    )
    cache_scope: CacheScope = Field(
        default="tenant",
        description="tenant: a tenant only reuses its own jobs' work; global: every tenant shares entries "
        "(a hit then tells a tenant that someone else processed the same link or file).",
    )


@dataclass(frozen=True)
class CacheEntry:
    id: str
    directory: Path
    files: dict[str, str]
    meta: dict[str, Any]


def digest_of(*parts: object) -> str:
    """A stable hex id for these JSON-able parts."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def sha256_file(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def normalise_url(url: str) -> str:
    """The same address written differently gives the same key.

    Scheme and host are lower-cased, a default port and the fragment dropped, an empty path made
    ``/``; a YouTube video becomes ``youtube:<id>`` whichever of its address forms is used. The
    query is kept as given: on arbitrary sites its order or any parameter may matter.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if video_id := _youtube_id(host, parts.path, parts.query):
        return f"youtube:{video_id}"
    netloc = host if ":" not in host else f"[{host}]"
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(scheme):
        netloc = f"{netloc}:{parts.port}"
    if parts.username is not None:
        credentials = parts.username + (f":{parts.password}" if parts.password is not None else "")
        netloc = f"{credentials}@{netloc}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def _youtube_id(host: str, path: str, query: str) -> str | None:
    candidate: str | None = None
    if host in _YOUTUBE_HOSTS:
        if path == "/watch":
            candidate = (parse_qs(query).get("v") or [None])[0]
        else:
            for prefix in _YOUTUBE_PATH_PREFIXES:
                if path.startswith(prefix):
                    candidate = path[len(prefix) :].split("/")[0]
    elif host in {"youtu.be", "www.youtu.be"}:
        candidate = path.lstrip("/").split("/")[0]
    if candidate and len(candidate) == _YOUTUBE_ID_LENGTH and all(c.isalnum() or c in "-_" for c in candidate):
        return candidate
    return None


class SourceCache:
    """Entries in the ``source_cache`` collection with their files under ``<media root>/cache/``."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]], media_root: Path, settings: CacheSettings) -> None:
        self.collection = collection
        self.root = media_root.resolve() / CACHE_FOLDER
        self.settings = settings

    def scope_for(self, tenant_id: str) -> str:
        return tenant_id if self.settings.cache_scope == "tenant" else "*"

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("last_used_at", ASCENDING)])

    # --- reading ------------------------------------------------------------------------

    async def lookup(self, entry_id: str) -> CacheEntry | None:
        doc = await self.collection.find_one({"_id": entry_id})
        if doc is None:
            return None
        entry = CacheEntry(entry_id, self.root / doc["directory"], dict(doc["files"]), dict(doc.get("meta") or {}))
        if _aware(doc["last_used_at"]) < self._age_cutoff():
            await self._remove(doc)
            return None
        if not await asyncio.to_thread(_has_files, entry):
            log.warning("cache entry %s lost its files; forgetting it", entry_id)
            await self._remove(doc)
            return None
        return entry

    async def link_into(self, entry: CacheEntry, targets: dict[str, Path]) -> bool:
        """Give the job its own complete copy of each named file; False when the entry vanished meanwhile."""
        try:
            await asyncio.to_thread(_link_all, entry, targets)
        except FileNotFoundError:
            log.info("cache entry %s was evicted while being reused", entry.id)
            return False
        await self.collection.update_one(
            {"_id": entry.id}, {"$set": {"last_used_at": datetime.now(UTC)}, "$inc": {"hits": 1}}
        )
        return True

    # --- writing ------------------------------------------------------------------------

    async def store(
        self, entry_id: str, *, kind: str, scope: str, files: dict[str, Path], meta: dict[str, Any]
    ) -> bool:
        """Keep copies of ``files`` (role → path) as the entry; False if it exists or is too large to keep."""
        size = sum(await asyncio.to_thread(lambda: [path.stat().st_size for path in files.values()]))
        if size > self.settings.cache_max_bytes:
            return False
        if await self.collection.find_one({"_id": entry_id}, {"_id": 1}) is not None:
            return False
        folder = f"{entry_id}.{uuid.uuid4().hex[:12]}"
        directory = self.root / folder
        names = {role: path.name for role, path in files.items()}
        await asyncio.to_thread(_fill, directory, {names[role]: path for role, path in files.items()})
        now = datetime.now(UTC)
        try:
            await self.collection.insert_one(
                {
                    "_id": entry_id,
                    "kind": kind,
                    "scope": scope,
                    "directory": folder,
                    "files": names,
                    "meta": meta,
                    "size_bytes": size,
                    "hits": 0,
                    "created_at": now,
                    "last_used_at": now,
                }
            )
        except DuplicateKeyError:
            await asyncio.to_thread(shutil.rmtree, directory, True)
            return False
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, directory, True)
            raise
        await self.evict()
        return True

    async def evict(self) -> list[str]:
        """Remove entries unused for too long, then the least recently used while over the size limit."""
        removed: list[str] = []
        cutoff = self._age_cutoff()
        docs = [doc async for doc in self.collection.find({}, {"directory": 1, "size_bytes": 1, "last_used_at": 1})]
        docs.sort(key=lambda doc: _aware(doc["last_used_at"]))
        total = sum(int(doc.get("size_bytes", 0)) for doc in docs)
        for doc in docs:
            if _aware(doc["last_used_at"]) >= cutoff and total <= self.settings.cache_max_bytes:
                break
            if await self._remove(doc):
                removed.append(doc["_id"])
            total -= int(doc.get("size_bytes", 0))
        await asyncio.to_thread(self._remove_orphans, {doc["directory"] for doc in docs})
        return removed

    def _age_cutoff(self) -> datetime:
        return datetime.now(UTC) - timedelta(seconds=self.settings.cache_max_age_seconds)

    async def _remove(self, doc: dict[str, Any]) -> bool:
        # The document goes first: a job that finds no document never starts linking from the folder.
        result = await self.collection.delete_one({"_id": doc["_id"], "directory": doc["directory"]})
        if result.deleted_count:
            await asyncio.to_thread(shutil.rmtree, self.root / doc["directory"], True)
        return bool(result.deleted_count)

    def _remove_orphans(self, known: set[str]) -> None:
        if not self.root.is_dir():
            return
        deadline = time.time() - ORPHAN_GRACE_SECONDS
        for child in self.root.iterdir():
            if child.name in known or not child.is_dir():
                continue
            with contextlib.suppress(OSError):
                if child.stat().st_mtime < deadline:
                    shutil.rmtree(child, ignore_errors=True)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _has_files(entry: CacheEntry) -> bool:
    return all((entry.directory / name).is_file() for name in entry.files.values())


def _link_or_copy(source: Path, target: Path) -> None:
    """``target`` appears whole or not at all: a link or copy under a temporary name, then a rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        try:
            os.link(source, partial)
        except FileNotFoundError:
            raise
        except OSError:  # another file system, or one without hard links
            shutil.copyfile(source, partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _link_all(entry: CacheEntry, targets: dict[str, Path]) -> None:
    done: list[Path] = []
    try:
        for role, target in targets.items():
            _link_or_copy(entry.directory / entry.files[role], target)
            done.append(target)
    except FileNotFoundError:
        for target in done:
            target.unlink(missing_ok=True)
        raise


def _fill(directory: Path, files: dict[str, Path]) -> None:
    directory.mkdir(parents=True, exist_ok=False)
    for name, source in files.items():
        _link_or_copy(source, directory / name)


def unshare_folder(directory: Path) -> None:
    """Remove the files in ``directory`` that are hard links shared with the cache.

    ffmpeg writes its output file in place: writing such a name again would change the cache's copy.
    """
    if not directory.is_dir():
        return
    for path in directory.iterdir():
        with contextlib.suppress(FileNotFoundError):
            if path.is_file() and path.stat().st_nlink > 1:
                path.unlink()
