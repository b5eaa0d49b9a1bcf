"""The one ffmpeg pass that renders a clip: framing, burned captions, H.264/AAC mp4 and the
thumbnail JPEG taken from the same decoded frames."""

from __future__ import annotations

from pathlib import Path

import ffmpeg

from clipforge.render.config import RenderConfig
from clipforge.render.framing import FramingPlan, apply_framing
from clipforge.render.thumbnail import HOOK_FPS, HookFrames


def build_command(
    video: Path,
    start: float,
    duration: float,
    plan: FramingPlan,
    captions: Path | None,
    with_audio: bool,
    out_path: Path,
    config: RenderConfig,
    hook: HookFrames | None = None,
) -> list[str]:
    """The ffmpeg argv for one clip."""
    # Seeking on the input is frame-accurate when re-encoding and restarts timestamps at
    # zero, which is what the clip-relative caption times and the crop path expect.
    source = ffmpeg.input(str(video), ss=f"{start:.3f}", t=f"{duration:.3f}")
    picture = apply_framing(source.video, plan)
    still = None
    if hook is not None:
        # Thumbnail candidates: the framed picture of the hook without captions, so the
        # chosen one reads as a poster.
        branches = picture.split()
        picture, still = branches[0], branches[1]
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
    outputs = [ffmpeg.output(*streams, str(out_path), **codecs)]
    if still is not None and hook is not None:
        frames = still.trim(end=f"{hook.seconds:.3f}").filter("fps", HOOK_FPS).filter("format", "yuvj420p")
        outputs.append(ffmpeg.output(frames, str(hook.pattern), **{"q:v": config.thumbnail_quality}))
    return ffmpeg.merge_outputs(*outputs).global_args("-loglevel", "error").overwrite_output().compile()
