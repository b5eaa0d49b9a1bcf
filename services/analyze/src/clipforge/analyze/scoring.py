"""Combining a window's sub-scores into one 0-100 score and a reason a person understands.

The total is the weighted mean of the sub-scores that could be measured (coherence needs the
embedding model, energy the audio track; a missing one drops out and the weights of the rest
are scaled up):

| sub-score          | weight | measures |
|--------------------|--------|----------|
| self_containedness | 0.25   | no dangling or back-referring opening, a finished ending |
| hook               | 0.20   | first sentence: question, number, strong claim, "you", brevity |
| keyword_salience   | 0.15   | TF-IDF of the window's words against the whole transcript |
| coherence          | 0.15   | mean embedding similarity of the window's sentences |
| pace               | 0.15   | speech rate against a comfortable 2-3.5 words per second |
| energy             | 0.10   | loudness variation and level from the audio |
"""

from __future__ import annotations

from dataclasses import dataclass

from clipforge.analyze.signals import COHERENCE, ENERGY, HOOK, PACE, SALIENCE, SELF_CONTAINED, SubScore, round_score

WEIGHTS: dict[str, float] = {
    SELF_CONTAINED: 0.25,
    HOOK: 0.20,
    SALIENCE: 0.15,
    COHERENCE: 0.15,
    PACE: 0.15,
    ENERGY: 0.10,
}

LABELS: dict[str, str] = {
    SELF_CONTAINED: "self-contained",
    HOOK: "hook",
    SALIENCE: "keywords",
    COHERENCE: "coherence",
    PACE: "pace",
    ENERGY: "energy",
}

# Sub-scores below this are named in the reason as a weakness.
WEAK_BELOW = 50.0


@dataclass(frozen=True)
class WindowScore:
    sub_scores: tuple[SubScore, ...]

    @property
    def total(self) -> float:
        """The weighted mean of the sub-scores present, 0-100."""
        weight = sum(WEIGHTS[s.name] for s in self.sub_scores)
        if weight == 0:
            return 0.0
        return round_score(sum(s.value * WEIGHTS[s.name] for s in self.sub_scores) / weight)

    def component(self, name: str) -> SubScore:
        return next(s for s in self.sub_scores if s.name == name)

    def as_dict(self) -> dict[str, float]:
        return {s.name: round_score(s.value) for s in self.sub_scores}

    @property
    def reason(self) -> str:
        """The two strongest sub-scores, and the weakest one when it is low, with what was measured.

        Strength counts the weight, so a perfect score on a minor signal does not crowd out a
        near-perfect one on a major signal.
        """
        ranked = sorted(self.sub_scores, key=lambda s: (-s.value * WEIGHTS[s.name], s.name))
        strongest = ranked[:2]
        parts = [f"{LABELS[s.name]} {s.value:.0f} ({s.explanation})" for s in strongest]
        reason = "Strongest: " + "; ".join(parts)
        weakest = min(self.sub_scores, key=lambda s: (s.value, s.name))
        if weakest.value < WEAK_BELOW and weakest not in strongest:
            reason += f". Weakest: {LABELS[weakest.name]} {weakest.value:.0f} ({weakest.explanation})"
        return reason + "."
