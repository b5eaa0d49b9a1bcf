"""Reading back what ffmpeg wrote: size and length of a rendered clip."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from clipforge.shared.errors import StageError
from clipforge.shared.process import run_process


@dataclass(frozen=True)
class OutputFacts:
    width: int
    height: int
    duration_seconds: float
    size_bytes: int


async def probe_output(path: Path) -> OutputFacts:
    result = await run_process(
        [
            "ffprobe",
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_entries",
            "format=duration,size:stream=codec_type,width,height",
            str(path),
        ]
    )
    try:
        if result.returncode != 0:
            raise ValueError(result.stderr_tail)
        data = json.loads("\n".join(result.stdout_lines))
        video = next(s for s in data["streams"] if s.get("codec_type") == "video")
        return OutputFacts(
            width=int(video["width"]),
            height=int(video["height"]),
            duration_seconds=float(data["format"]["duration"]),
            size_bytes=int(data["format"]["size"]),
        )
    except (ValueError, KeyError, StopIteration) as exc:
        raise StageError("render_failed", "The clip was made but could not be read back, so it was discarded.") from exc
