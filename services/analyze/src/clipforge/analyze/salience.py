"""Keyword salience: TF-IDF of a window's words against the whole transcript.

Every sentence of the transcript is one document. A word scores high in a window when the window
uses it more than once (sublinear term frequency) and few other sentences of the video use it
(inverse document frequency): the words that make this moment about something in particular.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

from clipforge.analyze.sentences import Sentence

# Spoken filler and contractions that say nothing about the topic.
SPOKEN_STOP_WORDS = frozenset(
    {
        "yeah", "okay", "ok", "um", "uh", "oh", "ah", "like", "just", "really", "actually", "basically",
        "know", "think", "mean", "going", "gonna", "wanna", "gotta", "kind", "sort", "lot", "lots", "thing",
        "things", "stuff", "got", "get", "getting", "let", "right", "well", "say", "said", "want", "need",
        "don't", "didn't", "doesn't", "isn't", "aren't", "wasn't", "weren't", "can't", "won't", "wouldn't",
        "couldn't", "shouldn't", "i'm", "i've", "i'll", "i'd", "you're", "you've", "you'll", "you'd", "it's",
        "that's", "there's", "here's", "what's", "let's", "we're", "we've", "we'll", "they're", "they've",
        "he's", "she's", "hello", "thank", "thanks", "welcome", "today", "yes",
    }
)  # fmt: skip
STOP_WORDS = frozenset(ENGLISH_STOP_WORDS) | SPOKEN_STOP_WORDS

# Words of two letters or more, apostrophes inside allowed ("didn't" stays one word).
_TOKEN_PATTERN = r"(?u)\b[^\W\d_](?:[^\W\d_]|['\u2019])*[^\W\d_]\b"
TOP_TERMS = 5


@dataclass(frozen=True)
class WindowTerms:
    """The terms of one window and their weights, strongest first."""

    names: np.ndarray
    weights: np.ndarray

    @property
    def salience(self) -> float:
        """Mean weight of the strongest ``TOP_TERMS`` terms (0 when the window has none)."""
        top = self.weights[:TOP_TERMS]
        return float(top.mean()) if top.size else 0.0

    def keywords(self, count: int = TOP_TERMS) -> list[str]:
        return [str(name) for name in self.names[:count]]

    def weight_of(self) -> dict[str, float]:
        return {str(name): float(weight) for name, weight in zip(self.names, self.weights, strict=True)}


class KeywordIndex:
    """Term counts of every sentence, and the inverse document frequency of every term."""

    def __init__(self, sentences: Sequence[Sentence]) -> None:
        self.sentence_count = len(sentences)
        vectorizer = CountVectorizer(
            lowercase=True, token_pattern=_TOKEN_PATTERN, stop_words=sorted(STOP_WORDS), dtype=np.float64
        )
        texts = [sentence.text.replace("\u2019", "'") for sentence in sentences]
        try:
            self.counts: sparse.csr_matrix = sparse.csr_matrix(vectorizer.fit_transform(texts))
            self.vocabulary = np.asarray(vectorizer.get_feature_names_out(), dtype=object)
        except ValueError:  # nothing but stop words in the whole transcript
            self.counts = sparse.csr_matrix((len(texts), 0), dtype=np.float64)
            self.vocabulary = np.asarray([], dtype=object)
        document_frequency = np.asarray((self.counts > 0).sum(axis=0)).ravel()
        # scikit-learn's smoothed idf: as if one more sentence held every term once.
        self.idf = np.log((1.0 + self.sentence_count) / (1.0 + document_frequency)) + 1.0

    def windows(self, spans: Sequence[tuple[int, int]]) -> list[WindowTerms]:
        """The weighted terms of each window of sentences ``first..last`` (inclusive)."""
        if not spans:
            return []
        rows, columns = [], []
        for row, (first, last) in enumerate(spans):
            rows.extend([row] * (last - first + 1))
            columns.extend(range(first, last + 1))
        membership = sparse.csr_matrix((np.ones(len(rows)), (rows, columns)), shape=(len(spans), self.sentence_count))
        counts = sparse.csr_matrix(membership @ self.counts)
        return [self._terms(counts, row) for row in range(len(spans))]

    def _terms(self, counts: sparse.csr_matrix, row: int) -> WindowTerms:
        begin, end = counts.indptr[row], counts.indptr[row + 1]
        columns = counts.indices[begin:end]
        weights = (1.0 + np.log(counts.data[begin:end])) * self.idf[columns]
        # Strongest first; equal weights in column order, which is alphabetical.
        order = np.lexsort((columns, -weights))
        return WindowTerms(self.vocabulary[columns[order]], weights[order])
