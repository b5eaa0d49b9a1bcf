"""ffprobe as an async call (a subprocess, so the event loop stays free)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from clipforge.shared.process import run_process


async def ffprobe(path: Path) -> dict[str, Any] | None:
    """ffprobe's format and streams of ``path``; None when it cannot read the file as media."""
    result = await run_process(["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)])
    if result.returncode != 0:
        return None
    try:
        info: dict[str, Any] = json.loads("\n".join(result.stdout_lines))
    except json.JSONDecodeError:
        return None
    return info if info.get("streams") else None


def stream_types(info: dict[str, Any]) -> set[str]:
    """Codec types present, leaving out cover art (an attached picture is not video)."""
    return {
        stream.get("codec_type", "")
        for stream in info.get("streams", [])
        if not stream.get("disposition", {}).get("attached_pic")
    }
