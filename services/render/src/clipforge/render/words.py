"""The transcript's words made fit for captions: every word timed, symbols joined to their word.

Recognisers give numerals and symbols odd timings: no duration, an end before the start, no
time at all (NaN), or a lone "%" or "$" token with a zero-length slot. Captions must never skip
them, so each gets a time here, and a bare symbol is shown with the word it belongs to ("50%",
"$5") instead of flashing on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from clipforge.shared.models import Word

# Symbols that belong to the word after them; every other bare symbol joins the word before.
_OPENING = frozenset("$€£¥#@([{¿¡\u201c\u2018«")
# Symbols that stand between two words keep a space before them ("rock &", "2 + 2").
_INFIX = frozenset({"&", "+", "=", "-", "\u2013", "\u2014", "/", "\u00d7"})


@dataclass(frozen=True)
class TimedWord:
    """A word with times relative to the clip start, already clipped to the clip."""

    start: float
    end: float
    text: str


def is_symbol(text: str) -> bool:
    return bool(text) and not any(character.isalnum() for character in text)


def repair_words(words: list[Word]) -> list[Word]:
    """The words in spoken order with finite times (end >= start) and bare symbols merged."""
    timed = _with_times([w.model_copy(update={"text": w.text.strip()}) for w in words if w.text.strip()])
    timed.sort(key=lambda w: (w.start, w.end))
    return _merge_symbols(timed)


def _with_times(words: list[Word]) -> list[Word]:
    """Missing times borrowed from the neighbours: a word is said after the one before it."""
    out: list[Word] = []
    previous_end: float | None = None
    for word in words:
        start = word.start if math.isfinite(word.start) else previous_end
        if start is None:
            out.append(word)  # resolved below from the next timed word
            continue
        end = word.end if math.isfinite(word.end) and word.end >= start else start
        out.append(word.model_copy(update={"start": start, "end": end}))
        previous_end = end
    following: float | None = None
    for index in range(len(out) - 1, -1, -1):
        word = out[index]
        if math.isfinite(word.start):
            following = word.start
        elif following is not None:
            out[index] = word.model_copy(update={"start": following, "end": following})
    # Words with no time anywhere near them cannot be placed in any clip.
    return [w for w in out if math.isfinite(w.start)]


def _merge_symbols(words: list[Word]) -> list[Word]:
    merged: list[Word] = []
    pending: Word | None = None  # an opening symbol waiting for its word
    for word in words:
        if pending is not None:
            word = _join(pending, word, separator="")
            pending = None
        if is_symbol(word.text):
            if word.text[0] in _OPENING:
                pending = word
                continue
            if merged:
                separator = " " if word.text in _INFIX else ""
                merged[-1] = _join(merged[-1], word, separator=separator)
                continue
        merged.append(word)
    if pending is not None:
        if merged:
            merged[-1] = _join(merged[-1], pending, separator=" ")
        else:
            merged.append(pending)
    return merged


def _join(first: Word, second: Word, separator: str) -> Word:
    return Word(
        start=min(first.start, second.start),
        end=max(first.end, second.end),
        text=f"{first.text}{separator}{second.text}",
        probability=min(first.probability, second.probability),
    )


def clip_words(words: list[Word], clip_start: float, clip_end: float) -> list[TimedWord]:
    """The words spoken during the clip, in order, with times relative to its start."""
    length = clip_end - clip_start
    timed: list[TimedWord] = []
    for word in repair_words(words):
        text = ass_safe(word.text)
        inside = (word.start < clip_end and word.end > clip_start) or clip_start <= word.start < clip_end
        if not text or not inside:
            continue
        timed.append(
            TimedWord(
                start=min(max(word.start - clip_start, 0.0), length),
                end=min(max(word.end - clip_start, 0.0), length),
                text=text,
            )
        )
    return timed


def ass_safe(text: str) -> str:
    # Braces open override blocks and a backslash starts an escape (\N, \h) in ASS text.
    return text.replace("{", "(").replace("}", ")").replace("\\", "/")
