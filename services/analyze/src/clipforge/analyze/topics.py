"""Topic segmentation: TextTiling (Hearst, 1997) over sentence embeddings.

For every gap between two sentences, the block of ``block`` sentences before it is compared with
the block after it (cosine similarity of the blocks' mean embeddings). A topic change shows as
a valley in that similarity curve; a valley's depth is how far the curve climbs on either side
before it turns down again. Valleys deeper than both a relative cutoff (Hearst's mean minus half
a standard deviation of the valley depths) and an absolute floor are topic boundaries. The floor
keeps a single-topic talk from being cut at its least bad valley.

Speech adds a cue that text lacks: a long silence. As in spoken-topic segmenters (LCSeg), a
pause deepens the valley it falls in, so a moderate change of vocabulary after a long pause
counts; a pause alone (no valley) never makes a boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from clipforge.analyze.embeddings import Vectors

# Sentences on each side of a gap that are compared.
BLOCK_SENTENCES = 3
# A valley shallower than this (in cosine similarity, both sides summed) is no topic change:
# within one subject valleys reach about 0.45, between subjects 0.6 and more.
MIN_DEPTH = 0.5
# A pause between two sentences adds up to PAUSE_BONUS to the depth there: nothing at
# PAUSE_FROM seconds, the whole bonus from PAUSE_FULL seconds on.
PAUSE_BONUS = 0.3
PAUSE_FROM, PAUSE_FULL = 1.0, 4.0
# Boundaries closer than this many sentences: only the deeper one is kept.
MIN_TOPIC_SENTENCES = 2


@dataclass(frozen=True)
class TopicSegmentation:
    """Topic boundaries of ``sentence_count`` sentences.

    ``boundaries`` holds gap indices: ``g`` means sentence ``g`` ends one topic and ``g + 1``
    starts the next. ``similarity[g]`` and ``depth[g]`` are the curve and depth at gap ``g``.
    """

    sentence_count: int
    boundaries: tuple[int, ...] = ()
    similarity: tuple[float, ...] = ()
    depth: tuple[float, ...] = ()
    topic_of: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        topic_of: list[int] = []
        topic, cuts = 0, set(self.boundaries)
        for index in range(self.sentence_count):
            topic_of.append(topic)
            if index in cuts:
                topic += 1
        object.__setattr__(self, "topic_of", tuple(topic_of))

    @property
    def topic_count(self) -> int:
        return len(self.boundaries) + 1 if self.sentence_count else 0

    def same_topic(self, first: int, last: int) -> bool:
        """Whether sentences ``first..last`` lie within one topic."""
        return self.topic_of[first] == self.topic_of[last]

    def without(self, gap: int) -> TopicSegmentation:
        return TopicSegmentation(
            self.sentence_count,
            tuple(b for b in self.boundaries if b != gap),
            self.similarity,
            self.depth,
        )

    def weakest_boundary(self) -> int | None:
        if not self.boundaries:
            return None
        return min(self.boundaries, key=lambda gap: (self.depth[gap], gap))


def single_topic(sentence_count: int) -> TopicSegmentation:
    return TopicSegmentation(sentence_count)


def gap_similarities(
    embeddings: Vectors, block: int = BLOCK_SENTENCES, weights: Sequence[float] | None = None
) -> np.ndarray:
    """Cosine similarity of the blocks either side of each gap (length ``n - 1``).

    A block is the weighted sum of its sentences' embeddings; weighting by word count keeps a
    one-word "Okay." from counting as much as a full sentence.
    """
    count = embeddings.shape[0]
    if count < 2:
        return np.zeros(0, dtype=np.float64)
    weighted = embeddings.astype(np.float64)
    if weights is not None:
        weighted = weighted * np.asarray(weights, dtype=np.float64)[:, None]
    prefix = np.vstack([np.zeros((1, embeddings.shape[1])), np.cumsum(weighted, axis=0)])
    similarities = np.empty(count - 1, dtype=np.float64)
    for gap in range(count - 1):
        left = prefix[gap + 1] - prefix[max(0, gap + 1 - block)]
        right = prefix[min(count, gap + 1 + block)] - prefix[gap + 1]
        norm = float(np.linalg.norm(left) * np.linalg.norm(right))
        similarities[gap] = float(left @ right) / norm if norm > 0 else 0.0
    return similarities


def depth_scores(similarities: Sequence[float]) -> np.ndarray:
    """Hearst's depth score of each gap: the climb to the highest point on each side, summed.

    Only valleys (gaps no higher than both neighbours) get a depth; every other gap gets 0.
    """
    values = np.asarray(similarities, dtype=np.float64)
    depths = np.zeros(len(values), dtype=np.float64)
    for gap, value in enumerate(values):
        if (gap > 0 and values[gap - 1] < value) or (gap + 1 < len(values) and values[gap + 1] < value):
            continue
        left = gap
        while left > 0 and values[left - 1] >= values[left]:
            left -= 1
        right = gap
        while right + 1 < len(values) and values[right + 1] >= values[right]:
            right += 1
        depths[gap] = (values[left] - value) + (values[right] - value)
    return depths


def segment_topics(
    embeddings: Vectors,
    *,
    weights: Sequence[float] | None = None,
    pauses: Sequence[float] | None = None,
    block: int = BLOCK_SENTENCES,
    min_depth: float = MIN_DEPTH,
    min_topic_sentences: int = MIN_TOPIC_SENTENCES,
) -> TopicSegmentation:
    """Topic boundaries between sentences, from one unit-length embedding per sentence.

    ``pauses[g]`` is the silence in seconds between sentence ``g`` and ``g + 1``. No topic is
    shorter than ``min_topic_sentences``: the gaps nearest either end compare a block of one
    sentence, too little to tell a topic by.
    """
    count = int(embeddings.shape[0])
    similarities = gap_similarities(embeddings, block, weights)
    depths = depth_scores(similarities)
    if pauses is not None and len(depths):
        silence = np.clip((np.asarray(pauses, dtype=np.float64) - PAUSE_FROM) / (PAUSE_FULL - PAUSE_FROM), 0.0, 1.0)
        depths = np.where(depths > 0, depths + PAUSE_BONUS * silence, 0.0)
    valleys = depths[depths > 0]
    if valleys.size == 0:
        return TopicSegmentation(count, (), tuple(similarities.tolist()), tuple(depths.tolist()))
    cutoff = max(float(valleys.mean() - valleys.std() / 2.0), min_depth)
    chosen: list[int] = []
    for gap in sorted(np.flatnonzero(depths >= cutoff).tolist(), key=lambda g: (-depths[g], g)):
        inside = min_topic_sentences - 1 <= gap < count - min_topic_sentences
        if inside and all(abs(gap - other) >= min_topic_sentences for other in chosen):
            chosen.append(gap)
    return TopicSegmentation(count, tuple(sorted(chosen)), tuple(similarities.tolist()), tuple(depths.tolist()))
