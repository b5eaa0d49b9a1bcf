"""The named sub-scores of a candidate window, each 0-100 with a short explanation.

Each function measures one thing a viewer notices: how the clip opens (hook), whether it needs
what came before or after (self-containedness), whether it stays on one subject (coherence),
how lively it sounds (energy), how fast it is spoken (pace) and how distinctive its words are
(keyword salience).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from clipforge.analyze.audio import LoudnessTrack
from clipforge.analyze.sentences import Sentence

HOOK = "hook"
SELF_CONTAINED = "self_containedness"
COHERENCE = "coherence"
ENERGY = "energy"
PACE = "pace"
SALIENCE = "keyword_salience"


@dataclass(frozen=True)
class SubScore:
    name: str
    value: float  # 0-100
    explanation: str


# --- hook ----------------------------------------------------------------------------------

SECOND_PERSON = frozenset({"you", "your", "you're", "yours", "yourself", "you've", "you'll", "you'd"})
NUMBER_WORDS = frozenset(
    {
        "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
        "twenty", "thirty", "forty", "fifty", "hundred", "hundreds", "thousand", "thousands", "million",
        "millions", "billion", "billions", "first", "third", "half", "percent", "dozen", "double", "twice",
    }
)  # fmt: skip
STRONG_CLAIM_WORDS = frozenset(
    {
        "never", "always", "every", "everyone", "everybody", "nobody", "nothing", "best", "worst", "biggest",
        "only", "secret", "mistake", "mistakes", "truth", "wrong", "must", "important", "surprising",
        "remember", "key", "fastest", "easiest", "hardest", "simplest", "greatest", "impossible", "guaranteed",
        "stop", "forget", "problem", "changed", "matters",
    }
)  # fmt: skip
HOOK_POINTS = {"question": 30.0, "number": 15.0, "claim": 25.0, "you": 20.0}
HOOK_BASE = 10.0
# Opening sentence length (words) → points: short, punchy openings hold attention.
HOOK_LENGTH_POINTS = ((8, 25.0), (14, 15.0), (20, 5.0))


def hook(opening: Sentence) -> SubScore:
    """How strongly the first sentence pulls a viewer in."""
    words = [bare(word.text) for word in opening.words]
    found: list[str] = []
    value = HOOK_BASE
    if opening.is_question:
        value += HOOK_POINTS["question"]
        found.append("opens with a question")
    if any(any(ch.isdigit() for ch in word) or word in NUMBER_WORDS for word in words):
        value += HOOK_POINTS["number"]
        found.append("names a number")
    if any(word in STRONG_CLAIM_WORDS for word in words):
        value += HOOK_POINTS["claim"]
        found.append("makes a strong claim")
    if any(word in SECOND_PERSON for word in words):
        value += HOOK_POINTS["you"]
        found.append("speaks to the viewer")
    length_points = next((points for limit, points in HOOK_LENGTH_POINTS if len(words) <= limit), 0.0)
    if length_points:
        value += length_points
        found.append(f"short {len(words)}-word opening" if len(words) <= 8 else f"{len(words)}-word opening")
    else:
        found.append(f"long {len(words)}-word opening")
    return SubScore(HOOK, min(value, 100.0), ", ".join(found))


# --- self-containedness ---------------------------------------------------------------------

# Openings that lean on something said before the clip starts.
DANGLING_OPENERS = frozenset(
    {
        "and", "so", "but", "because", "that", "or", "which", "also", "plus", "then", "therefore", "though",
        "although", "anyway", "besides", "otherwise", "thus", "hence", "nor", "whereas",
    }
)  # fmt: skip
BACK_REFERENCES: tuple[tuple[str, ...], ...] = (
    ("as", "i", "said"),
    ("like", "i", "said"),
    ("as", "i", "mentioned"),
    ("as", "i", "told"),
    ("as", "we", "saw"),
    ("as", "we", "said"),
    ("as", "we", "discussed"),
    ("as", "mentioned"),
    ("going", "back", "to"),
    ("back", "to"),
    ("that", "one"),
    ("this", "one"),
    ("the", "other", "one"),
    ("the", "same", "thing"),
    ("same", "thing"),
    ("again",),
)
# Pronouns and demonstratives that point at something the clip may not contain.
REFERRING_OPENERS = frozenset(
    {
        "this", "these", "those", "it", "it's", "its", "they", "they're", "them", "their", "he", "he's",
        "she", "she's", "him", "her", "his", "that's", "there's",
    }
)  # fmt: skip
FILLER_OPENERS = frozenset({"okay", "ok", "um", "uh", "well", "yeah", "oh", "right", "alright", "like"})
PENALTIES = {"back_reference": 45.0, "dangling": 45.0, "referring": 30.0, "filler": 10.0, "unfinished": 30.0}
OPEN_QUESTION_PENALTY = 15.0


def self_containedness(window: Sequence[Sentence]) -> SubScore:
    """Whether the clip makes sense alone: no reference back at the start, a finished ending."""
    words = [bare(word.text) for word in window[0].words[:6]]
    problems: list[str] = []
    value = 100.0
    fillers = 0
    # "Like I said" is a reference back, not the filler "like".
    if _back_reference(words) is None:
        while fillers < len(words) - 1 and words[fillers] in FILLER_OPENERS:
            fillers += 1
    if fillers:
        value -= PENALTIES["filler"]
        problems.append(f'opens with filler ("{" ".join(words[:fillers])}")')
    opening = words[fillers:]
    reference = _back_reference(opening)
    if reference is not None:
        value -= PENALTIES["back_reference"]
        problems.append(f'refers back ("{" ".join(reference)} …")')
    elif opening and opening[0] in DANGLING_OPENERS:
        value -= PENALTIES["dangling"]
        problems.append(f'starts mid-thought ("{opening[0]} …")')
    elif opening and opening[0] in REFERRING_OPENERS:
        value -= PENALTIES["referring"]
        problems.append(f'opens with "{opening[0]}", pointing at something said before')
    if not window[-1].terminated:
        value -= PENALTIES["unfinished"]
        problems.append("ends mid-sentence")
    elif window[-1].is_question:
        value -= OPEN_QUESTION_PENALTY
        problems.append("ends on a question it does not answer")
    explanation = "; ".join(problems) if problems else "starts and ends on whole, independent sentences"
    return SubScore(SELF_CONTAINED, max(value, 0.0), explanation)


def _back_reference(words: Sequence[str]) -> tuple[str, ...] | None:
    return next((phrase for phrase in BACK_REFERENCES if tuple(words[: len(phrase)]) == phrase), None)


# --- pace -----------------------------------------------------------------------------------

# Words per second people find comfortable to follow in a short clip.
COMFORTABLE_PACE = (2.0, 3.5)


def pace(window: Sequence[Sentence]) -> SubScore:
    duration = max(window[-1].end - window[0].start, 1e-6)
    words_per_second = sum(len(s.words) for s in window) / duration
    low, high = COMFORTABLE_PACE
    if words_per_second < low:
        value, kind = words_per_second / low, "slow"
    elif words_per_second > high:
        # Falls to zero at twice the comfortable upper bound.
        value, kind = max(1.0 - (words_per_second - high) / high, 0.0), "fast"
    else:
        value, kind = 1.0, "comfortable"
    return SubScore(PACE, 100.0 * value, f"{kind}, {words_per_second:.1f} words/s")


# --- coherence ------------------------------------------------------------------------------

# Mean pairwise cosine similarity of all-MiniLM-L6-v2 sentence embeddings mapped to 0-100:
# sentences on unrelated subjects average about 0.1, sentences on one subject 0.25-0.4.
COHERENCE_RANGE = (0.1, 0.45)


def coherence(mean_similarity: float | None) -> SubScore:
    """From the window's mean pairwise sentence similarity (None: a single sentence)."""
    if mean_similarity is None:
        return SubScore(COHERENCE, 100.0, "a single sentence")
    low, high = COHERENCE_RANGE
    value = min(max((mean_similarity - low) / (high - low), 0.0), 1.0)
    kind = "stays on one subject" if value >= 0.6 else "loosely related sentences" if value >= 0.3 else "drifts"
    return SubScore(COHERENCE, 100.0 * value, f"{kind} (sentence similarity {mean_similarity:.2f})")


# --- energy ---------------------------------------------------------------------------------

# Loudness spread (dB, standard deviation over 100 ms speech frames) that counts as fully lively,
# and the level above the video's usual speech level (dB) that counts as fully loud.
LIVELY_SPREAD_DB = 10.0
LOUD_ABOVE_TYPICAL_DB = 6.0


def energy(track: LoudnessTrack, start: float, end: float) -> SubScore:
    """Lively, emphatic delivery: loudness that varies and speech louder than the video's usual."""
    window = track.window(start, end)
    if window.voiced_seconds == 0:
        return SubScore(ENERGY, 0.0, "no audible speech in the audio track")
    variation = min(window.spread_db / LIVELY_SPREAD_DB, 1.0)
    relative = window.mean_db - track.typical_db
    level = min(max(0.5 + relative / (2 * LOUD_ABOVE_TYPICAL_DB), 0.0), 1.0)
    value = 100.0 * (0.5 * variation + 0.5 * level)
    kind = "lively" if value >= 60 else "even" if value >= 35 else "flat"
    direction = "above" if relative >= 0 else "below"
    return SubScore(
        ENERGY,
        value,
        f"{kind} delivery: loudness varies by {window.spread_db:.0f} dB, "
        f"{abs(relative):.0f} dB {direction} the video's usual level",
    )


# --- keyword salience -----------------------------------------------------------------------


def keyword_salience(raw: float, best_raw: float, keywords: Sequence[str]) -> SubScore:
    """The window's TF-IDF salience relative to the most distinctive window of the video."""
    value = 100.0 * raw / best_raw if best_raw > 0 else 0.0
    if not keywords:
        return SubScore(SALIENCE, value, "no distinctive words")
    return SubScore(SALIENCE, value, "distinctive words: " + ", ".join(keywords[:3]))


# --- helpers --------------------------------------------------------------------------------


def bare(text: str) -> str:
    """A word without surrounding punctuation, lower-cased, with a straight apostrophe."""
    return text.strip().strip(".,;:!?\"'()[]-\u2014\u2026\u201c\u201d\u2018\u2019").lower().replace("\u2019", "'")


def mean_pairwise_similarity(window_sum_norm_squared: float, count: int) -> float | None:
    """Mean cosine similarity of ``count`` unit vectors from the squared norm of their sum."""
    if count < 2:
        return None
    return (window_sum_norm_squared - count) / (count * (count - 1))


def round_score(value: float) -> float:
    return math.floor(value * 10 + 0.5) / 10
