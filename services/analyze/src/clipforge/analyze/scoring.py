"""Scoring a candidate window of whole sentences, with each part of the score explained.

The baseline looks only at timing, wording and recognition confidence; a smarter scorer
(embeddings, topic shifts) can replace :func:`score_window` through ``WindowScorer``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pydantic import BaseModel, Field

from clipforge.analyze.sentences import Sentence

# Words per second people find comfortable to follow in a short clip.
COMFORTABLE_PACE = (2.0, 3.5)

# Openings that lean on something said before the clip starts.
DANGLING_OPENERS = frozenset({"and", "so", "but", "because", "that", "or", "which", "also", "plus"})

WEIGHTS: dict[str, float] = {
    "density": 0.3,
    "pace": 0.2,
    "completeness": 0.3,
    "confidence": 0.2,
}


class ScoreComponent(BaseModel):
    name: str
    value: float = Field(ge=0.0, le=1.0)
    weight: float = Field(ge=0.0, le=1.0)
    explanation: str


class WindowScore(BaseModel):
    components: list[ScoreComponent]
    reason: str

    @property
    def total(self) -> float:
        """The weighted score on a 0-100 scale."""
        weight = sum(c.weight for c in self.components) or 1.0
        return round(100.0 * sum(c.value * c.weight for c in self.components) / weight, 1)

    def component(self, name: str) -> ScoreComponent:
        return next(c for c in self.components if c.name == name)


WindowScorer = Callable[[Sequence[Sentence]], WindowScore]


def score_window(sentences: Sequence[Sentence]) -> WindowScore:
    """Score the window running from the first sentence's start to the last one's end."""
    duration = max(sentences[-1].end - sentences[0].start, 1e-6)
    word_count = sum(len(s.words) for s in sentences)

    density = min(sum(s.speech_seconds for s in sentences) / duration, 1.0)
    wps = word_count / duration
    confidence = min(max(sum(s.probability_sum for s in sentences) / max(word_count, 1), 0.0), 1.0)
    opener = _bare(sentences[0].words[0].text) if sentences[0].words else ""
    dangling = opener in DANGLING_OPENERS
    unfinished = not sentences[-1].terminated

    completeness = 1.0 - (0.5 if dangling else 0.0) - (0.3 if unfinished else 0.0)
    components = [
        ScoreComponent(
            name="density",
            value=density,
            weight=WEIGHTS["density"],
            explanation=f"words are spoken during {density:.0%} of the window",
        ),
        ScoreComponent(
            name="pace",
            value=_pace_value(wps),
            weight=WEIGHTS["pace"],
            explanation=(
                f"{wps:.1f} words per second against a comfortable {COMFORTABLE_PACE[0]:g}-{COMFORTABLE_PACE[1]:g}"
            ),
        ),
        ScoreComponent(
            name="completeness",
            value=completeness,
            weight=WEIGHTS["completeness"],
            explanation=_completeness_explanation(opener, dangling, unfinished),
        ),
        ScoreComponent(
            name="confidence",
            value=confidence,
            weight=WEIGHTS["confidence"],
            explanation=f"the speech recogniser was {confidence:.0%} sure of the words on average",
        ),
    ]
    reason = ", ".join(
        [
            _sentences_phrase(len(sentences), sentences[0].words[0].text if dangling else None, unfinished),
            _density_phrase(density),
            _pace_phrase(wps),
            _confidence_phrase(confidence),
        ]
    )
    return WindowScore(components=components, reason=reason)


def _bare(text: str) -> str:
    return text.strip().strip(".,;:!?\"'()[]-\u2014\u2026\u201c\u201d\u2018\u2019").lower()


def _pace_value(wps: float) -> float:
    low, high = COMFORTABLE_PACE
    if wps < low:
        return max(wps / low, 0.0)
    if wps > high:
        # Falls to zero at twice the comfortable upper bound.
        return max(1.0 - (wps - high) / high, 0.0)
    return 1.0


def _completeness_explanation(opener: str, dangling: bool, unfinished: bool) -> str:
    problems = []
    if dangling:
        problems.append(f'starts with "{opener}", leaning on what came before')
    if unfinished:
        problems.append("the last sentence has no closing punctuation")
    return "; ".join(problems) if problems else "starts and ends on whole sentences"


def _sentences_phrase(count: int, dangling_word: str | None, unfinished: bool) -> str:
    noun = "sentence" if count == 1 else "sentences"
    if dangling_word is None and not unfinished:
        return f"{count} complete {noun}"
    flaws = []
    if dangling_word is not None:
        flaws.append(f'starts mid-thought ("{dangling_word.strip(",")} …")')
    if unfinished:
        flaws.append("ends mid-sentence")
    return f"{count} {noun} ({' and '.join(flaws)})"


def _density_phrase(density: float) -> str:
    kind = "dense" if density >= 0.85 else "steady" if density >= 0.6 else "sparse"
    return f"{kind} speech ({density * 100:.0f} % talking)"


def _pace_phrase(wps: float) -> str:
    low, high = COMFORTABLE_PACE
    if wps < low:
        return f"slow pace ({wps:.1f} words/s)"
    if wps > high:
        return f"fast pace ({wps:.1f} words/s)"
    return "comfortable pace"


def _confidence_phrase(confidence: float) -> str:
    if confidence >= 0.85:
        return "clear audio"
    if confidence >= 0.6:
        return "mostly clear audio"
    return "hard-to-hear audio"
