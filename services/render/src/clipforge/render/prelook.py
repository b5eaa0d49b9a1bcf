"""The look ahead: the source's faces and keyframes, found while the job is still transcribing.

Rendering can only start once the highlights are known, but what the render stage looks for in
the picture does not depend on them: where the faces are (to follow one in a reframed clip) and
where the keyframes are (to copy a clip without re-encoding). The render service works that out
for the whole source as soon as the media is ready, while transcription and analysis run, and
keeps it in the job's media folder:

- ``look/keyframes.json``: every video packet's times and key flag (an ffprobe packet scan,
  nothing decoded), which is what the stream-copy check reads around each clip;
- ``look/faces.json``: the faces of ``face_sample_fps`` small grey frames a second of the whole
  source, by the same sampler, detector and parameters as a clip's own look (only when the job
  reframes, and only for sources up to a configurable length).

Both are written to a temporary file and renamed, so a reader sees a whole file or none. The
render stage uses them when they are there and falls back to looking at the clip itself when
they are not (still running, skipped, failed): they save time, never decide an outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from clipforge.render.analysis import ClipAnalysis, FaceFinder
from clipforge.render.config import RenderConfig
from clipforge.render.faces import FaceBox
from clipforge.render.fastpath import Packet, parse_packets
from clipforge.render.frames import FrameSampling, sample_frames
from clipforge.render.framing import needs_faces
from clipforge.render.tracking import FaceSample
from clipforge.shared.models import JobOptions, MediaInfo
from clipforge.shared.process import run_process

LOOK_DIR = "look"
FACES_FILE = "faces.json"
KEYFRAMES_FILE = "keyframes.json"
# Samples whose time differs from a clip edge by less than this count as on it (float noise).
_EDGE_EPSILON = 1e-6

M = TypeVar("M", bound=BaseModel)


class StoredFaces(BaseModel):
    """Face boxes (x, y, width, height in source pixels) of each sample, by time in the source."""

    fps: float
    width: int  # the sampled frames' width, as in ``FrameSampling``
    source_width: int
    source_height: int
    times: list[float]
    faces: list[list[tuple[float, float, float, float]]]


class StoredKeyframes(BaseModel):
    """Every video packet of the source in decode order: presentation and decode times, key flag."""

    pts: list[float]
    dts: list[float]
    key: list[bool]


@dataclass(frozen=True)
class SourceLook:
    """What the pre-pass found, as the render stage reads it; either part may be missing."""

    faces: StoredFaces | None = None
    packets: tuple[Packet, ...] | None = None

    def clip_faces(
        self, start: float, end: float, config: RenderConfig, source: tuple[int, int]
    ) -> ClipAnalysis | None:
        """The samples inside ``[start, end)`` with times from the clip's start, as a clip's own
        look would have them; None when the stored look was made differently (other sampling)."""
        faces = self.faces
        if faces is None or faces.fps != config.face_sample_fps or faces.width != config.face_detect_width:
            return None
        if (faces.source_width, faces.source_height) != source:
            return None
        samples = tuple(
            FaceSample(time=_clip_time(time, start, faces.fps), faces=tuple(FaceBox(*box) for box in boxes))
            for time, boxes in zip(faces.times, faces.faces, strict=True)
            if start - _EDGE_EPSILON <= time < end - _EDGE_EPSILON
        )
        return ClipAnalysis(samples=samples)


def _clip_time(time: float, start: float, fps: float) -> float:
    """Seconds into the clip; for a clip starting on the sampling grid, computed as the clip's
    own look computes it (sample number over fps), so both give the same camera path to the bit."""
    first = start * fps
    if abs(first - round(first)) < _EDGE_EPSILON:
        return (round(time * fps) - round(first)) / fps
    return time - start


def look_dir(job_dir: Path) -> Path:
    return job_dir / LOOK_DIR


def load_look(job_dir: Path) -> SourceLook:
    """The stored look of a job; parts that are absent or unreadable are None."""
    folder = look_dir(job_dir)
    faces = _load(folder / FACES_FILE, StoredFaces)
    keyframes = _load(folder / KEYFRAMES_FILE, StoredKeyframes)
    packets = (
        tuple(Packet(p, d, k) for p, d, k in zip(keyframes.pts, keyframes.dts, keyframes.key, strict=True))
        if keyframes is not None
        else None
    )
    return SourceLook(faces=faces, packets=packets)


def _load(path: Path, model: type[M]) -> M | None:
    try:
        return model.model_validate_json(path.read_bytes())
    except (OSError, ValueError):
        return None


def write_atomically(path: Path, data: BaseModel) -> None:
    """Temp file then rename: a reader sees the whole file or no file. The job's folder must
    exist: a job deleted meanwhile is not brought back."""
    path.parent.mkdir(exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(data.model_dump_json())
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)


def index_command(video: Path) -> list[str]:
    """Every video packet's times and flags: the demuxer only, nothing is decoded."""
    return [
        "ffprobe", "-v", "error", "-select_streams", "v:0",
        "-show_entries", "packet=pts_time,dts_time,flags", "-of", "json", str(video),
    ]  # fmt: skip


async def index_keyframes(video: Path) -> StoredKeyframes | None:
    result = await run_process(index_command(video))
    if result.returncode != 0:
        return None
    packets = parse_packets("\n".join(result.stdout_lines))
    if packets is None:
        return None
    return StoredKeyframes(pts=[p.pts for p in packets], dts=[p.dts for p in packets], key=[p.key for p in packets])


async def look_at_source(
    video: Path,
    media: MediaInfo,
    config: RenderConfig,
    should_stop: Callable[[], bool] = lambda: False,
) -> StoredFaces | None:
    """The faces of the whole source, sampled and detected exactly as a clip's own look does;
    None when ``should_stop`` said so part-way (the check runs once per sample)."""
    assert media.width and media.height
    # From 0 and as long as the source: the samples fall at k / fps, the grid a clip starting on
    # it would sample too.
    sampling = FrameSampling(
        start=0.0, duration=media.duration_seconds + 1.0, fps=config.face_sample_fps, width=config.face_detect_width
    )
    finder = FaceFinder(sampling.fps)
    times: list[float] = []
    faces: list[list[tuple[float, float, float, float]]] = []
    frames = sample_frames(video, sampling, media.width, media.height)
    async with contextlib.aclosing(frames):
        async for frame in frames:
            if should_stop():
                return None
            found = await asyncio.to_thread(finder, frame)
            times.append(frame.time)
            faces.append([(box.x, box.y, box.width, box.height) for box in found])
    return StoredFaces(
        fps=sampling.fps,
        width=sampling.width,
        source_width=media.width,
        source_height=media.height,
        times=times,
        faces=faces,
    )


def wants_faces(options: JobOptions, media: MediaInfo) -> bool:
    if not media.has_video or not media.width or not media.height:
        return False
    return needs_faces(media.width, media.height, options.aspect)


async def prepare_look(
    video: Path,
    job_dir: Path,
    options: JobOptions,
    media: MediaInfo,
    config: RenderConfig,
    max_face_seconds: float,
    should_stop: Callable[[], bool] = lambda: False,
) -> dict[str, str]:
    """Write the parts of the look the job can use that are not written yet; what happened to
    each part (``written``, ``present``, ``skipped``, ``failed``, ``stopped``)."""
    folder = look_dir(job_dir)
    done: dict[str, str] = {}
    if not media.has_video:
        return {"keyframes": "skipped", "faces": "skipped"}
    if (folder / KEYFRAMES_FILE).exists():
        done["keyframes"] = "present"
    else:
        index = await index_keyframes(video)
        if index is not None and not should_stop():
            write_atomically(folder / KEYFRAMES_FILE, index)
        done["keyframes"] = "written" if index is not None else "failed"
    if not wants_faces(options, media) or media.duration_seconds > max_face_seconds:
        done["faces"] = "skipped"
    elif (folder / FACES_FILE).exists():
        done["faces"] = "present"
    else:
        stored = await look_at_source(video, media, config, should_stop)
        if stored is None:
            done["faces"] = "stopped"
        else:
            write_atomically(folder / FACES_FILE, stored)
            done["faces"] = "written"
    return done
