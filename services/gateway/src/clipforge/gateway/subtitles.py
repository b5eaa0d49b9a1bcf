"""SRT and WebVTT renderings of a transcript, one cue per segment."""

from __future__ import annotations

from clipforge.shared.models import Transcript


def _timestamp(seconds: float, separator: str) -> str:
    millis = max(round(seconds * 1000), 0)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def to_srt(transcript: Transcript) -> str:
    cues = []
    for number, segment in enumerate((s for s in transcript.segments if s.text.strip()), start=1):
        start, end = _timestamp(segment.start, ","), _timestamp(segment.end, ",")
        cues.append(f"{number}\n{start} --> {end}\n{segment.text.strip()}\n")
    return "\n".join(cues)


def to_vtt(transcript: Transcript) -> str:
    cues = [
        f"{_timestamp(segment.start, '.')} --> {_timestamp(segment.end, '.')}\n{segment.text.strip()}\n"
        for segment in transcript.segments
        if segment.text.strip()
    ]
    return "WEBVTT\n\n" + "\n".join(cues)
