"""Cutting highlight clips out of a video: reframed, captioned, with thumbnail and subtitle files.

Per clip: subtitle sidecars from the words; then either a stream copy (nothing to change and
the cuts fall on keyframes) or, when the frame changes shape, a look for faces to follow,
followed by one ffmpeg pass that frames, captions, encodes and writes the hook's frames, the
sharpest of which becomes the thumbnail. Clips of one job render concurrently, up to
``RenderConfig.concurrency``.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from clipforge.render.analysis import ClipAnalysis, find_faces
from clipforge.render.captions import write_captions
from clipforge.render.command import build_command
from clipforge.render.config import RenderConfig
from clipforge.render.fastpath import CopyCut, codecs_copyable, copy_command, copy_cut, probe_packets
from clipforge.render.frames import FrameSamplingError
from clipforge.render.framing import FramingMode, needs_faces, plan_framing
from clipforge.render.geometry import crop_box, output_size, pan_axis
from clipforge.render.prelook import SourceLook
from clipforge.render.probe import probe_output
from clipforge.render.progress import OverallProgress
from clipforge.render.sidecars import cues, write_sidecars
from clipforge.render.tasks import all_or_cancel
from clipforge.render.thumbnail import HookFrames, extract_hook, keep_best
from clipforge.render.tracking import TrackingParams, camera_path
from clipforge.shared.errors import StageError
from clipforge.shared.models import (
    Highlight,
    JobOptions,
    MediaInfo,
    ProgressCallback,
    Transcript,
    Word,
    ignore_progress,
)
from clipforge.shared.process import run_ffmpeg

__all__ = [
    "RenderConfig",
    "RenderedClip",
    "build_command",
    "clip_bounds",
    "output_size",
    "render_clip",
    "render_clips",
]

log = logging.getLogger(__name__)

# Shorter than this is not a clip anyone can watch; it means the highlight missed the video.
_MIN_CLIP_SECONDS = 0.5
_MAX_DETAIL_CHARS = 200
# Share of a clip's progress spent looking for faces before encoding.
_FACE_LOOK_SHARE = 0.2

# Where a clip's faces came from: the look ahead stored for the job, a look at the clip itself,
# or none needed (the frame keeps its shape).
LookSource = Literal["prepass", "inline", "none"]


@dataclass(frozen=True)
class RenderedClip:
    path: Path
    width: int
    height: int
    duration_seconds: float
    size_bytes: int
    thumbnail_path: Path
    srt_path: Path
    vtt_path: Path
    framing: FramingMode
    stream_copied: bool = False
    look: LookSource = "none"


def clip_bounds(highlight: Highlight, media: MediaInfo) -> tuple[float, float]:
    """The highlight's span limited to the video."""
    start = max(highlight.start, 0.0)
    end = min(highlight.end, media.duration_seconds) if media.duration_seconds > 0 else highlight.end
    if end - start < _MIN_CLIP_SECONDS:
        raise StageError(
            "clip_out_of_range",
            f"A chosen moment ({highlight.start:.1f}-{highlight.end:.1f} s) lies outside the "
            f"video, which is {media.duration_seconds:.1f} seconds long.",
        )
    return start, end


def sidecar_paths(out_path: Path) -> tuple[Path, Path, Path]:
    """The thumbnail, SRT and VTT files written next to a clip (``clip-01.jpg`` beside ``clip-01.mp4``)."""
    return out_path.with_suffix(".jpg"), out_path.with_suffix(".srt"), out_path.with_suffix(".vtt")


async def render_clip(
    video: Path,
    highlight: Highlight,
    words: list[Word],
    options: JobOptions,
    media: MediaInfo,
    out_path: Path,
    config: RenderConfig | None = None,
    on_progress: ProgressCallback = ignore_progress,
    look: SourceLook | None = None,
) -> RenderedClip:
    """Render one highlight of ``video`` to ``out_path`` (mp4: H.264 + AAC, faststart), with its
    thumbnail and subtitle files beside it. ``look``: what the look ahead stored for the source
    (faces, keyframes), used where present instead of looking at the clip again."""
    config = config or RenderConfig()
    if not media.has_video or not media.width or not media.height:
        raise StageError("no_video", "This file has no picture, so no video clips can be made from it.")
    start, end = clip_bounds(highlight, media)
    thumbnail, srt, vtt = sidecar_paths(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_sidecars(cues(words, start, end, config), srt, vtt)
        look = look or SourceLook()
        cut = await _copy_cut(video, start, end, options, media, config, look)
        source: LookSource = "none"
        if cut is not None:
            await _copy(video, cut, start, media, out_path, thumbnail, config, on_progress)
            framing: FramingMode = "full"
        else:
            framing, source = await _encode(
                video, start, end, words, options, media, out_path, thumbnail, config, on_progress, look
            )
        facts = await probe_output(out_path)
    except BaseException:
        # Synchronous on purpose: local unlinks are instant, and they must run even while
        # the task is being cancelled.
        for path in (out_path, thumbnail, srt, vtt):
            path.unlink(missing_ok=True)
        raise
    on_progress(1.0, "Rendered the clip")
    return RenderedClip(
        path=out_path,
        width=facts.width,
        height=facts.height,
        duration_seconds=facts.duration_seconds,
        size_bytes=facts.size_bytes,
        thumbnail_path=thumbnail,
        srt_path=srt,
        vtt_path=vtt,
        framing=framing,
        stream_copied=cut is not None,
        look=source,
    )


async def _copy_cut(
    video: Path, start: float, end: float, options: JobOptions, media: MediaInfo, config: RenderConfig, look: SourceLook
) -> CopyCut | None:
    """The stream-copy cut when nothing needs re-encoding, else None."""
    assert media.width and media.height
    plan = plan_framing(media.width, media.height, options.aspect, None)
    unchanged = plan.mode == "full" and (plan.width, plan.height) == (media.width, media.height)
    if not config.stream_copy or options.captions or not unchanged or not codecs_copyable(media):
        return None
    packets = list(look.packets) if look.packets is not None else await probe_packets(video, start, end)
    if packets is None:
        return None
    tolerance = 0.5 / (media.fps or 25.0)
    video_ends = not any(p.pts > end + tolerance for p in packets)
    return copy_cut(packets, start, end, media.fps or 25.0, video_ends)


async def _copy(
    video: Path,
    cut: CopyCut,
    start: float,
    media: MediaInfo,
    out_path: Path,
    thumbnail: Path,
    config: RenderConfig,
    on_progress: ProgressCallback,
) -> None:
    message = "Copying the clip"

    async def copy() -> None:
        result = await run_ffmpeg(
            copy_command(video, cut, media.has_audio, out_path),
            total_seconds=cut.duration,
            on_fraction=lambda fraction: on_progress(fraction, message),
        )
        if result.returncode != 0:
            log.warning("ffmpeg stream copy failed with %s: %s", result.returncode, result.stderr_tail)
            raise _render_failed(start, start + cut.duration, result.stderr_tail, video)

    async def poster() -> None:
        # A copy decodes nothing: the hook frames come from the source, beside the copy.
        with tempfile.TemporaryDirectory(prefix="clipforge-render-") as tmp:
            hook = HookFrames(Path(tmp), min(config.thumbnail_window_seconds, cut.duration))
            result = await extract_hook(video, cut.start, hook, config.thumbnail_quality)
            if result.returncode != 0 or not await asyncio.to_thread(keep_best, hook, thumbnail):
                raise StageError("render_failed", "The clip was made but its thumbnail could not be taken.")

    await all_or_cancel(copy(), poster())


async def _encode(
    video: Path,
    start: float,
    end: float,
    words: list[Word],
    options: JobOptions,
    media: MediaInfo,
    out_path: Path,
    thumbnail: Path,
    config: RenderConfig,
    on_progress: ProgressCallback,
    look: SourceLook,
) -> tuple[FramingMode, LookSource]:
    assert media.width and media.height
    size = (media.width, media.height)
    duration = end - start
    looking = needs_faces(media.width, media.height, options.aspect)
    share = _FACE_LOOK_SHARE if looking else 0.0
    analysis = ClipAnalysis(samples=())
    camera = None
    source: LookSource = "none"
    if looking:
        stored = look.clip_faces(start, end, config, size)
        source = "prepass" if stored is not None else "inline"
        analysis = stored or await _find_faces(video, start, duration, media, config, on_progress)
        box = crop_box(media.width, media.height, options.aspect)
        axis = pan_axis(media.width, media.height, box)
        assert axis is not None
        params = TrackingParams(min_presence=config.face_min_presence)
        camera = camera_path(analysis.samples, size, (box.width, box.height), axis, params)
    plan = plan_framing(media.width, media.height, options.aspect, camera)
    message = "Rendering the clip"
    # Captions and hook frames live in a private temporary folder, removed afterwards.
    with tempfile.TemporaryDirectory(prefix="clipforge-render-") as tmp:
        captions = (
            write_captions(
                words, start, end, Path(tmp) / "captions.ass", plan.width, plan.height, config, options.caption_style
            )
            if options.captions
            else None
        )
        hook = HookFrames(Path(tmp), min(config.thumbnail_window_seconds, duration))
        argv = build_command(video, start, duration, plan, captions, media.has_audio, out_path, config, hook)
        result = await run_ffmpeg(
            argv,
            total_seconds=duration,
            on_fraction=lambda fraction: on_progress(share + fraction * (1 - share), message),
        )
        if result.returncode != 0:
            log.warning("ffmpeg failed with %s: %s", result.returncode, result.stderr_tail)
            raise _render_failed(start, end, result.stderr_tail, video)
        if not await asyncio.to_thread(keep_best, hook, thumbnail, analysis.has_face_at):
            raise StageError("render_failed", "The clip was made but its thumbnail could not be taken.")
    return plan.mode, source


async def _find_faces(
    video: Path, start: float, duration: float, media: MediaInfo, config: RenderConfig, on_progress: ProgressCallback
) -> ClipAnalysis:
    assert media.width and media.height
    try:
        return await find_faces(
            video,
            start,
            duration,
            (media.width, media.height),
            config,
            on_fraction=lambda fraction: on_progress(fraction * _FACE_LOOK_SHARE, "Looking for faces"),
        )
    except FrameSamplingError as error:
        raise _render_failed(start, start + duration, error.stderr_tail, video) from error


async def render_clips(
    video: Path,
    highlights: list[Highlight],
    transcript: Transcript,
    options: JobOptions,
    media: MediaInfo,
    out_dir: Path,
    config: RenderConfig | None = None,
    on_progress: ProgressCallback = ignore_progress,
    look: SourceLook | None = None,
) -> list[RenderedClip]:
    """Render every highlight to ``clip-01.mp4``, ``clip-02.mp4``, ... in ``out_dir``, up to
    ``config.concurrency`` at a time, in highlight order.

    Progress is one fraction over all clips, weighted by clip length. If one clip fails, the
    others are stopped and the first failure is raised.
    """
    config = config or RenderConfig()
    if not highlights:
        on_progress(1.0, "No clips to render")
        return []
    lengths = [end - start for start, end in (clip_bounds(h, media) for h in highlights)]
    overall = OverallProgress(lengths, on_progress)
    words = transcript.words
    slots = asyncio.Semaphore(config.concurrency)
    on_progress(0.0, overall.message())

    async def one(index: int, highlight: Highlight) -> RenderedClip:
        async with slots:
            out_path = out_dir / f"clip-{index + 1:02d}.mp4"
            progress = overall.for_clip(index)
            return await render_clip(video, highlight, words, options, media, out_path, config, progress, look)

    clips = await all_or_cancel(*(one(index, highlight) for index, highlight in enumerate(highlights)))
    on_progress(1.0, f"Rendered {len(clips)} clip{'s' if len(clips) != 1 else ''}")
    return clips


def _render_failed(start: float, end: float, stderr_tail: str, video: Path) -> StageError:
    return StageError(
        "render_failed",
        f"The clip at {start:.1f}-{end:.1f} s could not be made: {_readable(stderr_tail, video)}",
    )


# Known ffmpeg complaints, said the way a person would understand them.
_PLAIN_CAUSES: tuple[tuple[str, str], ...] = (
    ("Invalid data found when processing input", "the video file seems damaged or incomplete"),
    ("moov atom not found", "the video file seems damaged or incomplete"),
    ("No such file or directory", "the video file is missing"),
    ("No space left on device", "the server ran out of disk space"),
)


def _readable(stderr_tail: str, video: Path) -> str:
    """Why ffmpeg failed, in plain words plus its own last complaint, without our paths."""
    lines = [line.strip() for line in stderr_tail.splitlines() if line.strip()]
    if not lines:
        return "the video converter stopped without saying why."
    detail = lines[-1].replace(f"{video}: ", "").replace(str(video), "the video")
    if len(detail) > _MAX_DETAIL_CHARS:
        detail = detail[: _MAX_DETAIL_CHARS - 1] + "…"
    cause = next((plain for known, plain in _PLAIN_CAUSES if known in stderr_tail), None)
    return f"{cause} ({detail})." if cause else f"{detail}."
