"""Word-level captions as an ASS subtitle file: short lines with the spoken word highlighted.

Each word gets one event that shows its whole line with that word in the active style, so
the highlight moves word by word while the line stays put.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pysubs2

from clipforge.render.config import RenderConfig
from clipforge.shared.models import Word

# Every word is on screen at least this long, even when the transcript gives it no duration.
MIN_WORD_SECONDS = 0.2
# A silence this long starts a new caption line.
LINE_PAUSE_SECONDS = 0.6

STYLE = "Caption"
ACTIVE_STYLE = "CaptionActive"

_WHITE = pysubs2.Color(255, 255, 255)
_YELLOW = pysubs2.Color(255, 214, 0)
_BLACK = pysubs2.Color(0, 0, 0)
_SHADOW = pysubs2.Color(0, 0, 0, 96)  # alpha 0 is opaque in ASS


@dataclass(frozen=True)
class TimedWord:
    """A word with times relative to the clip start, already clipped to the clip."""

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class CaptionEvent:
    start: float
    end: float
    line: tuple[str, ...]
    active: int


def clip_words(words: list[Word], clip_start: float, clip_end: float) -> list[TimedWord]:
    """The words spoken during the clip, in order, with times relative to its start."""
    length = clip_end - clip_start
    timed: list[TimedWord] = []
    for word in sorted(words, key=lambda w: (w.start, w.end)):
        text = _ass_safe(word.text.strip())
        end = max(word.end, word.start)
        inside = (word.start < clip_end and end > clip_start) or clip_start <= word.start < clip_end
        if not text or not inside:
            continue
        timed.append(
            TimedWord(
                start=min(max(word.start - clip_start, 0.0), length),
                end=min(max(end - clip_start, 0.0), length),
                text=text,
            )
        )
    return timed


def group_lines(words: list[TimedWord], config: RenderConfig) -> list[list[TimedWord]]:
    """Short lines: at most ``max_words_per_caption`` words and ``max_chars_per_caption``
    characters, broken after a sentence end and at a pause."""
    lines: list[list[TimedWord]] = []
    line: list[TimedWord] = []
    for word in words:
        if line and (
            len(line) >= config.max_words_per_caption
            or len(" ".join(w.text for w in [*line, word])) > config.max_chars_per_caption
            or ends_sentence(line[-1].text)
            or word.start - line[-1].end >= LINE_PAUSE_SECONDS
        ):
            lines.append(line)
            line = []
        line.append(word)
    if line:
        lines.append(line)
    return lines


def caption_events(words: list[TimedWord], clip_length: float, config: RenderConfig) -> list[CaptionEvent]:
    """One event per word, back to back, each visible for a positive time inside the clip."""
    lines = group_lines(words, config)
    flat = [(line_index, position) for line_index, line in enumerate(lines) for position in range(len(line))]
    if not flat or clip_length <= 0:
        return []
    ordered = [lines[i][p] for i, p in flat]
    min_seconds = min(MIN_WORD_SECONDS, clip_length / len(ordered))

    # Starts: no earlier than the word, at least min_seconds after the previous start, and
    # pulled back where needed so the last words still fit before the clip ends.
    starts = [0.0] * len(ordered)
    previous = float("-inf")
    for index, word in enumerate(ordered):
        starts[index] = previous = max(word.start, previous + min_seconds)
    limit = clip_length
    for index in range(len(ordered) - 1, -1, -1):
        starts[index] = limit = min(starts[index], limit - min_seconds)

    events: list[CaptionEvent] = []
    for index, ((line_index, position), word) in enumerate(zip(flat, ordered, strict=True)):
        line = lines[line_index]
        next_start = starts[index + 1] if index + 1 < len(ordered) else clip_length
        if position + 1 < len(line):
            end = next_start  # keep the line on screen through short gaps between its words
        else:
            end = min(max(word.end, starts[index] + min_seconds), next_start)
        events.append(
            CaptionEvent(
                start=starts[index],
                end=end,
                line=tuple(w.text for w in line),
                active=position,
            )
        )
    return events


def caption_styles(width: int, height: int, config: RenderConfig) -> dict[str, pysubs2.SSAStyle]:
    # Sized from the frame height, capped by the width so a portrait line still fits.
    font_size = max(round(min(height * 0.055, width * 0.07)), 8)
    portrait = height > width
    base = pysubs2.SSAStyle(
        fontname=config.caption_font,
        fontsize=font_size,
        primarycolor=_WHITE,
        outlinecolor=_BLACK,
        backcolor=_SHADOW,
        bold=True,
        borderstyle=1,
        outline=max(round(font_size * 0.09, 1), 1.0),
        shadow=max(round(font_size * 0.04, 1), 0.5),
        alignment=pysubs2.Alignment.BOTTOM_CENTER,
        marginl=round(width * 0.05),
        marginr=round(width * 0.05),
        # Lower safe area: clear of the frame edge, and higher on portrait frames where apps
        # overlay their own buttons and captions.
        marginv=round(height * (0.16 if portrait else 0.08)),
    )
    active = base.copy()
    active.primarycolor = _YELLOW
    return {STYLE: base, ACTIVE_STYLE: active}


def write_captions(
    words: list[Word],
    clip_start: float,
    clip_end: float,
    path: Path,
    width: int,
    height: int,
    config: RenderConfig,
) -> Path:
    """Write the ASS captions for the clip ``[clip_start, clip_end]`` of the source to ``path``."""
    subs = pysubs2.SSAFile()
    subs.info["PlayResX"] = str(width)
    subs.info["PlayResY"] = str(height)
    subs.info["WrapStyle"] = "0"
    subs.info["ScaledBorderAndShadow"] = "yes"
    subs.styles.clear()
    subs.styles.update(caption_styles(width, height, config))

    for event in caption_events(clip_words(words, clip_start, clip_end), clip_end - clip_start, config):
        start_ms = _centiseconds_ms(event.start)
        # ASS keeps centiseconds: make sure rounding never leaves an event with no time.
        end_ms = max(_centiseconds_ms(event.end), start_ms + 10)
        subs.events.append(pysubs2.SSAEvent(start=start_ms, end=end_ms, text=_line_text(event), style=STYLE))

    path.parent.mkdir(parents=True, exist_ok=True)
    subs.save(str(path), encoding="utf-8", format_="ass")
    return path


def ends_sentence(text: str) -> bool:
    return text.rstrip("\"')]\u00bb\u201d\u2019").endswith((".", "?", "!", "…"))


def _line_text(event: CaptionEvent) -> str:
    return " ".join(
        f"{{\\r{ACTIVE_STYLE}}}{text}{{\\r}}" if index == event.active else text
        for index, text in enumerate(event.line)
    )


def _centiseconds_ms(seconds: float) -> int:
    return round(seconds * 100) * 10


def _ass_safe(text: str) -> str:
    # Braces open override blocks and a backslash starts an escape (\N, \h) in ASS text.
    return text.replace("{", "(").replace("}", ")").replace("\\", "/")
