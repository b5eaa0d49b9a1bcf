"""Stream copy: a clip cut without re-encoding, when that gives exactly the clip asked for.

That is when nothing about the picture changes (whole frame, no burned captions), the source is
already H.264/AAC, and both cut points fall on keyframes, checked on the real packets with
ffprobe: the clip then starts on a frame that decodes on its own, and every packet in it is the
source's packet, bit for bit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from clipforge.shared.models import MediaInfo
from clipforge.shared.process import run_process

# How far around the clip ffprobe reads packets: enough to see the keyframes at both ends.
_READ_MARGIN_SECONDS = 3.0
_COPYABLE_VIDEO = frozenset({"h264"})
_COPYABLE_AUDIO = frozenset({"aac"})


@dataclass(frozen=True)
class Packet:
    pts: float
    dts: float
    key: bool


@dataclass(frozen=True)
class CopyCut:
    """The clip as a stretch of source packets: it starts on the keyframe at ``start``."""

    start: float
    duration: float
    frames: int


def codecs_copyable(media: MediaInfo) -> bool:
    return media.video_codec in _COPYABLE_VIDEO and (not media.has_audio or media.audio_codec in _COPYABLE_AUDIO)


def packets_command(video: Path, start: float, end: float) -> list[str]:
    return [
        "ffprobe",
        "-v",
        "error",
        "-select_streams",
        "v:0",
        "-read_intervals",
        f"{max(start - _READ_MARGIN_SECONDS, 0.0):.3f}%{end + _READ_MARGIN_SECONDS:.3f}",
        "-show_entries",
        "packet=pts_time,dts_time,flags",
        "-of",
        "json",
        str(video),
    ]


async def probe_packets(video: Path, start: float, end: float) -> list[Packet] | None:
    """The video packets around ``[start, end]`` in decode order, or None if their times are unknown."""
    result = await run_process(packets_command(video, start, end))
    if result.returncode != 0:
        return None
    return parse_packets("\n".join(result.stdout_lines))


def parse_packets(output: str) -> list[Packet] | None:
    """ffprobe's JSON packet list as packets, or None if their times are unknown."""
    try:
        raw = json.loads(output).get("packets", [])
        return [Packet(float(p["pts_time"]), float(p["dts_time"]), "K" in p.get("flags", "")) for p in raw]
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # "N/A" times: nothing to check a cut against


def copy_cut(packets: list[Packet], start: float, end: float, fps: float, video_ends: bool) -> CopyCut | None:
    """The cut as packets if ``start`` and ``end`` are on keyframes (``end`` may instead be the
    end of the video when ``video_ends``), else None."""
    if not packets:
        return None
    tolerance = 0.5 / max(fps, 1.0)
    first = _keyframe_at(packets, start, tolerance)
    if first is None:
        return None
    last = None if video_ends else _keyframe_at(packets, end, tolerance)
    if last is None and not video_ends:
        return None
    inside = [p for p in packets if p.pts >= first.pts - 1e-6 and (last is None or p.pts < last.pts - 1e-6)]
    # Decode order must agree with the cut: nothing shown in the clip may depend on a packet
    # outside it (open GOPs, frames reordered across a keyframe).
    in_decode_span = [p for p in packets if p.dts >= first.dts - 1e-6 and (last is None or p.dts < last.dts - 1e-6)]
    if not inside or set(inside) != set(in_decode_span):
        return None
    stop = last.pts if last is not None else max(p.pts for p in inside) + 1.0 / max(fps, 1.0)
    return CopyCut(start=first.pts, duration=stop - first.pts, frames=len(inside))


def _keyframe_at(packets: list[Packet], time: float, tolerance: float) -> Packet | None:
    return next((p for p in packets if p.key and abs(p.pts - time) <= tolerance), None)


def copy_command(video: Path, cut: CopyCut, with_audio: bool, out_path: Path) -> list[str]:
    """The ffmpeg argv that copies the cut: video by frame count (exact), audio by time."""
    audio = ["-map", "0:a:0"] if with_audio else []
    return [
        "ffmpeg",
        "-loglevel",
        "error",
        "-y",
        # The exact keyframe time: the demuxer lands on that keyframe, not the one before it.
        "-ss",
        f"{cut.start:.6f}",
        "-i",
        str(video),
        "-t",
        f"{cut.duration:.6f}",
        "-map",
        "0:v:0",
        *audio,
        "-frames:v",
        str(cut.frames),
        "-c",
        "copy",
        "-map_metadata",
        "-1",
        "-movflags",
        "+faststart",
        str(out_path),
    ]
