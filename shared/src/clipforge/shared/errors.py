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
