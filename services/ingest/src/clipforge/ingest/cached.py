"""Ingest through the source cache: the same link, or an upload with the same bytes, is not fetched twice.

The entry holds what ingest made of the source: for a link the downloaded video, for both kinds
the speech track and the ffprobe facts. Which options a job asks for does not matter here: none
of them changes the download or the speech track. The current limits (duration, size) are
checked again on a hit, so lowering them applies to cached sources too.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from clipforge.shared.cache import CacheResult, SourceCache, digest_of, normalise_url, sha256_file, unshare_folder
from clipforge.shared.errors import StageError
from clipforge.shared.media import MediaStore
from clipforge.shared.models import MediaInfo, ProgressCallback, SourceRef
from clipforge.shared.urlsafety import SourcePolicy

from .config import IngestConfig
from .core import AUDIO_FILENAME, IngestResult, check_media, ingest, ingest_file, validate_source_url

log = logging.getLogger(__name__)

# Part of every entry id: change it when ingest's output for the same source changes (yt-dlp
# format choice, speech track format), so old entries are no longer used.
SOURCE_FORMAT_VERSION = 1
REUSED_MESSAGE = "Reused the cached download"


@dataclass(frozen=True)
class CachedIngest:
    result: IngestResult
    cache: CacheResult | None  # None when the cache is off


def source_key(source: SourceRef, media: MediaStore, policy: SourcePolicy) -> str:
    """What identifies the source: its normalised link, or the SHA-256 of the uploaded bytes.

    A link is checked against the source policy first, so a cache hit never skips that check.
    """
    if source.url is not None:
        return "url:" + normalise_url(validate_source_url(source.url, policy))
    assert source.media_key is not None
    digest = source.sha256 or sha256_file(media.path(source.media_key))
    return "upload:sha256:" + digest


async def ingest_source(
    source: SourceRef,
    workdir: Path,
    config: IngestConfig,
    on_progress: ProgressCallback,
    *,
    media: MediaStore,
    cache: SourceCache | None,
    tenant_id: str,
) -> CachedIngest:
    if cache is None:
        return CachedIngest(await _ingest(source, workdir, config, on_progress, media), None)
    key = await asyncio.to_thread(source_key, source, media, config.source_policy)
    scope = cache.scope_for(tenant_id)
    entry_id = digest_of("source", SOURCE_FORMAT_VERSION, scope, key)
    try:
        reused = await _reuse(cache, entry_id, source, workdir, config, media)
    except StageError:
        raise
    except Exception:  # the cache is a shortcut: when it cannot be read, do the work
        log.exception("could not read the source cache for %s", key)
        reused = None
    if reused is not None:
        on_progress(1.0, REUSED_MESSAGE)
        return CachedIngest(reused, "hit")
    # Names linked from the cache by an earlier attempt must not be written through.
    await asyncio.to_thread(unshare_folder, workdir)
    result = await _ingest(source, workdir, config, on_progress, media)
    files = {"audio": result.audio_path}
    if source.url is not None:
        files["video"] = result.video_path
    try:
        await cache.store(
            entry_id,
            kind="source",
            scope=scope,
            files=files,
            meta={"source": key, "media": result.media.model_dump()},
        )
    except Exception:  # the job has its media; failing to keep a copy must not fail it
        log.exception("could not keep %s in the source cache", key)
    return CachedIngest(result, "miss")


async def _ingest(
    source: SourceRef, workdir: Path, config: IngestConfig, on_progress: ProgressCallback, media: MediaStore
) -> IngestResult:
    if source.media_key is not None:
        return await ingest_file(media.path(source.media_key), workdir, config, on_progress)
    assert source.url is not None
    return await ingest(source.url, workdir, config, on_progress)


async def _reuse(
    cache: SourceCache,
    entry_id: str,
    source: SourceRef,
    workdir: Path,
    config: IngestConfig,
    media: MediaStore,
) -> IngestResult | None:
    entry = await cache.lookup(entry_id)
    if entry is None:
        return None
    info = MediaInfo.model_validate(entry.meta["media"])
    check_media(info, config)
    audio = workdir / AUDIO_FILENAME
    targets = {"audio": audio}
    if source.url is not None:
        video = workdir / entry.files["video"]
        targets["video"] = video
    else:
        assert source.media_key is not None
        video = media.path(source.media_key)  # the upload is already the job's own copy
    if not await cache.link_into(entry, targets):
        return None
    return IngestResult(video_path=video, audio_path=audio, media=info)
