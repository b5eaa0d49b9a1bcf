"""SRT and WebVTT files beside each clip: one cue per caption line, times relative to the clip.

They carry the same lines and timings as the burned-in captions, in plain sentence case, for
players and platforms that show their own subtitles.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pysubs2

from clipforge.render.captions import CaptionEvent, caption_events, centiseconds_ms
from clipforge.render.config import RenderConfig
from clipforge.render.words import clip_words
from clipforge.shared.models import Word


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


def cues(words: list[Word], clip_start: float, clip_end: float, config: RenderConfig) -> list[Cue]:
    events = caption_events(clip_words(words, clip_start, clip_end), clip_end - clip_start, config)
    by_line: dict[int, list[CaptionEvent]] = {}
    for event in events:
        by_line.setdefault(event.line_index, []).append(event)
    return [Cue(start=line[0].start, end=line[-1].end, text=" ".join(line[0].line)) for line in by_line.values()]


def write_sidecars(cue_list: list[Cue], srt_path: Path, vtt_path: Path) -> tuple[Path, Path]:
    subs = pysubs2.SSAFile()
    for cue in cue_list:
        start_ms = centiseconds_ms(cue.start)
        end_ms = max(centiseconds_ms(cue.end), start_ms + 10)
        subs.events.append(pysubs2.SSAEvent(start=start_ms, end=end_ms, text=cue.text))
    srt_path.parent.mkdir(parents=True, exist_ok=True)
    subs.save(str(srt_path), encoding="utf-8", format_="srt")
    subs.save(str(vtt_path), encoding="utf-8", format_="vtt")
    return srt_path, vtt_path
