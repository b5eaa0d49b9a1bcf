"""Splitting a word-timed transcript into sentences, the units highlights are built from.

The sentence boundaries come from pysbd, a rule-based segmenter that knows abbreviations,
decimals, initials and quotes. It works on text, so each run of words is joined into text,
segmented, and the sentence ends are mapped back onto the words they fall after: a sentence
always holds whole words and carries their timings. A long silence also ends a sentence, for
speech the recogniser left unpunctuated.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator, Sequence
from functools import cached_property

import pysbd
from pydantic import BaseModel

from clipforge.shared.models import Transcript, Word

# A silence this long between two words ends a sentence even without punctuation.
PAUSE_BOUNDARY_SECONDS = 1.5

# pysbd's run time grows with the square of its input, so long runs are fed to it in pieces of
# about this many words; every piece re-starts at the last sentence the previous one left open.
SEGMENTER_CHUNK_WORDS = 300

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

    @property
    def is_question(self) -> bool:
        return bool(self.words) and self.words[-1].text.rstrip(_CLOSERS).endswith("?")

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


def ends_sentence(text: str) -> bool:
    """Whether a word carries closing punctuation (used to judge a sentence's ending)."""
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
        text = " ".join(word.text.split())
        if not text:
            continue
        if not any(ch.isalnum() for ch in text):
            if cleaned:
                previous = cleaned[-1]
                cleaned[-1] = previous.model_copy(update={"text": previous.text + text})
            continue
        cleaned.append(Word(start=word.start, end=max(word.end, word.start), text=text, probability=word.probability))
    return cleaned


def segmenter_language(language: str) -> str:
    """The pysbd rule set for a transcript language; English rules for languages it lacks."""
    code = language.strip().lower()[:2]
    return code if code in pysbd.languages.LANGUAGE_CODES else "en"


def split_sentences(transcript: Transcript) -> list[Sentence]:
    """Sentences from the transcript's word timestamps.

    A sentence ends where pysbd ends one, before a pause of at least
    ``PAUSE_BOUNDARY_SECONDS``, and at the last word of the transcript.
    """
    words = clean_words(transcript.words)
    language = segmenter_language(transcript.language)
    return [
        _sentence(run[first:last])
        for run in pause_runs(words)
        for first, last in itertools.pairwise(sentence_starts(run, language))
    ]


def pause_runs(words: Sequence[Word]) -> Iterator[list[Word]]:
    """Runs of words with no silence of ``PAUSE_BOUNDARY_SECONDS`` or more inside."""
    run: list[Word] = []
    latest_end = float("-inf")
    for word in words:
        if run and word.start - latest_end >= PAUSE_BOUNDARY_SECONDS:
            yield run
            run = []
        run.append(word)
        latest_end = max(latest_end, word.end)
    if run:
        yield run


def sentence_starts(words: Sequence[Word], language: str = "en") -> list[int]:
    """Indices of the words that start a sentence, plus ``len(words)`` as the final end."""
    starts = [0]
    while starts[-1] < len(words):
        begin = starts[-1]
        piece = words[begin : begin + SEGMENTER_CHUNK_WORDS]
        cuts = _segment_cuts(piece, language)
        if begin + len(piece) >= len(words):
            starts.extend(begin + cut for cut in cuts)
            starts.append(len(words))
        elif cuts:
            # The piece's last sentence may run on past the piece: segment it again with what follows.
            starts.extend(begin + cut for cut in cuts)
        else:
            # No sentence ends within a whole piece: end one here rather than scan without bound.
            starts.append(begin + len(piece))
    return starts


def _segment_cuts(words: Sequence[Word], language: str) -> list[int]:
    """Word indices (not 0) where pysbd starts a new sentence within ``words``.

    pysbd returns the sentences as text; their lengths without whitespace are matched to the
    words' lengths without whitespace, so a boundary always falls between two words.
    """
    text = " ".join(word.text for word in words)
    pieces = pysbd.Segmenter(language=language, clean=False).segment(text)
    word_ends = list(itertools.accumulate(_compact_length(word.text) for word in words))
    cuts: list[int] = []
    for piece_end in itertools.accumulate(_compact_length(piece) for piece in pieces[:-1]):
        cut = _nearest_word_end(word_ends, piece_end) + 1
        if (not cuts or cut > cuts[-1]) and cut < len(words):
            cuts.append(cut)
    return cuts


def _compact_length(text: str) -> int:
    return sum(1 for ch in text if not ch.isspace())


def _nearest_word_end(word_ends: list[int], position: int) -> int:
    """Index of the word whose end (in characters without whitespace) is nearest ``position``."""
    index = bisect.bisect_left(word_ends, position)
    if index >= len(word_ends):
        return len(word_ends) - 1
    if index > 0 and position - word_ends[index - 1] < word_ends[index] - position:
        return index - 1
    return index


def _sentence(words: list[Word]) -> Sentence:
    return Sentence(
        start=words[0].start,
        end=max(word.end for word in words),
        text=" ".join(word.text for word in words),
        words=words,
    )
