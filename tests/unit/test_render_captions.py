"""Caption presets, words the recogniser timed badly, and the SRT/VTT sidecars."""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path

import pysubs2
import pytest

from clipforge.render.captions import ACTIVE_STYLE, STYLE, write_captions
from clipforge.render.config import RenderConfig
from clipforge.render.presets import PRESETS, chars_per_line, safe_area
from clipforge.render.sidecars import cues, write_sidecars
from clipforge.render.words import clip_words, repair_words
from clipforge.shared.models import Word


def spoken(text: str, start: float = 0.0, step: float = 0.4) -> list[Word]:
    return [Word(start=start + i * step, end=start + i * step + 0.3, text=t) for i, t in enumerate(text.split())]


# --- words the recogniser gives no usable time ------------------------------------------------


def test_bare_symbols_join_their_word_and_keep_its_time() -> None:
    words = [
        Word(start=1.0, end=1.3, text=" We"),
        Word(start=1.3, end=1.6, text=" grew"),
        Word(start=1.6, end=1.9, text=" 50"),
        Word(start=1.9, end=1.9, text="%"),  # zero-length symbol token
        Word(start=2.0, end=2.2, text=" to"),
        Word(start=2.2, end=2.2, text=" $"),
        Word(start=2.2, end=2.5, text="5"),
        Word(start=2.6, end=2.8, text="rock"),
        Word(start=2.8, end=2.8, text="&"),
        Word(start=2.9, end=3.2, text="roll."),
    ]
    repaired = repair_words(words)
    assert [w.text for w in repaired] == ["We", "grew", "50%", "to", "$5", "rock &", "roll."]
    fifty = repaired[2]
    assert (fifty.start, fifty.end) == (1.6, 1.9)


def test_words_without_times_borrow_them_from_their_neighbours() -> None:
    words = [
        Word(start=math.nan, end=math.nan, text="Twenty"),  # no time at all, first
        Word(start=1.0, end=1.2, text="three"),
        Word(start=math.nan, end=math.nan, text="1995"),  # numeral with no time
        Word(start=1.6, end=1.5, text="was"),  # ends before it starts
        Word(start=2.0, end=math.inf, text="great"),
    ]
    repaired = repair_words(words)
    assert [w.text for w in repaired] == ["Twenty", "three", "1995", "was", "great"]
    assert all(math.isfinite(w.start) and math.isfinite(w.end) and w.end >= w.start for w in repaired)
    assert repaired[0].start == 1.0 and repaired[2].start == 1.2 and repaired[3].end == 1.6


def test_untimed_numerals_still_get_their_own_caption_event(tmp_path: Path) -> None:
    words = [
        Word(start=0.5, end=0.8, text="In"),
        Word(start=0.8, end=0.8, text="2024"),
        Word(start=0.8, end=0.8, text="we"),
        Word(start=math.nan, end=math.nan, text="shipped"),
        Word(start=0.8, end=0.8, text="3"),
        Word(start=0.9, end=0.9, text="%"),
        Word(start=1.2, end=1.5, text="more."),
    ]
    path = write_captions(words, 0.0, 3.0, tmp_path / "c.ass", 640, 360, RenderConfig(), "clean")
    events = pysubs2.load(str(path)).events
    active = [re.search(r"\{\\rCaptionActive\}(.*?)\{\\r\}", e.text).group(1) for e in events]  # type: ignore[union-attr]
    assert active == ["In", "2024", "we", "shipped", "3%", "more."]
    for event in events:
        assert event.end - event.start >= 100  # visible, however the recogniser timed it
    assert all(a.end <= b.start for a, b in itertools.pairwise(events))


# --- presets ---------------------------------------------------------------------------------


def test_bold_preset_is_upper_case_and_pops_the_spoken_word(tmp_path: Path) -> None:
    words = spoken("we ship small changes every day")
    subs = pysubs2.load(str(write_captions(words, 0.0, 3.0, tmp_path / "b.ass", 202, 360, RenderConfig(), "bold")))
    styles = subs.styles
    assert styles[STYLE].bold and styles[STYLE].fontname == "DejaVu Sans"
    assert styles[ACTIVE_STYLE].primarycolor == PRESETS["bold"].highlight != styles[STYLE].primarycolor
    assert len(subs.events) == len(words)
    for event, word in zip(subs.events, words, strict=True):
        assert "\\fscx112\\fscy112)" in event.text and word.text.upper() in event.text
        assert len(event.plaintext.split()) <= PRESETS["bold"].max_words
        assert len(event.plaintext) <= chars_per_line(PRESETS["bold"], 202, 360)


def test_clean_preset_uses_a_box_and_plain_case(tmp_path: Path) -> None:
    subs = pysubs2.load(
        str(write_captions(spoken("Hello world"), 0.0, 2.0, tmp_path / "c.ass", 640, 360, RenderConfig(), "clean"))
    )
    assert subs.styles[STYLE].borderstyle == 3 and not subs.styles[STYLE].bold
    assert "Hello" in subs.events[0].plaintext and "\\t(" not in subs.events[0].text


def test_karaoke_preset_fills_each_word_for_as_long_as_it_is_said(tmp_path: Path) -> None:
    words = spoken("one two three four five six seven", step=0.5)
    subs = pysubs2.load(str(write_captions(words, 0.0, 4.0, tmp_path / "k.ass", 640, 360, RenderConfig(), "karaoke")))
    style = subs.styles[STYLE]
    assert style.primarycolor == PRESETS["karaoke"].highlight and style.secondarycolor == PRESETS["karaoke"].text
    assert len(subs.events) == 2  # lines of up to five words
    for event in subs.events:
        fills = [int(cs) for cs in re.findall(r"\\kf(\d+)", event.text)]
        assert len(fills) == len(event.plaintext.split())
        assert all(fill > 0 for fill in fills)
        # The fills add up to the line's time on screen, so the last word is filled as it ends.
        assert abs(sum(fills) * 10 - (event.end - event.start)) <= 10 * len(fills)
    assert [e.plaintext for e in subs.events] == ["one two three four five", "six seven"]


@pytest.mark.parametrize(("size", "bottom"), [((202, 360), 0.22), ((360, 360), 0.12), ((640, 360), 0.08)])
def test_captions_sit_in_the_safe_area_of_the_shape(size: tuple[int, int], bottom: float, tmp_path: Path) -> None:
    width, height = size
    assert safe_area(width, height).bottom == bottom
    for style_name in PRESETS:
        subs = pysubs2.load(
            str(
                write_captions(
                    spoken("a b c"), 0, 2, tmp_path / f"{style_name}.ass", width, height, RenderConfig(), style_name
                )
            )  # type: ignore[arg-type]
        )
        style = subs.styles[STYLE]
        assert style.marginv == round(height * bottom)
        assert style.alignment == pysubs2.Alignment.BOTTOM_CENTER
        assert style.fontsize <= height * 0.07 and style.fontsize <= width * 0.08


# --- sidecars --------------------------------------------------------------------------------


def test_srt_and_vtt_cover_the_clip_with_clip_relative_times(tmp_path: Path) -> None:
    words = spoken("Every change goes through the same automated tests before it reaches users.", start=10.0)
    clip_start, clip_end = 9.5, 15.0
    srt, vtt = write_sidecars(cues(words, clip_start, clip_end, RenderConfig()), tmp_path / "c.srt", tmp_path / "c.vtt")
    text = vtt.read_text()
    assert text.startswith("WEBVTT") and "-->" in text
    for path in (srt, vtt):
        events = pysubs2.load(str(path)).events
        assert " ".join(e.plaintext for e in events).split() == [
            w.text for w in clip_words(words, clip_start, clip_end)
        ]
        assert events[0].start == 500  # the first word, 0.5 s into the clip
        assert events[-1].end >= round((words[-1].end - clip_start) * 1000) - 10
        assert events[-1].end <= (clip_end - clip_start) * 1000
        assert all(a.end <= b.start for a, b in itertools.pairwise(events))
        assert all(e.end > e.start for e in events)
    assert re.search(r"^00:00:00,500 --> ", srt.read_text(), re.MULTILINE)
