"""The analyze core on hand-built transcripts: sentence splitting, window rules, scoring, errors."""

from __future__ import annotations

import itertools
import time

import pytest

from clipforge.analyze.core import find_highlights, split_sentences
from clipforge.analyze.scoring import score_window
from clipforge.devstack.samples import DEMO_SENTENCES
from clipforge.shared.errors import StageError
from clipforge.shared.models import JobOptions, Segment, Transcript, Word


def words_at(spec: list[tuple[float, float, str]], probability: float = 0.95) -> list[Word]:
    return [Word(start=s, end=e, text=t, probability=probability) for s, e, t in spec]


def transcript_of(words: list[Word], language: str = "en") -> Transcript:
    duration = max((w.end for w in words), default=0.0)
    segment = Segment(
        start=words[0].start if words else 0.0,
        end=duration,
        text=" ".join(w.text for w in words),
        words=words,
    )
    return Transcript(language=language, duration_seconds=duration, segments=[segment] if words else [])


def spoken(
    sentences: list[str] | tuple[str, ...],
    *,
    word_seconds: float = 0.35,
    word_gap: float = 0.05,
    sentence_gap: float = 0.5,
    probability: float = 0.95,
    start: float = 0.0,
) -> Transcript:
    """A transcript of ``sentences`` read at a steady known rhythm, one segment per sentence."""
    segments: list[Segment] = []
    t = start
    for sentence in sentences:
        words = []
        for token in sentence.split():
            words.append(Word(start=t, end=t + word_seconds, text=" " + token, probability=probability))
            t += word_seconds + word_gap
        t += sentence_gap - word_gap
        segments.append(Segment(start=words[0].start, end=words[-1].end, text=sentence, words=words))
    return Transcript(language="en", duration_seconds=t, segments=segments)


def options(**overrides: object) -> JobOptions:
    return JobOptions.model_validate({"max_clips": 5, "min_clip_seconds": 10, "max_clip_seconds": 25, **overrides})


# --- sentence splitting -------------------------------------------------------------------


def test_split_sentences_on_terminal_punctuation() -> None:
    transcript = transcript_of(
        words_at(
            [
                (0.0, 0.3, " Hello"),
                (0.3, 0.6, " there."),
                (0.7, 1.0, " Is"),
                (1.0, 1.3, " it"),
                (1.3, 1.6, " working?"),
                (1.7, 2.0, " Yes!"),
                (2.1, 2.4, " Then"),
                (2.4, 2.7, " we"),
                (2.7, 3.0, " go"),
            ]
        )
    )
    sentences = split_sentences(transcript)
    assert [s.text for s in sentences] == ["Hello there.", "Is it working?", "Yes!", "Then we go"]
    assert [(s.start, s.end) for s in sentences] == [(0.0, 0.6), (0.7, 1.6), (1.7, 2.0), (2.1, 3.0)]
    assert [s.terminated for s in sentences] == [True, True, True, False]
    assert [len(s.words) for s in sentences] == [2, 3, 1, 3]


def test_long_pause_ends_a_sentence_and_short_pause_does_not() -> None:
    transcript = transcript_of(
        words_at(
            [
                (0.0, 0.3, "we"),
                (0.3, 0.6, "paused"),
                (2.1, 2.4, "here"),  # 1.5 s of silence before: a boundary
                (3.8, 4.1, "not"),
                (4.1, 4.4, "here"),  # 1.4 s: not a boundary
            ]
        )
    )
    assert [s.text for s in split_sentences(transcript)] == ["we paused", "here not here"]


def test_segment_boundaries_alone_do_not_split_but_the_end_does() -> None:
    transcript = Transcript(
        language="en",
        duration_seconds=2.0,
        segments=[
            Segment(start=0.0, end=0.6, text="one two", words=words_at([(0.0, 0.3, "one"), (0.3, 0.6, "two")])),
            Segment(start=0.7, end=1.3, text="three four", words=words_at([(0.7, 1.0, "three"), (1.0, 1.3, "four")])),
        ],
    )
    assert [s.text for s in split_sentences(transcript)] == ["one two three four"]


def test_split_sentences_tidies_tokens() -> None:
    transcript = transcript_of(
        words_at(
            [
                (0.0, 0.3, " Dr."),
                (0.3, 0.6, " Smith"),
                (0.6, 0.9, " agreed"),
                (0.9, 0.9, " ."),
                (1.0, 1.0, "   "),
                (1.1, 1.4, ' "Fine."'),
                (1.5, 1.8, " Done"),
            ]
        )
    )
    sentences = split_sentences(transcript)
    assert [s.text for s in sentences] == ["Dr. Smith agreed.", '"Fine."', "Done"]


def test_split_sentences_of_an_empty_transcript() -> None:
    assert split_sentences(Transcript(language="en", duration_seconds=0.0, segments=[])) == []
    blank = Transcript(
        language="en",
        duration_seconds=5.0,
        segments=[
            Segment(start=0.0, end=5.0, text="", words=[]),
            Segment(start=5.0, end=6.0, text=" ", words=words_at([(5.0, 6.0, "  ")])),
        ],
    )
    assert split_sentences(blank) == []


# --- highlights ---------------------------------------------------------------------------


def test_highlights_follow_the_window_rules_on_a_known_structure() -> None:
    transcript = spoken(DEMO_SENTENCES * 3)
    sentences = split_sentences(transcript)
    assert len(sentences) == 3 * len(DEMO_SENTENCES)
    starts = {s.start for s in sentences}
    ends = {s.end for s in sentences}
    opts = options(max_clips=4, min_clip_seconds=10, max_clip_seconds=20)

    highlights = find_highlights(transcript, opts)

    assert 1 <= len(highlights) <= opts.max_clips
    assert len(highlights) == opts.max_clips  # the transcript is long enough for all of them
    for h in highlights:
        assert h.start in starts and h.end in ends
        assert opts.min_clip_seconds <= h.duration <= opts.max_clip_seconds
        assert 0 <= h.score <= 100
        assert h.reason and "\n" not in h.reason
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


def test_reason_describes_a_clean_window() -> None:
    transcript = spoken(DEMO_SENTENCES[:4], word_seconds=0.3, word_gap=0.02, sentence_gap=0.3)
    [best] = find_highlights(transcript, options(max_clips=1, min_clip_seconds=5, max_clip_seconds=60))
    assert "complete sentences" in best.reason
    assert "% talking" in best.reason
    assert "clear audio" in best.reason


def test_dangling_start_scores_lower_on_completeness() -> None:
    dangling = split_sentences(spoken(["And so ship small changes every day."]))
    clean = split_sentences(spoken(["We all ship small changes every day."]))
    # Same number of words at the same times: only the opening differs.
    assert [(w.start, w.end) for w in clean[0].words] == [(w.start, w.end) for w in dangling[0].words]

    clean_score, dangling_score = score_window(clean), score_window(dangling)
    assert dangling_score.component("completeness").value < clean_score.component("completeness").value
    assert dangling_score.total < clean_score.total
    assert "mid-thought" in dangling_score.reason and "mid-thought" not in clean_score.reason
    for name in ("density", "pace", "confidence"):
        assert dangling_score.component(name).value == clean_score.component(name).value


def test_selection_avoids_a_dangling_start_when_an_equal_clean_one_exists() -> None:
    transcript = spoken(
        [
            "And so we built the first version in a week.",
            "We built the first version in one week.",
            "We tested the first version in one week.",
            "We shipped the first version in one week.",
        ]
    )
    opts = options(max_clips=1, min_clip_seconds=5, max_clip_seconds=9)
    [best] = find_highlights(transcript, opts)
    assert not best.text.startswith("And")
    assert "mid-thought" not in best.reason


def test_unfinished_last_sentence_scores_lower_on_completeness() -> None:
    finished = score_window(split_sentences(spoken(["We ship small changes every day."])))
    unfinished = score_window(split_sentences(spoken(["We ship small changes every day"])))
    assert unfinished.component("completeness").value < finished.component("completeness").value
    assert "ends mid-sentence" in unfinished.reason


def test_pace_and_density_reflect_the_rhythm() -> None:
    sentence = ["We ship small changes every day and we sleep well at night."]
    steady = score_window(split_sentences(spoken(sentence, word_seconds=0.35, word_gap=0.05)))
    halting = score_window(split_sentences(spoken(sentence, word_seconds=0.3, word_gap=0.9)))
    assert steady.component("pace").value == 1.0
    assert halting.component("pace").value < 1.0
    assert halting.component("density").value < steady.component("density").value
    assert "slow pace" in halting.reason and "sparse speech" in halting.reason


def test_confidence_lowers_the_score() -> None:
    sure = score_window(split_sentences(spoken(["We ship small changes every day."], probability=0.98)))
    unsure = score_window(split_sentences(spoken(["We ship small changes every day."], probability=0.4)))
    assert unsure.total < sure.total
    assert "hard-to-hear audio" in unsure.reason


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


def test_highlights_are_deterministic() -> None:
    transcript = spoken(DEMO_SENTENCES * 2)
    first = find_highlights(transcript, options())
    second = find_highlights(transcript.model_copy(deep=True), options())
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
    assert [h.model_dump() for h in find_highlights(shuffled, options())] == [h.model_dump() for h in first]


def test_an_hour_of_speech_is_fast() -> None:
    transcript = spoken(DEMO_SENTENCES * 75)  # about an hour
    assert transcript.duration_seconds > 3600
    began = time.perf_counter()
    highlights = find_highlights(transcript, options(max_clips=20, min_clip_seconds=15, max_clip_seconds=60))
    assert time.perf_counter() - began < 5.0
    assert len(highlights) == 20
