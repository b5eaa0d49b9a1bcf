"""The look at a clip before it is rendered: faces to follow and frames sharp enough for a thumbnail.

One ffmpeg decode of the clip's stretch yields a few small grey frames a second; detection runs
in a worker thread while ffmpeg keeps decoding, so the event loop stays free.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from clipforge.render.config import RenderConfig
from clipforge.render.faces import FaceBox, detect_faces, sharpness
from clipforge.render.frames import FrameSampling, SampledFrame, sample_frames
from clipforge.render.tracking import FaceSample

# Without faces to follow only the hook is looked at, for the thumbnail: a few frames a second.
_THUMBNAIL_SAMPLE_FPS = 4.0


@dataclass(frozen=True)
class FrameFacts:
    time: float  # seconds from the clip start
    faces: tuple[FaceBox, ...]
    sharpness: float
    brightness: float  # mean grey level 0-255


@dataclass(frozen=True)
class ClipAnalysis:
    frames: tuple[FrameFacts, ...]
    looked_for_faces: bool

    def face_samples(self) -> list[FaceSample]:
        return [FaceSample(time=f.time, faces=f.faces) for f in self.frames]


def _facts(frame: SampledFrame, find_faces: bool, thumbnail_window: float) -> FrameFacts:
    in_hook = frame.time <= thumbnail_window
    return FrameFacts(
        time=frame.time,
        faces=tuple(detect_faces(frame.pixels, frame.scale)) if find_faces else (),
        sharpness=sharpness(frame.pixels) if in_hook else 0.0,
        brightness=float(frame.pixels.mean()),
    )


async def analyse_clip(
    video: Path,
    start: float,
    duration: float,
    source_size: tuple[int, int],
    *,
    find_faces: bool,
    config: RenderConfig,
    on_fraction: Callable[[float], None] = lambda _fraction: None,
) -> ClipAnalysis:
    """Sample the clip (all of it when looking for faces, else only the hook) and describe each sample."""
    window = min(config.thumbnail_window_seconds, duration)
    sampling = FrameSampling(
        start=start,
        duration=duration if find_faces else window,
        fps=config.face_sample_fps if find_faces else _THUMBNAIL_SAMPLE_FPS,
        width=config.face_detect_width,
    )
    expected = max(sampling.duration * sampling.fps, 1.0)
    facts: list[FrameFacts] = []
    frames = sample_frames(video, sampling, *source_size)
    async with contextlib.aclosing(frames):
        async for frame in frames:
            facts.append(await asyncio.to_thread(_facts, frame, find_faces, window))
            on_fraction(min(len(facts) / expected, 1.0))
    return ClipAnalysis(frames=tuple(facts), looked_for_faces=find_faces)
