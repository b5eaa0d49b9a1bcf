"""Sentences from word timestamps: pysbd's boundaries mapped back onto whole, timed words."""

from __future__ import annotations

import pysbd
import pytest
from test_analyze_support import spoken, transcript_of, words_at

from clipforge.analyze.sentences import SEGMENTER_CHUNK_WORDS, segmenter_language, split_sentences
from clipforge.shared.models import Segment, Transcript, Word


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
    assert [s.is_question for s in sentences] == [False, True, False, False]
    assert [len(s.words) for s in sentences] == [2, 3, 1, 3]


def test_the_segmenter_knows_what_a_regex_on_dots_gets_wrong() -> None:
    # Abbreviations, decimals, initialisms and money: none of their dots ends a sentence.
    text = (
        "Dr. Smith paid $3.50 for the U.S. edition. It sold 2.5 million copies, i.e. most of them! "
        "Mr. Jones asked why at 9 a.m. on Monday? He got no answer."
    )
    transcript = spoken([text])
    assert [s.text for s in split_sentences(transcript)] == [
        "Dr. Smith paid $3.50 for the U.S. edition.",
        "It sold 2.5 million copies, i.e. most of them!",
        "Mr. Jones asked why at 9 a.m. on Monday?",
        "He got no answer.",
    ]


def test_sentences_keep_the_timings_of_their_words() -> None:
    transcript = spoken(["Dr. Smith agreed with us.", "Then the meeting ended early."], word_seconds=0.3)
    words = transcript.words
    first, second = split_sentences(transcript)
    assert [w.start for w in first.words] == [w.start for w in words[:5]]
    assert (first.start, first.end) == (words[0].start, words[4].end)
    assert (second.start, second.end) == (words[5].start, words[-1].end)
    assert first.words[0].text == "Dr." and second.words[0].text == "Then"


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
    assert [s.text for s in split_sentences(transcript)] == ["Dr. Smith agreed.", '"Fine."', "Done"]


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


def test_every_word_lands_in_exactly_one_sentence_in_order() -> None:
    text = "Okay so... this is it. Is it? Yes. No! 3.14 is pi. The end"
    transcript = spoken(text.split(". "))
    sentences = split_sentences(transcript)
    assert [w for s in sentences for w in s.words] == [
        Word(start=w.start, end=w.end, text=w.text.strip(), probability=w.probability) for w in transcript.words
    ]


def test_long_runs_are_segmented_in_pieces_with_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    # pysbd's time grows with the square of its input: what keeps an hour of speech fast is that
    # it never sees more than a piece (speed itself is measured in bench/, not asserted here).
    sentence = "Metrics, logs and traces tell you what the system is doing right now."
    count = 1200  # 15,600 words without a pause
    transcript = spoken([sentence] * count, sentence_gap=0.05)
    assert len(transcript.words) > 10 * SEGMENTER_CHUNK_WORDS
    seen_words: list[int] = []
    segment = pysbd.Segmenter.segment

    def recording_segment(self: pysbd.Segmenter, text: str) -> list[str]:
        seen_words.append(len(text.split()))
        return segment(self, text)

    monkeypatch.setattr(pysbd.Segmenter, "segment", recording_segment)
    sentences = split_sentences(transcript)
    assert len(sentences) == count
    assert {s.text for s in sentences} == {sentence}
    assert seen_words and max(seen_words) <= SEGMENTER_CHUNK_WORDS


def test_an_unsupported_language_falls_back_to_english_rules() -> None:
    assert segmenter_language("de") == "de"
    assert segmenter_language("en") == "en"
    assert segmenter_language("sw") == "en"
    transcript = spoken(["Habari yako.", "Nzuri sana."], language="sw")
    assert [s.text for s in split_sentences(transcript)] == ["Habari yako.", "Nzuri sana."]
