"""The cache store itself on a real SecantusDB and file system: keys, commits, eviction, races."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio

from clipforge.shared.cache import (
    CACHE_FOLDER,
    COLLECTION,
    ORPHAN_GRACE_SECONDS,
    CacheSettings,
    SourceCache,
    digest_of,
    normalise_url,
    unshare_folder,
)
from clipforge.shared.jobs import JobStore
from clipforge.shared.settings import Settings

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def cache(settings: Settings, store: JobStore) -> AsyncIterator[SourceCache]:
    source_cache = SourceCache(
        store.db[COLLECTION], settings.media_root, CacheSettings(**{**settings.model_dump(), "cache_max_bytes": 3000})
    )
    await source_cache.ensure_indexes()
    yield source_cache


def a_file(directory: Path, name: str, size: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(os.urandom(size))
    return path


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("HTTP://Example.COM:80/a/b.mp4#t=30", "http://example.com/a/b.mp4"),
        ("https://example.com", "https://example.com:443/"),
        # The video-site links below are only normalised, never fetched.
        ("https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=42s", "https://youtu.be/dQw4w9WgXcQ"),  # (noqa-net)
        ("https://m.youtube.com/shorts/dQw4w9WgXcQ", "https://youtube.com/watch?v=dQw4w9WgXcQ"),  # (noqa-net)
    ],
)
def test_the_same_address_written_differently_is_one_key(one: str, other: str) -> None:
    assert normalise_url(one) == normalise_url(other)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("http://example.com/a.mp4", "https://example.com/a.mp4"),
        ("http://example.com/a.mp4", "http://example.com:8080/a.mp4"),
        ("http://example.com/A.mp4", "http://example.com/a.mp4"),
        ("http://example.com/v?id=1", "http://example.com/v?id=2"),
        ("https://youtu.be/dQw4w9WgXcQ", "https://youtu.be/aaaaaaaaaaa"),  # never fetched (noqa-net)
    ],
)
def test_different_sources_are_different_keys(one: str, other: str) -> None:
    assert normalise_url(one) != normalise_url(other)


async def test_a_stored_entry_is_linked_whole_into_a_job_and_survives_the_job(
    cache: SourceCache, tmp_path: Path
) -> None:
    source = a_file(tmp_path / "job-a", "audio.wav", 1000)
    assert await cache.store("e1", kind="source", scope="t", files={"audio": source}, meta={"n": 1})
    assert not await cache.store("e1", kind="source", scope="t", files={"audio": source}, meta={"n": 2})
    entry = await cache.lookup("e1")
    assert entry is not None and entry.meta == {"n": 1}
    target = tmp_path / "job-b" / "audio.wav"
    assert await cache.link_into(entry, {"audio": target})
    assert target.read_bytes() == source.read_bytes()
    assert [p.name for p in target.parent.iterdir()] == ["audio.wav"]  # no partial names left
    target.unlink()  # the job is deleted
    assert (entry.directory / "audio.wav").read_bytes() == source.read_bytes()
    doc = await cache.collection.find_one({"_id": "e1"})
    assert doc is not None and doc["hits"] == 1


async def test_concurrent_stores_of_one_entry_commit_exactly_one_folder(cache: SourceCache, tmp_path: Path) -> None:
    files = [a_file(tmp_path / f"job-{i}", "audio.wav", 500) for i in range(4)]
    results = await asyncio.gather(
        *(cache.store("same", kind="source", scope="t", files={"audio": f}, meta={}) for f in files)
    )
    assert results.count(True) == 1
    doc = await cache.collection.find_one({"_id": "same"})
    assert doc is not None
    assert [p.name for p in cache.root.iterdir()] == [doc["directory"]]


async def test_over_the_size_limit_the_least_recently_used_go_first(cache: SourceCache, tmp_path: Path) -> None:
    for name in ("old", "used", "new"):
        await cache.store(name, kind="source", scope="t", files={"a": a_file(tmp_path / name, "a", 1000)}, meta={})
        if name == "used":
            # "old" is used again after "used" was stored: "used" becomes the least recently used.
            entry = await cache.lookup("old")
            assert entry is not None and await cache.link_into(entry, {"a": tmp_path / "x" / "a"})
    assert await cache.lookup("used") is not None
    await cache.store("big", kind="source", scope="t", files={"a": a_file(tmp_path / "big", "a", 1000)}, meta={})
    remaining = sorted([doc["_id"] async for doc in cache.collection.find({})])
    assert remaining == ["big", "new", "old"]
    assert sum(p.stat().st_size for p in cache.root.glob("*/*")) == 3000
    # An entry larger than the whole cache is not kept at all.
    huge = a_file(tmp_path / "huge", "a", 3001)
    assert not await cache.store("huge", kind="source", scope="t", files={"a": huge}, meta={})


async def test_entries_unused_for_longer_than_the_age_limit_are_removed(cache: SourceCache, tmp_path: Path) -> None:
    await cache.store("stale", kind="source", scope="t", files={"a": a_file(tmp_path / "s", "a", 10)}, meta={})
    await cache.store("fresh", kind="source", scope="t", files={"a": a_file(tmp_path / "f", "a", 10)}, meta={})
    long_ago = datetime.now(UTC) - timedelta(seconds=cache.settings.cache_max_age_seconds + 60)
    await cache.collection.update_one({"_id": "stale"}, {"$set": {"last_used_at": long_ago}})
    assert await cache.evict() == ["stale"]
    assert await cache.lookup("stale") is None and await cache.lookup("fresh") is not None
    assert len(list(cache.root.iterdir())) == 1
    # An entry past the age limit is not used even before an eviction round removes it.
    await cache.collection.update_one({"_id": "fresh"}, {"$set": {"last_used_at": long_ago}})
    assert await cache.lookup("fresh") is None
    assert await cache.collection.count_documents({}) == 0 and not list(cache.root.iterdir())


async def test_an_entry_whose_files_went_missing_is_a_miss_and_forgotten(cache: SourceCache, tmp_path: Path) -> None:
    await cache.store("gone", kind="source", scope="t", files={"a": a_file(tmp_path / "g", "a", 10)}, meta={})
    entry = await cache.lookup("gone")
    assert entry is not None
    (entry.directory / "a").unlink()
    target = tmp_path / "job" / "a"
    assert not await cache.link_into(entry, {"a": target}) and not target.exists()
    assert await cache.lookup("gone") is None
    assert await cache.collection.count_documents({"_id": "gone"}) == 0


async def test_a_folder_left_by_a_store_that_died_before_its_commit_is_swept(
    cache: SourceCache, tmp_path: Path
) -> None:
    orphan = cache.root / "deadbeef.0123"
    a_file(orphan, "audio.wav", 10)
    recent = cache.root / "cafe.4567"
    a_file(recent, "audio.wav", 10)
    old = time.time() - ORPHAN_GRACE_SECONDS - 60
    os.utime(orphan, (old, old))
    await cache.evict()
    assert not orphan.exists() and recent.exists()  # a store in progress is left alone


def test_unsharing_removes_only_names_shared_with_the_cache(tmp_path: Path) -> None:
    shared = a_file(tmp_path / CACHE_FOLDER, "audio.wav", 10)
    job = tmp_path / "job"
    job.mkdir()
    os.link(shared, job / "audio.wav")
    own = a_file(job, "source.upload", 10)
    unshare_folder(job)
    assert not (job / "audio.wav").exists() and own.exists() and shared.exists()


def test_entry_ids_depend_on_every_part() -> None:
    assert digest_of("source", 1, "tenant-a", "url:x") != digest_of("source", 1, "tenant-b", "url:x")
    assert digest_of("transcript", {"language": None}) != digest_of("transcript", {"language": "en"})
