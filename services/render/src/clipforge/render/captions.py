"""Word-level captions as an ASS subtitle file, in one of the presets.

Lines are short and stay put while the spoken word changes. ``bold`` and ``clean`` write one
event per word that shows its whole line with that word in the active style (``bold`` also
pops it); ``karaoke`` writes one event per line whose words fill with colour as they are said.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pysubs2

from clipforge.render.config import RenderConfig
from clipforge.render.presets import PRESETS, CaptionPreset, chars_per_line, font_size, safe_area
from clipforge.render.words import TimedWord, clip_words
from clipforge.shared.models import CaptionStyle, Word

# Every word is on screen at least this long, even when the transcript gives it no duration.
MIN_WORD_SECONDS = 0.2
# A silence this long starts a new caption line.
LINE_PAUSE_SECONDS = 0.6
# The spoken word of ``bold`` grows this much and settles back over the first moments.
_POP_SCALE = 112
_POP_MS = 90

STYLE = "Caption"
ACTIVE_STYLE = "CaptionActive"

__all__ = [
    "ACTIVE_STYLE",
    "STYLE",
    "CaptionEvent",
    "caption_events",
    "caption_styles",
    "clip_words",
    "ends_sentence",
    "group_lines",
    "write_captions",
]


@dataclass(frozen=True)
class CaptionEvent:
    """One word's time on screen, with the line it is shown in."""

    start: float
    end: float
    line: tuple[str, ...]
    active: int
    line_index: int


def group_lines(
    words: list[TimedWord], config: RenderConfig, max_words: int | None = None, max_chars: int | None = None
) -> list[list[TimedWord]]:
    """Short lines: at most ``max_words`` (a preset's; else ``max_words_per_caption``) words and
    ``max_chars_per_caption`` characters (fewer if ``max_chars`` says so), broken after a
    sentence end and at a pause."""
    limit = max_words or config.max_words_per_caption
    char_limit = min(max_chars or config.max_chars_per_caption, config.max_chars_per_caption)
    lines: list[list[TimedWord]] = []
    line: list[TimedWord] = []
    for word in words:
        if line and (
            len(line) >= limit
            or len(" ".join(w.text for w in [*line, word])) > char_limit
            or ends_sentence(line[-1].text)
            or word.start - line[-1].end >= LINE_PAUSE_SECONDS
        ):
            lines.append(line)
            line = []
        line.append(word)
    if line:
        lines.append(line)
    return lines


def caption_events(
    words: list[TimedWord],
    clip_length: float,
    config: RenderConfig,
    max_words: int | None = None,
    max_chars: int | None = None,
) -> list[CaptionEvent]:
    """One event per word, back to back, each visible for a positive time inside the clip."""
    lines = group_lines(words, config, max_words, max_chars)
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
                line_index=line_index,
            )
        )
    return events


def caption_styles(width: int, height: int, config: RenderConfig, preset: CaptionPreset) -> dict[str, pysubs2.SSAStyle]:
    size = font_size(preset, width, height)
    area = safe_area(width, height)
    base = pysubs2.SSAStyle(
        fontname=config.caption_font,
        fontsize=size,
        primarycolor=preset.text,
        secondarycolor=preset.text,
        outlinecolor=preset.outline_colour,
        backcolor=preset.back_colour,
        bold=preset.bold,
        borderstyle=3 if preset.boxed else 1,
        outline=max(round(size * preset.outline, 1), 1.0),
        shadow=round(size * preset.shadow, 1),
        alignment=pysubs2.Alignment.BOTTOM_CENTER,
        marginl=round(width * area.left),
        marginr=round(width * area.right),
        marginv=round(height * area.bottom),
    )
    if preset.animation == "karaoke":
        # Karaoke fills from SecondaryColour (still to say) to PrimaryColour (said).
        base.primarycolor = preset.highlight
    active = base.copy()
    active.primarycolor = preset.highlight
    return {STYLE: base, ACTIVE_STYLE: active}


def write_captions(
    words: list[Word],
    clip_start: float,
    clip_end: float,
    path: Path,
    width: int,
    height: int,
    config: RenderConfig,
    style: CaptionStyle = "bold",
) -> Path:
    """Write the ASS captions for the clip ``[clip_start, clip_end]`` of the source to ``path``."""
    preset = PRESETS[style]
    subs = pysubs2.SSAFile()
    subs.info["PlayResX"] = str(width)
    subs.info["PlayResY"] = str(height)
    subs.info["WrapStyle"] = "0"
    subs.info["ScaledBorderAndShadow"] = "yes"
    subs.styles.clear()
    subs.styles.update(caption_styles(width, height, config, preset))

    events = caption_events(
        clip_words(words, clip_start, clip_end),
        clip_end - clip_start,
        config,
        preset.max_words,
        chars_per_line(preset, width, height),
    )
    if preset.animation == "karaoke":
        subs.events.extend(_karaoke_events(events, preset))
    else:
        for event in events:
            start_ms = centiseconds_ms(event.start)
            # ASS keeps centiseconds: make sure rounding never leaves an event with no time.
            end_ms = max(centiseconds_ms(event.end), start_ms + 10)
            subs.events.append(
                pysubs2.SSAEvent(start=start_ms, end=end_ms, text=_word_line(event, preset), style=STYLE)
            )

    path.parent.mkdir(parents=True, exist_ok=True)
    subs.save(str(path), encoding="utf-8", format_="ass")
    return path


def ends_sentence(text: str) -> bool:
    return text.rstrip("\"')]\u00bb\u201d\u2019").endswith((".", "?", "!", "…"))


def _shown(text: str, preset: CaptionPreset) -> str:
    return text.upper() if preset.uppercase else text


def _word_line(event: CaptionEvent, preset: CaptionPreset) -> str:
    pop = (
        f"\\t(0,{_POP_MS},\\fscx{_POP_SCALE}\\fscy{_POP_SCALE})\\t({_POP_MS},{2 * _POP_MS},\\fscx100\\fscy100)"
        if preset.animation == "pop"
        else ""
    )
    return " ".join(
        f"{{\\r{ACTIVE_STYLE}{pop}}}{_shown(text, preset)}{{\\r}}" if index == event.active else _shown(text, preset)
        for index, text in enumerate(event.line)
    )


def _karaoke_events(events: list[CaptionEvent], preset: CaptionPreset) -> list[pysubs2.SSAEvent]:
    """One event per line; each word's \\kf lasts until the next word of the line starts."""
    by_line: dict[int, list[CaptionEvent]] = {}
    for event in events:
        by_line.setdefault(event.line_index, []).append(event)
    out: list[pysubs2.SSAEvent] = []
    for line_events in by_line.values():
        start_ms = centiseconds_ms(line_events[0].start)
        end_ms = max(centiseconds_ms(line_events[-1].end), start_ms + 10 * len(line_events))
        parts: list[str] = []
        cursor = start_ms
        for position, event in enumerate(line_events):
            word_end = centiseconds_ms(line_events[position + 1].start) if position + 1 < len(line_events) else end_ms
            duration_cs = max((word_end - cursor) // 10, 1)
            cursor += duration_cs * 10
            parts.append(f"{{\\kf{duration_cs}}}{_shown(event.line[position], preset)}")
        out.append(pysubs2.SSAEvent(start=start_ms, end=max(end_ms, cursor), text=" ".join(parts), style=STYLE))
    return out


def centiseconds_ms(seconds: float) -> int:
    return round(seconds * 100) * 10
