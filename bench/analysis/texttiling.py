"""A faithful minimal lexical TextTiling (Hearst 1997), as NLTK's TextTilingTokenizer does it, for
the baseline of the analysis quality harness.

Words are grouped into pseudo-sentences of ``w`` words; the gap between two pseudo-sentences is
scored by the cosine similarity of the term counts (stop words removed) of the ``k``
pseudo-sentences on either side; the scores are smoothed, depth scores are taken at every gap,
and gaps deeper than mean - std/2 (NLTK's default "HC" cutoff) are boundaries. There are no
paragraphs in a transcript, so boundaries stay at pseudo-sentence gaps.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

W = 20  # words per pseudo-sentence (Hearst's and NLTK's default)
K = 10  # pseudo-sentences per block (default)
SMOOTHING_WIDTH = 2
SMOOTHING_ROUNDS = 1
MIN_SEQUENCES_BETWEEN = 2  # NLTK drops a boundary this close to a deeper one


def boundaries(words: Sequence[str], w: int = W, k: int = K) -> list[int]:
    """Word indices at which a new segment starts (never 0)."""
    tokens = [re.sub(r"[^a-z'\-]", "", word.lower()) for word in words]
    sequences = [
        Counter(t for t in tokens[start : start + w] if t and t not in ENGLISH_STOP_WORDS)
        for start in range(0, len(tokens), w)
    ]
    if len(sequences) < 3:
        return []
    gaps = np.array([_block_similarity(sequences, gap, k) for gap in range(1, len(sequences))])
    for _ in range(SMOOTHING_ROUNDS):
        gaps = _smooth(gaps, SMOOTHING_WIDTH)
    depths = _depths(gaps)
    cutoff = depths.mean() - depths.std() / 2.0
    chosen: list[int] = []
    for gap in sorted(range(len(depths)), key=lambda g: -depths[g]):
        if depths[gap] <= cutoff or depths[gap] == 0:
            break
        if all(abs(gap - other) > MIN_SEQUENCES_BETWEEN for other in chosen):
            chosen.append(gap)
    # Gap g lies between pseudo-sentence g and g + 1.
    return sorted((gap + 1) * w for gap in chosen)


def _block_similarity(sequences: list[Counter[str]], gap: int, k: int) -> float:
    left: Counter[str] = Counter()
    right: Counter[str] = Counter()
    for sequence in sequences[max(0, gap - k) : gap]:
        left.update(sequence)
    for sequence in sequences[gap : gap + k]:
        right.update(sequence)
    dot = sum(count * right[term] for term, count in left.items())
    norm = np.sqrt(sum(c * c for c in left.values()) * sum(c * c for c in right.values()))
    return float(dot / norm) if norm else 0.0


def _smooth(values: np.ndarray, width: int) -> np.ndarray:
    """Moving average over 2*width+1 points, reflecting at the ends (as NLTK's smooth does)."""
    if len(values) < 2 * width + 1:
        return values
    padded = np.concatenate([values[width:0:-1], values, values[-2 : -width - 2 : -1]])
    kernel = np.ones(2 * width + 1) / (2 * width + 1)
    return np.convolve(padded, kernel, mode="valid")


def _depths(values: np.ndarray) -> np.ndarray:
    depths = np.zeros(len(values))
    for gap, value in enumerate(values):
        left = gap
        while left > 0 and values[left - 1] >= values[left]:
            left -= 1
        right = gap
        while right + 1 < len(values) and values[right + 1] >= values[right]:
            right += 1
        depths[gap] = (values[left] - value) + (values[right] - value)
    return depths
