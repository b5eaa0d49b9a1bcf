"""The named sub-scores, the weighted total, the reason, titles and keywords."""

from __future__ import annotations

import pytest
from test_analyze_support import ASTRONOMY, COOKING, SOFTWARE, options, spoken

from clipforge.analyze.core import analyze, find_highlights
from clipforge.analyze.embeddings import SentenceEmbedder, load_embedder
from clipforge.analyze.salience import KeywordIndex
from clipforge.analyze.scoring import WEIGHTS, WindowScore
from clipforge.analyze.sentences import Sentence, split_sentences
from clipforge.analyze.signals import (
    COHERENCE,
    ENERGY,
    HOOK,
    PACE,
    SALIENCE,
    SELF_CONTAINED,
    SubScore,
    hook,
    pace,
    self_containedness,
)
from clipforge.analyze.titles import make_title
from clipforge.devstack.samples import DEMO_SENTENCES

ALL_SUB_SCORES = {HOOK, SELF_CONTAINED, COHERENCE, ENERGY, PACE, SALIENCE}


@pytest.fixture(scope="module")
def embedder() -> SentenceEmbedder:
    return load_embedder()


def sentence(text: str, **rhythm: float) -> Sentence:
    [only] = split_sentences(spoken([text], **rhythm))
    return only


def window(*texts: str) -> list[Sentence]:
    return split_sentences(spoken(list(texts)))


# --- hook -----------------------------------------------------------------------------------


def test_a_punchy_question_to_the_viewer_hooks_and_a_long_flat_opening_does_not() -> None:
    strong = hook(sentence("Why do you lose ten hours every week?"))
    flat = hook(
        sentence(
            "The committee reviewed the quarterly figures in some detail during the long afternoon session "
            "held in the large meeting room upstairs."
        )
    )
    assert strong.value == 100.0
    for feature in ("question", "number", "speaks to the viewer", "short 8-word opening"):
        assert feature in strong.explanation
    assert flat.value == 10.0 and flat.explanation == "long 21-word opening"


@pytest.mark.parametrize(
    ("opening", "feature"),
    [
        ("Is this the end of the office as we know it?", "question"),
        ("Three teams shipped the release in a single afternoon last week.", "number"),
        ("Nobody reads the manual before they press the button on the machine.", "strong claim"),
        ("Your team ships the release in a single afternoon next week.", "speaks to the viewer"),
    ],
)
def test_each_hook_feature_adds_to_a_plain_opening(opening: str, feature: str) -> None:
    plain = hook(sentence("The team ships the release in a single afternoon next week."))
    featured = hook(sentence(opening))
    assert feature in featured.explanation and feature not in plain.explanation
    assert featured.value > plain.value


def test_shorter_openings_hook_more() -> None:
    values = [
        hook(sentence(text)).value
        for text in (
            "Deploy small changes.",
            "Deploy small changes to the staging servers each morning.",
            "Deploy small changes to the staging servers each morning before the daily meeting begins here.",
        )
    ]
    assert values[0] > values[1] > values[2]


# --- self-containedness ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("opening", "problem"),
    [
        ("And then the build finished early.", "mid-thought"),
        ("So the build finished early.", "mid-thought"),
        ("But the build finished early.", "mid-thought"),
        ("Because the build finished early.", "mid-thought"),
        ("That build finished early.", "mid-thought"),
        ("As I said, the build finished early.", "refers back"),
        ("Like I said the build finished early.", "refers back"),
        ("That one finished early.", "refers back"),
        ("This is why the build finished early.", 'opens with "this"'),
        ("It finished early.", 'opens with "it"'),
    ],
)
def test_openings_that_lean_on_what_came_before_lose_self_containedness(opening: str, problem: str) -> None:
    clean = self_containedness(window("The build finished early.", "Everyone went home."))
    leaning = self_containedness(window(opening, "Everyone went home."))
    assert clean.value == 100.0 and "independent" in clean.explanation
    assert leaning.value <= 70.0
    assert problem in leaning.explanation


def test_an_unfinished_or_open_ending_loses_self_containedness() -> None:
    unfinished = self_containedness(window("The build finished early.", "Then everyone went"))
    open_question = self_containedness(window("The build finished early.", "Guess what happened next?"))
    assert unfinished.value == 70.0 and "ends mid-sentence" in unfinished.explanation
    assert open_question.value == 85.0 and "question" in open_question.explanation


def test_filler_before_a_dangling_word_is_seen_through() -> None:
    score = self_containedness(window("Okay so the build finished early.", "Everyone went home."))
    assert "filler" in score.explanation and "mid-thought" in score.explanation
    assert score.value == 100.0 - 10.0 - 45.0


# --- pace -----------------------------------------------------------------------------------


def test_pace_is_best_at_a_comfortable_rate() -> None:
    text = "We ship small changes every day and we sleep well at night."
    comfortable = pace([sentence(text, word_seconds=0.35, word_gap=0.05)])  # 2.6 words/s
    slow = pace([sentence(text, word_seconds=0.3, word_gap=0.9)])
    rushed = pace([sentence(text, word_seconds=0.12, word_gap=0.01)])
    assert comfortable.value == 100.0 and "comfortable" in comfortable.explanation
    assert slow.value < 50.0 and "slow" in slow.explanation
    assert rushed.value < 60.0 and "fast" in rushed.explanation


# --- coherence with the real model ----------------------------------------------------------


def test_one_subject_is_more_coherent_than_a_mix(embedder: SentenceEmbedder) -> None:
    on_topic = analyze(spoken(COOKING[:4]), options(min_clip_seconds=3), embedder=embedder)
    mixed = analyze(
        spoken([COOKING[0], ASTRONOMY[1], SOFTWARE[2], COOKING[3]]), options(min_clip_seconds=3), embedder=embedder
    )

    def whole(analysis_result: object) -> SubScore:
        candidate = next(c for c in analysis_result.candidates if c.first == 0 and c.last == 3)  # type: ignore[attr-defined]
        return candidate.score.component(COHERENCE)

    assert whole(on_topic).value >= 70.0 and "one subject" in whole(on_topic).explanation
    assert whole(mixed).value <= 30.0


# --- keyword salience, keywords and titles --------------------------------------------------


def test_salience_favours_words_specific_to_the_window() -> None:
    sentences = split_sentences(spoken(SOFTWARE + COOKING))
    index = KeywordIndex(sentences)
    software, cooking, across = index.windows([(0, 2), (7, 9), (6, 7)])
    assert "pipeline" in software.keywords(3)
    assert "onions" in cooking.keywords(5) or "butter" in cooking.keywords(5)
    assert software.salience > across.salience and cooking.salience > across.salience
    assert not {"the", "and", "a", "you"} & set(software.keywords(20))


def test_highlights_carry_titles_keywords_and_every_sub_score(tmp_path: object, embedder: SentenceEmbedder) -> None:
    transcript = spoken(SOFTWARE + COOKING + ASTRONOMY)
    highlights = find_highlights(
        transcript, options(max_clips=3, min_clip_seconds=8, max_clip_seconds=20), embedder=embedder
    )
    assert len(highlights) == 3
    for highlight in highlights:
        assert set(highlight.sub_scores) == ALL_SUB_SCORES - {ENERGY}  # no audio given
        assert all(0.0 <= value <= 100.0 for value in highlight.sub_scores.values())
        assert 1 <= len(highlight.title.split()) <= 12 and highlight.title[0].isupper()
        assert highlight.title.rstrip("?").lower().split()[-1] in highlight.text.lower()
        assert 3 <= len(highlight.keywords) <= 5
        assert all(keyword in highlight.text.lower() for keyword in highlight.keywords)


def test_a_title_comes_from_the_most_salient_sentence() -> None:
    sentences = split_sentences(spoken(SOFTWARE + COOKING))
    terms = KeywordIndex(sentences).windows([(7, 10)])[0]
    title = make_title(sentences[7:11], terms)
    assert "onions" in title.lower()
    assert len(title.split()) <= 12 and not title.endswith(".")


def test_a_long_clause_is_cut_to_its_weightiest_words() -> None:
    long_sentence = (
        "We spent the whole of last winter quietly rebuilding the ancient stone bridge over the river "
        "with volunteers from the village"
    )
    sentences = split_sentences(spoken([long_sentence + ".", "The river bridge opened in spring."]))
    terms = KeywordIndex(sentences).windows([(0, 1)])[0]
    title = make_title(sentences, terms)
    assert len(title.split()) == 8
    assert title.lower() in long_sentence.lower()
    assert "bridge" in title.lower()


# --- total and reason -----------------------------------------------------------------------


def test_the_total_is_the_documented_weighted_mean_of_the_present_sub_scores() -> None:
    parts = (SubScore(HOOK, 100.0, "x"), SubScore(SELF_CONTAINED, 50.0, "y"), SubScore(PACE, 0.0, "z"))
    expected = (100 * WEIGHTS[HOOK] + 50 * WEIGHTS[SELF_CONTAINED]) / (
        WEIGHTS[HOOK] + WEIGHTS[SELF_CONTAINED] + WEIGHTS[PACE]
    )
    assert WindowScore(parts).total == pytest.approx(expected, abs=0.05)
    assert sum(WEIGHTS.values()) == pytest.approx(1.0)
    assert set(WEIGHTS) == ALL_SUB_SCORES


def test_the_reason_names_the_strongest_sub_scores_and_a_weak_one() -> None:
    score = WindowScore(
        (
            SubScore(HOOK, 95.0, "opens with a question"),
            SubScore(SELF_CONTAINED, 100.0, "starts and ends on whole, independent sentences"),
            SubScore(PACE, 20.0, "slow, 0.4 words/s"),
            SubScore(SALIENCE, 60.0, "distinctive words: onions"),
        )
    )
    assert score.reason == (
        "Strongest: self-contained 100 (starts and ends on whole, independent sentences); "
        "hook 95 (opens with a question). Weakest: pace 20 (slow, 0.4 words/s)."
    )


def test_a_clean_window_beats_the_same_window_starting_mid_thought() -> None:
    transcript = spoken(
        [
            "And so we built the first version in a week.",
            "We built the first version in one week.",
            "We tested the first version in one week.",
            "We shipped the first version in one week.",
        ]
    )
    [best] = find_highlights(transcript, options(max_clips=1, min_clip_seconds=5, max_clip_seconds=9))
    assert not best.text.startswith("And")
    assert best.sub_scores[SELF_CONTAINED] == 100.0


def test_the_demo_talk_gets_explained_scores_end_to_end(embedder: SentenceEmbedder) -> None:
    highlights = find_highlights(spoken(DEMO_SENTENCES), options(max_clips=3), embedder=embedder)
    assert highlights and [h.score for h in highlights] == sorted((h.score for h in highlights), reverse=True)
    for highlight in highlights:
        assert highlight.reason.startswith("Strongest: ")
        assert highlight.score == pytest.approx(
            sum(highlight.sub_scores[k] * WEIGHTS[k] for k in highlight.sub_scores)
            / sum(WEIGHTS[k] for k in highlight.sub_scores),
            abs=0.1,
        )
