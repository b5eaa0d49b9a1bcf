"""The analyze core on hand-built transcripts: window rules, selection, errors, determinism, speed."""

from __future__ import annotations

import itertools

import pytest
from test_analyze_support import options, spoken

from clipforge.analyze.core import analyze, find_highlights, split_sentences
from clipforge.analyze.embeddings import SentenceEmbedder, load_embedder
from clipforge.devstack.samples import DEMO_SENTENCES
from clipforge.shared.errors import StageError
from clipforge.shared.models import Segment, Transcript


@pytest.fixture(scope="module")
def embedder() -> SentenceEmbedder:
    return load_embedder()


# --- highlights ---------------------------------------------------------------------------


def test_highlights_follow_the_window_rules_on_a_known_structure(embedder: SentenceEmbedder) -> None:
    transcript = spoken(DEMO_SENTENCES * 3)
    sentences = split_sentences(transcript)
    assert len(sentences) == 3 * len(DEMO_SENTENCES)
    starts = {s.start for s in sentences}
    ends = {s.end for s in sentences}
    opts = options(max_clips=4, min_clip_seconds=10, max_clip_seconds=20)

    highlights = find_highlights(transcript, opts, embedder=embedder)

    assert 1 <= len(highlights) <= opts.max_clips
    assert len(highlights) == opts.max_clips  # the transcript is long enough for all of them
    for h in highlights:
        assert h.start in starts and h.end in ends
        assert opts.min_clip_seconds <= h.duration <= opts.max_clip_seconds
        assert 0 <= h.score <= 100
        assert h.reason.startswith("Strongest: ") and "\n" not in h.reason
        assert h.title and h.keywords and set(h.sub_scores) >= {"hook", "self_containedness", "coherence"}
        inside = [s.text for s in sentences if h.start <= s.start and s.end <= h.end]
        assert h.text == " ".join(inside)
    ordered = sorted(highlights, key=lambda h: h.start)
    for before, after in itertools.pairwise(ordered):
        assert before.end <= after.start
    assert [h.score for h in highlights] == sorted((h.score for h in highlights), reverse=True)


def test_max_clips_caps_the_count() -> None:
    transcript = spoken(DEMO_SENTENCES * 3)
    assert len(find_highlights(transcript, options(max_clips=2))) == 2
    assert len(find_highlights(transcript, options(max_clips=1))) == 1


def test_candidates_are_ranked_and_the_pick_never_overlaps() -> None:
    analysis = analyze(spoken(DEMO_SENTENCES * 2), options(min_clip_seconds=5, max_clip_seconds=15))
    totals = [c.score.total for c in analysis.candidates]
    assert totals == sorted(totals, reverse=True)
    picked = analysis.pick(8)
    assert len(picked) == 8
    for one, other in itertools.combinations(picked, 2):
        assert not one.overlaps(other)
    # Greedy: the best candidate always makes it.
    assert picked[0] == analysis.candidates[0]


def test_no_words_at_all_is_no_speech() -> None:
    for transcript in (
        Transcript(language="en", duration_seconds=30.0, segments=[]),
        Transcript(language="en", duration_seconds=30.0, segments=[Segment(start=0.0, end=30.0, text="", words=[])]),
    ):
        with pytest.raises(StageError) as caught:
            find_highlights(transcript, options())
        assert caught.value.code == "no_speech"
        assert "speech" in caught.value.message


def test_speech_shorter_than_the_minimum_is_no_highlights() -> None:
    transcript = spoken(DEMO_SENTENCES[:2])  # about 7 s of speech
    speech = split_sentences(transcript)[-1].end - split_sentences(transcript)[0].start
    assert 5 < speech < 10
    with pytest.raises(StageError) as caught:
        find_highlights(transcript, options(min_clip_seconds=15, max_clip_seconds=60))
    error = caught.value
    assert error.code == "no_highlights"
    assert f"{speech:.1f}".rstrip("0").rstrip(".") in error.message
    assert "15" in error.message and "60" in error.message
    assert "minimum" in error.message
    # Following the advice works.
    suggested = float(error.message.split("minimum clip length to ")[1].split(" ")[0])
    assert find_highlights(transcript, options(min_clip_seconds=suggested, max_clip_seconds=60))


def test_long_unbroken_sentence_is_no_highlights_with_range_advice() -> None:
    # One 40-word sentence without any boundary: 16 s long, longer than the 12 s maximum.
    transcript = spoken([" ".join(["word"] * 40) + "."])
    with pytest.raises(StageError) as caught:
        find_highlights(transcript, options(min_clip_seconds=5, max_clip_seconds=12))
    assert caught.value.code == "no_highlights"
    assert "16" in caught.value.message and "5" in caught.value.message and "12" in caught.value.message


def test_highlights_are_deterministic(embedder: SentenceEmbedder) -> None:
    transcript = spoken(DEMO_SENTENCES * 2)
    first = find_highlights(transcript, options(), embedder=embedder)
    second = find_highlights(transcript.model_copy(deep=True), options(), embedder=embedder)
    assert [h.model_dump() for h in first] == [h.model_dump() for h in second]
    # Word order in the input does not matter either.
    shuffled = Transcript(
        language="en",
        duration_seconds=transcript.duration_seconds,
        segments=[
            Segment(
                start=0.0, end=transcript.duration_seconds, text=transcript.text, words=list(reversed(transcript.words))
            ),
        ],
    )
    assert [h.model_dump() for h in find_highlights(shuffled, options(), embedder=embedder)] == [
        h.model_dump() for h in first
    ]


def test_an_hour_of_speech_gives_the_full_non_overlapping_set(embedder: SentenceEmbedder) -> None:
    # Speed on long transcripts is measured in bench/analysis, not asserted here.
    transcript = spoken(DEMO_SENTENCES * 75)  # about an hour
    assert transcript.duration_seconds > 3600
    opts = options(max_clips=20, min_clip_seconds=15, max_clip_seconds=60)
    for found in (find_highlights(transcript, opts), find_highlights(transcript, opts, embedder=embedder)):
        assert len(found) == 20
        spans = sorted((highlight.start, highlight.end) for highlight in found)
        assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(spans))
