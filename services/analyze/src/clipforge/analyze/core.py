"""Finding highlight moments in a transcript: windows of whole sentences, scored and picked.

Pure and deterministic: the same transcript and options always give the same highlights.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from clipforge.analyze.scoring import WindowScore, WindowScorer, score_window
from clipforge.analyze.sentences import Sentence, split_sentences
from clipforge.shared.errors import StageError
from clipforge.shared.models import Highlight, JobOptions, Transcript

__all__ = ["Candidate", "Sentence", "candidate_windows", "find_highlights", "split_sentences"]

# The smallest minimum clip length a job may ask for, as JobOptions validates it.
_LOWEST_MIN_CLIP_SECONDS: float = next(
    m.ge for m in JobOptions.model_fields["min_clip_seconds"].metadata if getattr(m, "ge", None) is not None
)


@dataclass(frozen=True)
class Candidate:
    """Sentences ``first..last`` (inclusive) as one possible clip."""

    first: int
    last: int
    start: float
    end: float
    score: WindowScore

    def overlaps(self, other: Candidate) -> bool:
        return self.start < other.end and other.start < self.end


def candidate_windows(
    sentences: Sequence[Sentence], min_seconds: float, max_seconds: float
) -> Iterator[tuple[int, int]]:
    """Every run of consecutive sentences whose span lies within [min_seconds, max_seconds]."""
    for first in range(len(sentences)):
        for last in range(first, len(sentences)):
            duration = sentences[last].end - sentences[first].start
            if duration > max_seconds:
                break
            if duration >= min_seconds:
                yield first, last


def find_highlights(
    transcript: Transcript,
    options: JobOptions,
    *,
    scorer: WindowScorer = score_window,
) -> list[Highlight]:
    """The best non-overlapping windows of whole sentences, best first, at most ``max_clips``.

    Raises ``StageError("no_speech")`` when nothing was said and
    ``StageError("no_highlights")`` when no window fits the requested clip lengths.
    """
    sentences = split_sentences(transcript)
    if not sentences:
        raise StageError(
            "no_speech",
            "We could not find any speech in this video, so there is nothing to make clips from.",
        )

    candidates = [
        Candidate(
            first=first,
            last=last,
            start=sentences[first].start,
            end=sentences[last].end,
            score=scorer(sentences[first : last + 1]),
        )
        for first, last in candidate_windows(sentences, options.min_clip_seconds, options.max_clip_seconds)
    ]
    if not candidates:
        raise StageError("no_highlights", _no_fit_message(sentences, options))

    chosen = _pick(candidates, options.max_clips)
    return [
        Highlight(
            start=c.start,
            end=c.end,
            score=c.score.total,
            reason=c.score.reason,
            text=" ".join(s.text for s in sentences[c.first : c.last + 1]),
        )
        for c in chosen
    ]


def _pick(candidates: list[Candidate], limit: int) -> list[Candidate]:
    """Greedy by score; ties go to the earlier, then the shorter window, for determinism."""
    ranked = sorted(candidates, key=lambda c: (-c.score.total, c.start, c.end))
    chosen: list[Candidate] = []
    for candidate in ranked:
        if len(chosen) == limit:
            break
        if not any(candidate.overlaps(taken) for taken in chosen):
            chosen.append(candidate)
    return chosen


def _no_fit_message(sentences: Sequence[Sentence], options: JobOptions) -> str:
    speech = sentences[-1].end - sentences[0].start
    requested = (
        f"clips between {_seconds(options.min_clip_seconds)} and "
        f"{_seconds(options.max_clip_seconds)} seconds long were requested"
    )
    if speech < options.min_clip_seconds:
        suggestion = math.floor(speech) if speech >= 10 else math.floor(speech * 10) / 10
        if suggestion < _LOWEST_MIN_CLIP_SECONDS:
            return (
                f"The speech in this video lasts only about {_seconds(speech)} seconds, but {requested}. "
                f"That is too little speech to make a clip of at least "
                f"{_seconds(_LOWEST_MIN_CLIP_SECONDS)} seconds."
            )
        return (
            f"The speech in this video lasts only about {_seconds(speech)} seconds, but {requested}. "
            f"Lower the minimum clip length to {_seconds(suggestion)} seconds or less to get a clip."
        )
    return (
        f"The speech in this video lasts about {_seconds(speech)} seconds, but no run of whole "
        f"sentences fits, as {requested}. Try lowering the minimum clip length or raising the maximum."
    )


def _seconds(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}".rstrip("0").rstrip(".")
