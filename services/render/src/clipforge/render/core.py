"""Cutting highlight clips out of a video with ffmpeg: reframed, with burned-in captions."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from clipforge.render.captions import write_captions
from clipforge.render.config import RenderConfig
from clipforge.render.geometry import CropBox, crop_box, output_size
from clipforge.render.probe import probe_output
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


@dataclass(frozen=True)
class RenderedClip:
    path: Path
    width: int
    height: int
    duration_seconds: float
    size_bytes: int


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


def build_command(
    video: Path,
    start: float,
    duration: float,
    box: CropBox,
    captions: Path | None,
    with_audio: bool,
    out_path: Path,
    config: RenderConfig,
) -> list[str]:
    """The ffmpeg argv for one clip."""
    # Seeking on the input is frame-accurate when re-encoding and restarts timestamps at
    # zero, which is what the clip-relative caption times expect.
    source = ffmpeg.input(str(video), ss=f"{start:.3f}", t=f"{duration:.3f}")
    picture = source.video.filter("crop", w=box.width, h=box.height, x=box.x, y=box.y).filter("setsar", 1)
    if captions is not None:
        # Passed as a keyword: ffmpeg-python escapes it for both the filter and the graph.
        picture = picture.filter("ass", filename=str(captions))
    streams = [picture, source.audio] if with_audio else [picture]
    codecs: dict[str, str | int] = {
        "c:v": "libx264",
        "preset": config.video_preset,
        "crf": config.crf,
        "pix_fmt": "yuv420p",
        "movflags": "+faststart",
        "map_metadata": -1,
    }
    if with_audio:
        codecs |= {"c:a": "aac", "b:a": config.audio_bitrate}
    return (
        ffmpeg.output(*streams, str(out_path), **codecs).global_args("-loglevel", "error").overwrite_output().compile()
    )


async def render_clip(
    video: Path,
    highlight: Highlight,
    words: list[Word],
    options: JobOptions,
    media: MediaInfo,
    out_path: Path,
    config: RenderConfig | None = None,
    on_progress: ProgressCallback = ignore_progress,
) -> RenderedClip:
    """Render one highlight of ``video`` to ``out_path`` (mp4: H.264 + AAC, faststart)."""
    config = config or RenderConfig()
    if not media.has_video or not media.width or not media.height:
        raise StageError("no_video", "This file has no picture, so no video clips can be made from it.")
    start, end = clip_bounds(highlight, media)
    box = crop_box(media.width, media.height, options.aspect)
    message = "Rendering the clip"
    out_path.parent.mkdir(parents=True, exist_ok=True)

    try:
        # Captions live in a private temporary folder: a plain path, removed afterwards.
        with tempfile.TemporaryDirectory(prefix="clipforge-render-") as tmp:
            captions = (
                write_captions(words, start, end, Path(tmp) / "captions.ass", box.width, box.height, config)
                if options.captions
                else None
            )
            argv = build_command(video, start, end - start, box, captions, media.has_audio, out_path, config)
            result = await run_ffmpeg(
                argv, total_seconds=end - start, on_fraction=lambda fraction: on_progress(fraction, message)
            )
        if result.returncode != 0:
            log.warning("ffmpeg failed with %s: %s", result.returncode, result.stderr_tail)
            raise StageError(
                "render_failed",
                f"The clip at {start:.1f}-{end:.1f} s could not be made: {_readable(result.stderr_tail, video)}",
            )
        facts = await probe_output(out_path)
    except BaseException:
        # Synchronous on purpose: one local unlink is instant, and it must run even while
        # the task is being cancelled.
        out_path.unlink(missing_ok=True)  # noqa: ASYNC240
        raise
    on_progress(1.0, message)
    return RenderedClip(
        path=out_path,
        width=facts.width,
        height=facts.height,
        duration_seconds=facts.duration_seconds,
        size_bytes=facts.size_bytes,
    )


async def render_clips(
    video: Path,
    highlights: list[Highlight],
    transcript: Transcript,
    options: JobOptions,
    media: MediaInfo,
    out_dir: Path,
    config: RenderConfig | None = None,
    on_progress: ProgressCallback = ignore_progress,
) -> list[RenderedClip]:
    """Render every highlight in order to ``clip-01.mp4``, ``clip-02.mp4``, ... in ``out_dir``.

    Progress is one fraction over all clips, weighted by clip length.
    """
    if not highlights:
        on_progress(1.0, "No clips to render")
        return []
    lengths = [end - start for start, end in (clip_bounds(h, media) for h in highlights)]
    overall = _OverallProgress(sum(lengths), on_progress)
    words = transcript.words
    clips: list[RenderedClip] = []
    done = 0.0
    for index, (highlight, length) in enumerate(zip(highlights, lengths, strict=True), start=1):
        report = overall.for_clip(done, length, f"Rendering clip {index} of {len(highlights)}")
        report(0.0, "")
        out_path = out_dir / f"clip-{index:02d}.mp4"
        clips.append(await render_clip(video, highlight, words, options, media, out_path, config, report))
        done += length
    on_progress(1.0, f"Rendered {len(clips)} clip{'s' if len(clips) != 1 else ''}")
    return clips


class _OverallProgress:
    """One fraction over all clips, weighted by clip length and never going backwards."""

    def __init__(self, total_seconds: float, on_progress: ProgressCallback) -> None:
        self.total_seconds = max(total_seconds, 1e-6)
        self.on_progress = on_progress
        self.reported = 0.0

    def for_clip(self, done_seconds: float, clip_seconds: float, message: str) -> ProgressCallback:
        def report(fraction: float, _message: str) -> None:
            overall = (done_seconds + fraction * clip_seconds) / self.total_seconds
            self.reported = max(self.reported, min(overall, 1.0))
            self.on_progress(self.reported, message)

        return report


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
