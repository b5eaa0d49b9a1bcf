"""The one error type stage work raises to end a job with a reason a person understands."""

from __future__ import annotations


class StageError(Exception):
    """A failure of a stage's work.

    ``code`` is a stable machine-readable identifier (``media_too_long``), ``message`` is
    written for the person who submitted the job, and ``retryable`` says whether trying again
    later could succeed (a network blip) or not (the input is bad).
    """

    def __init__(self, code: str, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable

    def __repr__(self) -> str:
        return f"StageError(code={self.code!r}, message={self.message!r}, retryable={self.retryable})"


class StageCancelled(Exception):
    """Raised inside stage work when the job was cancelled while it ran."""


class ProcessKilled(Exception):
    """An external program (ffmpeg, yt-dlp) was killed by a signal we did not send (OOM killer, operator).

    Nothing about the input says it would happen again, so the attempt is worth repeating.
    """

    def __init__(self, program: str, signal_number: int) -> None:
        super().__init__(f"{program} was killed by signal {signal_number}")
        self.program = program
        self.signal_number = signal_number
