"""The analyze core on hand-built transcripts: window rules, selection, errors, determinism, speed."""

from __future__ import annotations

import itertools

import pytest
from test_analyze_support import ASTRONOMY, SOFTWARE, options, spoken, transcript_of, words_at

from clipforge.analyze.core import analyze, find_highlights, split_sentences, whole_sentence_edges
from clipforge.analyze.embeddings import SentenceEmbedder, load_embedder
from clipforge.analyze.sentences import clean_words, ends_sentence
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


def _joined_mid_sentence() -> Transcript:
    """Two recordings played one after the other, the way real material is cut: the first stops
    mid-sentence ("..., anyone on the team,"), two seconds of silence, and the second starts
    mid-sentence too ("from a dark field ..."), the recogniser giving neither end a full stop."""
    first = spoken([*SOFTWARE[:5], "When the pipeline is green, anyone on the team,"])
    second = spoken(
        ["from a dark field its dusty arms appear as a faint band of light across the sky.", *ASTRONOMY[:5]],
        start=first.duration_seconds + 2.0,
    )
    return Transcript(
        language="en", duration_seconds=second.duration_seconds, segments=[*first.segments, *second.segments]
    )


def _punctuated_edges(transcript: Transcript) -> tuple[set[float], set[float]]:
    """Sentence starts and ends as the recogniser's punctuation gives them (the quality bench's
    rule), not as the segmenter does: a word after . ? ! starts a sentence."""
    words = clean_words(transcript.words)
    starts = {words[0].start} | {w.start for prev, w in itertools.pairwise(words) if ends_sentence(prev.text)}
    ends = {words[-1].end} | {w.end for w in words if ends_sentence(w.text)}
    return starts, ends


@pytest.mark.parametrize(("shortest", "longest"), [(5, 15), (10, 30), (15, 45)])
def test_clips_open_and_close_on_punctuated_sentences_not_where_a_pause_cut_one(shortest: int, longest: int) -> None:
    transcript = _joined_mid_sentence()
    sentences = split_sentences(transcript)
    fragment = next(i for i, s in enumerate(sentences) if s.text.endswith("team,"))
    assert not sentences[fragment].terminated  # the pause split it off: a fragment, not a sentence
    starts, ends = _punctuated_edges(transcript)

    analysis = analyze(transcript, options(max_clips=20, min_clip_seconds=shortest, max_clip_seconds=longest))

    assert analysis.candidates
    for candidate in analysis.candidates:
        assert candidate.start in starts, sentences[candidate.first].text
        assert candidate.end in ends, sentences[candidate.last].text
    # A clip may still run through the fragment, just never open after it or close on it.
    assert all(c.last != fragment and c.first != fragment + 1 for c in analysis.candidates)


def test_whole_sentence_edges() -> None:
    transcript = transcript_of(
        words_at(
            [
                (0.0, 0.3, "so"),
                (0.3, 0.6, "anyway,"),  # a pause cuts here: a fragment
                (2.5, 2.8, "it"),
                (2.8, 3.1, "works."),
                (3.2, 3.5, "Ship"),
                (3.5, 3.8, "it"),  # the last words, unpunctuated: the end of the speech
            ]
        )
    )
    sentences = split_sentences(transcript)
    assert [s.text for s in sentences] == ["so anyway,", "it works.", "Ship it"]
    opens, closes = whole_sentence_edges(sentences)
    assert opens == [True, False, True]
    assert closes == [False, True, True]


def test_unpunctuated_speech_still_gets_clips_cut_at_its_pauses() -> None:
    # No punctuation at all (some recognisers and languages give none): pauses are the only
    # sentence ends, and clips fall back to them rather than to no clip.
    spec, t = [], 0.0
    for _run in range(6):
        for _word in range(12):
            spec.append((t, t + 0.3, "word"))
            t += 0.4
        t += 1.6
    transcript = transcript_of(words_at(spec))
    sentences = split_sentences(transcript)
    assert len(sentences) == 6 and not any(s.terminated for s in sentences)
    highlights = find_highlights(transcript, options(max_clips=3, min_clip_seconds=5, max_clip_seconds=12))
    assert highlights
    assert {h.start for h in highlights} <= {s.start for s in sentences}
    assert {h.end for h in highlights} <= {s.end for s in sentences}


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
