"""Splitting a word-timed transcript into sentences, the units highlights are built from."""

from __future__ import annotations

from functools import cached_property

from pydantic import BaseModel

from clipforge.shared.models import Transcript, Word

# A silence this long between two words ends a sentence even without punctuation.
PAUSE_BOUNDARY_SECONDS = 1.5

_TERMINAL = (".", "?", "!", "…")
_CLOSERS = "\"')]\u00bb\u201d\u2019"
# Abbreviations whose final dot does not end a sentence ("Dr. Smith").
_ABBREVIATIONS = frozenset({"mr.", "mrs.", "ms.", "dr.", "prof.", "e.g.", "i.e.", "vs.", "st."})


class Sentence(BaseModel):
    start: float
    end: float
    text: str
    words: list[Word]

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def terminated(self) -> bool:
        """Whether the sentence ends in . ? ! rather than being cut by a pause or the end."""
        return bool(self.words) and ends_sentence(self.words[-1].text)

    # Cached: scoring reads these once per candidate window, and windows share sentences.
    @cached_property
    def speech_seconds(self) -> float:
        """Time covered by words, counting overlapping word spans once."""
        total = 0.0
        covered_until = float("-inf")
        for word in self.words:
            start = max(word.start, covered_until)
            if word.end > start:
                total += word.end - start
            covered_until = max(covered_until, word.end)
        return total

    @cached_property
    def probability_sum(self) -> float:
        return sum(word.probability for word in self.words)


def ends_sentence(text: str) -> bool:
    stripped = text.strip().rstrip(_CLOSERS)
    if stripped.lower() in _ABBREVIATIONS:
        return False
    return stripped.endswith(_TERMINAL)


def clean_words(words: list[Word]) -> list[Word]:
    """Words in time order with surrounding spaces removed and sane spans.

    Empty tokens are dropped, and punctuation-only tokens ("." emitted on its own) are
    attached to the word before them so they still mark sentence ends.
    """
    cleaned: list[Word] = []
    for word in sorted(words, key=lambda w: (w.start, w.end)):
        text = word.text.strip()
        if not text:
            continue
        if not any(ch.isalnum() for ch in text):
            if cleaned:
                previous = cleaned[-1]
                cleaned[-1] = previous.model_copy(update={"text": previous.text + text})
            continue
        cleaned.append(Word(start=word.start, end=max(word.end, word.start), text=text, probability=word.probability))
    return cleaned


def split_sentences(transcript: Transcript) -> list[Sentence]:
    """Sentences from the transcript's word timestamps.

    A sentence ends at a word ending in . ? !, before a pause of at least
    ``PAUSE_BOUNDARY_SECONDS``, and at the last word of the transcript.
    """
    words = clean_words(transcript.words)
    sentences: list[Sentence] = []
    current: list[Word] = []
    for index, word in enumerate(words):
        current.append(word)
        next_word = words[index + 1] if index + 1 < len(words) else None
        if next_word is None or ends_sentence(word.text) or next_word.start - word.end >= PAUSE_BOUNDARY_SECONDS:
            sentences.append(_sentence(current))
            current = []
    return sentences


def _sentence(words: list[Word]) -> Sentence:
    return Sentence(
        start=words[0].start,
        end=max(word.end for word in words),
        text=" ".join(word.text for word in words),
        words=words,
    )
