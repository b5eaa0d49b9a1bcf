"""A short title for a clip, taken from its most salient sentence (no language model needed).

The sentence whose words carry the most keyword weight (per square root of its length, so a
long sentence does not win by size alone) is chosen; from it, the clause carrying the most
weight becomes the title, or, when that clause is longer than ``TITLE_MAX_WORDS``, its run of
``TITLE_EXCERPT_WORDS`` words carrying the most weight.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

from clipforge.analyze.salience import WindowTerms
from clipforge.analyze.sentences import Sentence
from clipforge.analyze.signals import DANGLING_OPENERS, FILLER_OPENERS, bare

TITLE_MAX_WORDS = 12
TITLE_EXCERPT_WORDS = 8
_CLAUSE_END = re.compile(r"[,;:\u2014]$")
_TRAILING = ".,;:!\u2026\u2014-\"'\u201d\u2019)"


def make_title(window: Sequence[Sentence], terms: WindowTerms) -> str:
    weights = terms.weight_of()

    def weight(words: Sequence[str]) -> float:
        return sum(weights.get(bare(word), 0.0) for word in words)

    sentences = [[word.text for word in sentence.words] for sentence in window if sentence.words]
    if not sentences:
        return ""
    best = max(sentences, key=lambda words: weight(words) / math.sqrt(len(words)))
    clauses = _clauses(best)
    clause = max(clauses, key=lambda words: (weight(words), -len(words)))
    clause = _without_leading_filler(clause)
    if len(clause) > TITLE_MAX_WORDS:
        clause = _best_run(clause, TITLE_EXCERPT_WORDS, weight)
    return _tidy(clause)


def _clauses(words: Sequence[str]) -> list[list[str]]:
    clauses: list[list[str]] = [[]]
    for word in words:
        clauses[-1].append(word)
        if _CLAUSE_END.search(word):
            clauses.append([])
    return [clause for clause in clauses if clause]


def _without_leading_filler(words: list[str]) -> list[str]:
    start = 0
    while start < len(words) - 1 and bare(words[start]) in DANGLING_OPENERS | FILLER_OPENERS:
        start += 1
    return words[start:]


def _best_run(words: list[str], size: int, weight: Callable[[Sequence[str]], float]) -> list[str]:
    """The ``size`` consecutive words carrying the most weight (the earliest such run)."""
    start = max(range(len(words) - size + 1), key=lambda i: (weight(words[i : i + size]), -i))
    return words[start : start + size]


def _tidy(words: Sequence[str]) -> str:
    text = " ".join(words).strip().rstrip(_TRAILING).strip()
    text = text.lstrip("\"'\u201c\u2018(").strip()
    return text[:1].upper() + text[1:]
