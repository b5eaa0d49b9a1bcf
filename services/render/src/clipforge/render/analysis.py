"""The look at a clip before it is rendered: where the faces are, a few times a second.

One ffmpeg decode of the clip's stretch yields small grey frames; detection runs in a worker
thread while ffmpeg keeps decoding, so the event loop stays free. Only needed when the frame
changes shape: otherwise there is nothing to decide.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from clipforge.render.config import RenderConfig
from clipforge.render.faces import FaceBox, detect_faces, detect_near
from clipforge.render.frames import FrameSampling, SampledFrame, sample_frames
from clipforge.render.tracking import FaceSample

# Faces searched for near where they were: the largest few, the others are the audience.
_FOLLOWED_AT_ONCE = 3


@dataclass(frozen=True)
class ClipAnalysis:
    samples: tuple[FaceSample, ...]

    def has_face_at(self, time: float) -> bool:
        """Whether a face was seen in the sample nearest ``time`` (seconds into the clip)."""
        if not self.samples:
            return False
        nearest = min(self.samples, key=lambda sample: abs(sample.time - time))
        return bool(nearest.faces)


class FaceFinder:
    """Whole-frame searches about once a second; in between, only near the faces just seen.

    Following a known face costs a fraction of a whole-frame search; the regular whole-frame
    search still catches faces that appear, and any sample where a followed face is lost
    falls back to one at once.
    """

    def __init__(self, fps: float, full_search_seconds: float = 1.0) -> None:
        self.full_every = max(round(fps * full_search_seconds), 1)
        self.since_full = self.full_every
        self.known: tuple[FaceBox, ...] = ()

    def __call__(self, frame: SampledFrame) -> tuple[FaceBox, ...]:
        faces: tuple[FaceBox, ...] = ()
        if self.since_full < self.full_every:
            if not self.known:
                self.since_full += 1
                return ()
            faces = tuple(box for known in self.known for box in detect_near(frame.pixels, frame.scale, known))
        if faces:
            self.since_full += 1
        else:
            faces = tuple(detect_faces(frame.pixels, frame.scale))
            self.since_full = 1
        self.known = faces[:_FOLLOWED_AT_ONCE]
        return faces


async def find_faces(
    video: Path,
    start: float,
    duration: float,
    source_size: tuple[int, int],
    config: RenderConfig,
    on_fraction: Callable[[float], None] = lambda _fraction: None,
) -> ClipAnalysis:
    """The faces in ``config.face_sample_fps`` frames a second of ``[start, start + duration)``."""
    sampling = FrameSampling(start=start, duration=duration, fps=config.face_sample_fps, width=config.face_detect_width)
    expected = max(duration * sampling.fps, 1.0)
    samples: list[FaceSample] = []
    finder = FaceFinder(sampling.fps)
    frames = sample_frames(video, sampling, *source_size)
    async with contextlib.aclosing(frames):
        async for frame in frames:
            samples.append(FaceSample(time=frame.time, faces=await asyncio.to_thread(finder, frame)))
            on_fraction(min(len(samples) / expected, 1.0))
    return ClipAnalysis(samples=tuple(samples))
