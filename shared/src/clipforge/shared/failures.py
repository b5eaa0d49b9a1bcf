"""Which failures are worth another attempt.

Stage work raises :class:`StageError` with ``retryable`` set by the code that knows (a 503 from
the source is, an unsupported URL is not). Everything else is classified here: an unreachable
database or broker, a media store that is full or failing, a program killed from outside and a
time-out say nothing about the job, so they are retried; any other exception is a bug, and
retrying a bug only delays the failure, so it fails the job at once as ``internal_error``.
"""

from __future__ import annotations

import errno

from aio_pika.exceptions import AMQPConnectionError, ChannelInvalidStateError
from aiormq.exceptions import AMQPError
from pymongo.errors import ConnectionFailure, ExecutionTimeout, WTimeoutError

from clipforge.shared.errors import ProcessKilled, StageError

# The media store (a local disk, NFS or a cloud volume) can recover from these on its own.
TRANSIENT_ERRNOS = frozenset(
    {
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EIO,
        errno.EAGAIN,
        errno.EBUSY,
        errno.ENOMEM,
        errno.ENFILE,
        errno.EMFILE,
        errno.ETIMEDOUT,
        errno.ESTALE,
        errno.ENOBUFS,
    }
)
# A store that refuses writes is misconfigured: it will not fix itself between two attempts.
REFUSED_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR})


def classify(exc: BaseException, stage: str) -> StageError:
    """The :class:`StageError` (code, person-readable message, retryable) that ``exc`` means."""
    if isinstance(exc, StageError):
        return exc
    if isinstance(exc, ConnectionFailure | ExecutionTimeout | WTimeoutError):
        return StageError(
            "database_unavailable",
            f"The {stage} step could not reach the job database ({type(exc).__name__}).",
            retryable=True,
        )
    if isinstance(exc, AMQPConnectionError | ChannelInvalidStateError | AMQPError):
        return StageError(
            "queue_unavailable",
            f"The {stage} step could not reach the message broker ({type(exc).__name__}).",
            retryable=True,
        )
    if isinstance(exc, ProcessKilled):
        return StageError(
            "process_killed",
            f"The {stage} step's {exc.program} was stopped by the system (signal {exc.signal_number}), "
            "for example when the machine ran short of memory.",
            retryable=True,
        )
    if isinstance(exc, TimeoutError):
        return StageError("stage_timed_out", f"The {stage} step timed out waiting for a service.", retryable=True)
    if isinstance(exc, ConnectionError):
        return StageError(
            "dependency_unavailable", f"The {stage} step lost a connection it needed ({exc}).", retryable=True
        )
    if isinstance(exc, OSError) and exc.errno is not None:
        return _storage_error(exc, stage)
    return StageError(
        "internal_error",
        f"The {stage} step hit an unexpected problem ({type(exc).__name__}). "
        "It has been logged; please try again or contact support if it persists.",
    )


def _storage_error(exc: OSError, stage: str) -> StageError:
    reason = errno.errorcode.get(exc.errno or 0, str(exc.errno))
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StageError(
            "storage_full",
            f"The media store is out of space ({reason}); the {stage} step could not save its files.",
            retryable=True,
        )
    if exc.errno in TRANSIENT_ERRNOS:
        return StageError(
            "storage_error", f"The media store failed while the {stage} step used it ({reason}).", retryable=True
        )
    if exc.errno in REFUSED_ERRNOS:
        return StageError(
            "storage_unwritable",
            f"The media store refused the {stage} step's files ({reason}: {exc.strerror}). "
            "An operator must fix its permissions or mount; then retry the job.",
        )
    return StageError(
        "internal_error",
        f"The {stage} step hit an unexpected file error ({reason}: {exc.strerror}). "
        "It has been logged; please try again or contact support if it persists.",
    )


def gave_up(error: StageError, attempts: int) -> StageError:
    """The final error of a stage whose retryable failures used up every attempt."""
    return StageError(error.code, f"We gave up after {attempts_text(attempts)}: {error.message.rstrip()}")


def attempts_text(attempts: int) -> str:
    return f"{attempts} attempt" if attempts == 1 else f"{attempts} attempts"
