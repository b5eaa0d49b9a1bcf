"""One progress fraction over clips rendered at the same time, weighted by their length."""

from __future__ import annotations

import threading

from clipforge.shared.models import ProgressCallback


class OverallProgress:
    """Never goes backwards; the message says how many clips are finished."""

    def __init__(self, lengths: list[float], on_progress: ProgressCallback) -> None:
        self.lengths = lengths
        self.total = max(sum(lengths), 1e-6)
        self.fractions = [0.0] * len(lengths)
        self.on_progress = on_progress
        self.reported = 0.0
        self._lock = threading.Lock()

    def message(self) -> str:
        done = sum(fraction >= 1.0 for fraction in self.fractions)
        count = len(self.lengths)
        return f"Rendering {count} clip{'s' if count != 1 else ''}: {done} of {count} done"

    def for_clip(self, index: int) -> ProgressCallback:
        def report(fraction: float, _message: str) -> None:
            with self._lock:
                self.fractions[index] = max(self.fractions[index], min(max(fraction, 0.0), 1.0))
                overall = sum(f * n for f, n in zip(self.fractions, self.lengths, strict=True)) / self.total
                self.reported = max(self.reported, min(overall, 1.0))
                reported, message = self.reported, self.message()
            self.on_progress(reported, message)

        return report
