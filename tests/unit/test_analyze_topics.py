"""Topic segmentation (TextTiling over sentence embeddings) and the rule that no clip straddles
a topic boundary: on hand-made vectors, and on texts embedded by the real bundled model."""

from __future__ import annotations

import numpy as np
import pytest
from test_analyze_support import ASTRONOMY, COOKING, SOFTWARE, options, spoken

from clipforge.analyze.core import analyze, find_highlights
from clipforge.analyze.embeddings import SentenceEmbedder, bundled_model_path, load_embedder
from clipforge.analyze.topics import (
    MIN_DEPTH,
    PAUSE_BONUS,
    TopicSegmentation,
    depth_scores,
    gap_similarities,
    segment_topics,
)
from clipforge.devstack.samples import DEMO_SENTENCES


@pytest.fixture(scope="module")
def embedder() -> SentenceEmbedder:
    return load_embedder()


def unit_rows(rows: list[list[float]]) -> np.ndarray:
    vectors = np.asarray(rows, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def two_topics(first: int, second: int, seed: int = 7) -> np.ndarray:
    """``first`` vectors near one direction, then ``second`` near an orthogonal one."""
    noise = np.random.default_rng(seed).normal(scale=0.15, size=(first + second, 8))
    base = np.zeros((first + second, 8))
    base[:first, 0] = 1.0
    base[first:, 1] = 1.0
    return unit_rows((base + noise).tolist())


# --- the algorithm on vectors with a known structure ---------------------------------------


def test_depth_scores_measure_the_climb_on_both_sides_of_valleys_only() -> None:
    depths = depth_scores([0.9, 0.5, 0.7, 0.8, 0.2, 0.6])
    # gap 1: climbs to 0.9 on the left and to 0.8 on the right; gap 4: 0.8 left, 0.6 right.
    assert depths.tolist() == pytest.approx([0.0, 0.4 + 0.3, 0.0, 0.0, 0.6 + 0.4, 0.0])


def test_gap_similarity_compares_blocks_either_side() -> None:
    vectors = two_topics(6, 6)
    similarities = gap_similarities(vectors, block=3)
    assert len(similarities) == 11
    assert int(np.argmin(similarities)) == 5  # the gap after the sixth vector
    assert similarities[5] < 0.3 < min(similarities[1], similarities[9])


def test_a_topic_change_is_a_boundary_and_one_topic_has_none() -> None:
    assert segment_topics(two_topics(7, 5)).boundaries == (6,)
    same = unit_rows((np.ones((12, 8)) + np.random.default_rng(3).normal(scale=0.15, size=(12, 8))).tolist())
    assert segment_topics(same).boundaries == ()


def test_no_boundary_leaves_a_topic_of_one_sentence() -> None:
    # The first vector alone points elsewhere: too little to call a topic.
    vectors = two_topics(1, 9)
    assert segment_topics(vectors).boundaries == ()
    assert segment_topics(vectors, min_topic_sentences=1).boundaries == (0,)


def test_short_sentences_weigh_less_in_a_block() -> None:
    # Sentence 3 is a one-word aside ("Okay.") pointing elsewhere inside the first topic.
    vectors = unit_rows([[1, 0]] * 3 + [[0, 1]] + [[1, 0]] * 3 + [[0, 1]] * 6)
    weights = [12, 12, 12, 1, 12, 12, 12] + [12] * 6
    equal = depth_scores(gap_similarities(vectors))
    weighted = depth_scores(gap_similarities(vectors, weights=weights))
    assert weighted[2] < equal[2] / 3
    assert segment_topics(vectors, weights=weights).boundaries == (6,)


def test_segmentation_reports_topics_per_sentence() -> None:
    topics = TopicSegmentation(6, boundaries=(1, 3), depth=(0.0, 0.9, 0.0, 0.6, 0.0))
    assert topics.topic_of == (0, 0, 1, 1, 2, 2)
    assert topics.topic_count == 3
    assert topics.same_topic(2, 3) and not topics.same_topic(1, 2)
    assert topics.weakest_boundary() == 3
    assert topics.without(3).topic_of == (0, 0, 1, 1, 1, 1)


# --- the real model -------------------------------------------------------------------------


def test_the_model_comes_from_the_installed_package(embedder: SentenceEmbedder) -> None:
    path = bundled_model_path()
    assert (path / "model.safetensors").is_file() and "site-packages" in str(path)
    vectors = embedder.encode(["A cat sat on the mat.", "A kitten sat on the rug.", "Stocks fell sharply today."])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert float(vectors[0] @ vectors[1]) > float(vectors[0] @ vectors[2]) + 0.3
    assert embedder.encode([]).shape == (0, 384)
    assert load_embedder() is embedder  # one model per process


def test_real_embeddings_find_the_joins_between_three_subjects(embedder: SentenceEmbedder) -> None:
    transcript = spoken(SOFTWARE + COOKING + ASTRONOMY)
    analysis = analyze(transcript, options(), embedder=embedder)
    joins = (len(SOFTWARE) - 1, len(SOFTWARE) + len(COOKING) - 1)
    assert analysis.topics.boundaries == joins
    for one_subject in (DEMO_SENTENCES, SOFTWARE, COOKING, ASTRONOMY):
        assert analyze(spoken(one_subject), options(), embedder=embedder).topics.boundaries == ()


def test_no_candidate_straddles_a_topic_boundary(embedder: SentenceEmbedder) -> None:
    transcript = spoken(SOFTWARE + COOKING + ASTRONOMY)
    opts = options(max_clips=6, min_clip_seconds=8, max_clip_seconds=30)
    subject_of = ["software"] * len(SOFTWARE) + ["cooking"] * len(COOKING) + ["astronomy"] * len(ASTRONOMY)

    def subjects(analysis_first: int, analysis_last: int) -> set[str]:
        return set(subject_of[analysis_first : analysis_last + 1])

    with_topics = analyze(transcript, opts, embedder=embedder)
    assert with_topics.candidates
    assert all(len(subjects(c.first, c.last)) == 1 for c in with_topics.candidates)
    # Without the model the same lengths allow windows across the joins: the rule is what stops them.
    without_topics = analyze(transcript, opts)
    assert any(len(subjects(c.first, c.last)) > 1 for c in without_topics.candidates)

    highlights = find_highlights(transcript, opts, embedder=embedder)
    sentences = with_topics.sentences
    for highlight in highlights:
        inside = [i for i, s in enumerate(sentences) if highlight.start <= s.start and s.end <= highlight.end]
        assert len({subject_of[i] for i in inside}) == 1
        assert highlight.sub_scores["coherence"] >= 60


def test_topics_that_leave_no_room_for_a_clip_give_way_to_the_weakest_boundary(embedder: SentenceEmbedder) -> None:
    # Each subject lasts about 9 s; a 15 s clip has to span a join or there is no clip at all.
    transcript = spoken(SOFTWARE[:2] + COOKING[:2] + ASTRONOMY[:2], sentence_gap=0.3)
    analysis = analyze(transcript, options(min_clip_seconds=15, max_clip_seconds=25), embedder=embedder)
    assert analysis.candidates
    assert analysis.topics.topic_count < 3


def test_a_long_pause_deepens_a_moderate_valley_into_a_boundary() -> None:
    # A shift of vocabulary too mild to count alone (depth below the floor).
    vectors = unit_rows([[1.0, 0.55]] * 6 + [[0.55, 1.0]] * 6)
    [depth] = [d for d in depth_scores(gap_similarities(vectors)) if d > 0]
    assert depth < MIN_DEPTH < depth + PAUSE_BONUS
    quick = [0.3] * 11
    assert segment_topics(vectors, pauses=quick).boundaries == ()
    assert segment_topics(vectors, pauses=[*quick[:5], 5.0, *quick[6:]]).boundaries == (5,)
    # A pause where the subject carries on is no boundary.
    same = unit_rows([[1.0, 0.55]] * 12)
    assert segment_topics(same, pauses=[*quick[:5], 5.0, *quick[6:]]).boundaries == ()
