"""Finding highlight moments in a transcript: windows of whole sentences within one topic,
scored on named sub-scores and picked without overlap.

Deterministic: the same transcript, audio and model always give the same highlights.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from clipforge.analyze.audio import AudioUnreadable, LoudnessTrack, read_loudness
from clipforge.analyze.embeddings import Embedder
from clipforge.analyze.salience import KeywordIndex, WindowTerms
from clipforge.analyze.scoring import WindowScore
from clipforge.analyze.sentences import Sentence, split_sentences
from clipforge.analyze.signals import (
    SubScore,
    coherence,
    energy,
    hook,
    keyword_salience,
    mean_pairwise_similarity,
    pace,
    self_containedness,
)
from clipforge.analyze.titles import make_title
from clipforge.analyze.topics import TopicSegmentation, segment_topics, single_topic
from clipforge.shared.errors import StageError
from clipforge.shared.models import Highlight, JobOptions, Transcript

__all__ = [
    "Analysis",
    "Candidate",
    "Sentence",
    "analyze",
    "candidate_windows",
    "find_highlights",
    "split_sentences",
    "whole_sentence_edges",
]

log = logging.getLogger(__name__)

KEYWORDS_PER_CLIP = 5

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
    terms: WindowTerms

    def overlaps(self, other: Candidate) -> bool:
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class Analysis:
    """Every scored candidate of a transcript, best first."""

    sentences: list[Sentence]
    topics: TopicSegmentation
    candidates: list[Candidate]

    def pick(self, limit: int) -> list[Candidate]:
        """The best candidates that do not overlap, best first: greedy by score, ties to the
        earlier, then the shorter window."""
        chosen: list[Candidate] = []
        for candidate in self.candidates:
            if len(chosen) == limit:
                break
            if not any(candidate.overlaps(taken) for taken in chosen):
                chosen.append(candidate)
        return chosen

    def highlight(self, candidate: Candidate) -> Highlight:
        window = self.sentences[candidate.first : candidate.last + 1]
        return Highlight(
            start=candidate.start,
            end=candidate.end,
            score=candidate.score.total,
            reason=candidate.score.reason,
            text=" ".join(s.text for s in window),
            title=make_title(window, candidate.terms),
            keywords=candidate.terms.keywords(KEYWORDS_PER_CLIP),
            sub_scores=candidate.score.as_dict(),
        )

    def highlights(self, limit: int) -> list[Highlight]:
        return [self.highlight(candidate) for candidate in self.pick(limit)]


def candidate_windows(
    sentences: Sequence[Sentence],
    min_seconds: float,
    max_seconds: float,
    topics: TopicSegmentation | None = None,
    *,
    whole_only: bool = False,
) -> Iterator[tuple[int, int]]:
    """Every run of consecutive sentences within one topic whose span lies within
    [min_seconds, max_seconds].

    With ``whole_only``, a run must also start and end on a sentence the recogniser punctuated
    (see :func:`whole_sentence_edges`), so that it never opens or closes mid-sentence where only
    a pause split the speech.
    """
    opens, closes = whole_sentence_edges(sentences) if whole_only else (None, None)
    for first in range(len(sentences)):
        if opens is not None and not opens[first]:
            continue
        for last in range(first, len(sentences)):
            if topics is not None and not topics.same_topic(first, last):
                break
            duration = sentences[last].end - sentences[first].start
            if duration > max_seconds:
                break
            if duration >= min_seconds and (closes is None or closes[last]):
                yield first, last


def whole_sentence_edges(sentences: Sequence[Sentence]) -> tuple[list[bool], list[bool]]:
    """Which sentences a clip may open with and which it may close with.

    A sentence split off by a pause alone (no . ? ! before the pause) is a fragment: the speaker
    is mid-sentence, or a recording was cut there. A clip opens only at the first sentence or
    after a terminated one, and closes only on a terminated sentence or the last one.
    """
    last = len(sentences) - 1
    opens = [index == 0 or sentences[index - 1].terminated for index in range(len(sentences))]
    closes = [sentence.terminated or index == last for index, sentence in enumerate(sentences)]
    return opens, closes


def analyze(
    transcript: Transcript,
    options: JobOptions,
    *,
    audio_path: Path | None = None,
    embedder: Embedder | None = None,
) -> Analysis:
    """Split, segment into topics, and score every candidate window.

    Without ``embedder`` there is no topic segmentation and no coherence sub-score; without a
    readable ``audio_path`` no energy sub-score. Raises ``StageError("no_speech")`` when nothing
    was said and ``StageError("no_highlights")`` when no window fits the clip lengths.
    """
    sentences = split_sentences(transcript)
    if not sentences:
        raise StageError(
            "no_speech",
            "We could not find any speech in this video, so there is nothing to make clips from.",
        )
    embeddings = embedder.encode([s.text for s in sentences]) if embedder is not None else None
    topics = (
        segment_topics(
            embeddings,
            weights=[len(s.words) for s in sentences],
            pauses=[after.start - before.end for before, after in itertools.pairwise(sentences)],
        )
        if embeddings is not None
        else single_topic(len(sentences))
    )
    spans, topics = _windows_within_topics(sentences, options, topics)
    if not spans:
        raise StageError("no_highlights", _no_fit_message(sentences, options))

    loudness = _loudness(audio_path)
    index = KeywordIndex(sentences)
    terms = index.windows(spans)
    best_salience = max(t.salience for t in terms)
    opening_hook = cache(lambda first: hook(sentences[first]))
    sums = _prefix_sums(embeddings) if embeddings is not None else None

    candidates: list[Candidate] = []
    for (first, last), window_terms in zip(spans, terms, strict=True):
        window = sentences[first : last + 1]
        start, end = window[0].start, window[-1].end
        parts: list[SubScore] = [
            opening_hook(first),
            self_containedness(window),
            pace(window),
            keyword_salience(window_terms.salience, best_salience, window_terms.keywords(3)),
        ]
        if sums is not None:
            total = sums[last + 1] - sums[first]
            parts.append(coherence(mean_pairwise_similarity(float(total @ total), last - first + 1)))
        if loudness is not None:
            parts.append(energy(loudness, start, end))
        candidates.append(Candidate(first, last, start, end, WindowScore(tuple(parts)), window_terms))
    candidates.sort(key=lambda c: (-c.score.total, c.start, c.end))
    return Analysis(sentences, topics, candidates)


def find_highlights(
    transcript: Transcript,
    options: JobOptions,
    *,
    audio_path: Path | None = None,
    embedder: Embedder | None = None,
) -> list[Highlight]:
    """The best non-overlapping windows of whole sentences, best first, at most ``max_clips``."""
    return analyze(transcript, options, audio_path=audio_path, embedder=embedder).highlights(options.max_clips)


def _windows_within_topics(
    sentences: Sequence[Sentence], options: JobOptions, topics: TopicSegmentation
) -> tuple[list[tuple[int, int]], TopicSegmentation]:
    """Windows of whole punctuated sentences that stay inside one topic.

    Staying inside a topic comes first: when no window of whole sentences fits within the
    topics, windows bounded by pauses alone are taken (speech the recogniser left unpunctuated);
    when not even those fit, the shallowest topic boundary is dropped and both are tried again.
    A clip that spans a weak topic change beats no clip."""
    while True:
        for whole_only in (True, False):
            spans = list(
                candidate_windows(
                    sentences, options.min_clip_seconds, options.max_clip_seconds, topics, whole_only=whole_only
                )
            )
            if spans:
                if not whole_only:
                    log.info("no window of punctuated sentences fits; using pauses as sentence ends")
                return spans, topics
        weakest = topics.weakest_boundary()
        if weakest is None:
            return [], topics
        log.info("no window fits within the topics; merging the topics at sentence %d", weakest)
        topics = topics.without(weakest)


def _prefix_sums(embeddings: np.ndarray) -> np.ndarray:
    return np.vstack([np.zeros((1, embeddings.shape[1])), np.cumsum(embeddings.astype(np.float64), axis=0)])


def _loudness(audio_path: Path | None) -> LoudnessTrack | None:
    if audio_path is None:
        return None
    try:
        return read_loudness(audio_path)
    except AudioUnreadable as error:
        log.warning("no energy sub-score: the audio track cannot be read (%s)", error)
        return None


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
