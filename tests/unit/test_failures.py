"""Which failures are retried: the classification the stage runner applies to what stage work raises."""

from __future__ import annotations

import errno

import pytest
from aio_pika.exceptions import AMQPConnectionError
from pymongo.errors import ServerSelectionTimeoutError

from clipforge.shared.errors import ProcessKilled, StageError
from clipforge.shared.failures import classify, gave_up
from clipforge.shared.settings import Settings


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (ServerSelectionTimeoutError("no servers"), "database_unavailable"),
        (AMQPConnectionError("refused"), "queue_unavailable"),
        (OSError(errno.ENOSPC, "No space left on device"), "storage_full"),
        (OSError(errno.EIO, "Input/output error"), "storage_error"),
        (ProcessKilled("ffmpeg", 9), "process_killed"),
        (TimeoutError(), "stage_timed_out"),
        (ConnectionResetError(errno.ECONNRESET, "reset"), "dependency_unavailable"),
    ],
)
def test_transient_failures_are_retryable(exc: BaseException, code: str) -> None:
    error = classify(exc, "render")
    assert error.retryable and error.code == code
    assert "render" in error.message


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (StageError("no_audio_stream", "The video has no sound."), "no_audio_stream"),
        (OSError(errno.EROFS, "Read-only file system"), "storage_unwritable"),
        (ZeroDivisionError("bug"), "internal_error"),
        (KeyError("bug"), "internal_error"),
    ],
)
def test_bad_input_bugs_and_misconfiguration_are_permanent(exc: BaseException, code: str) -> None:
    error = classify(exc, "ingest")
    assert not error.retryable and error.code == code


def test_a_stage_error_keeps_its_own_verdict() -> None:
    error = StageError("source_unreachable", "503", retryable=True)
    assert classify(error, "ingest") is error


def test_giving_up_keeps_the_code_and_says_how_many_attempts() -> None:
    error = gave_up(StageError("storage_full", "The media store is out of space.", retryable=True), 4)
    assert error.code == "storage_full" and not error.retryable
    assert error.message == "We gave up after 4 attempts: The media store is out of space."


def test_retry_delay_doubles_up_to_the_cap() -> None:
    settings = Settings(retry_base_delay_seconds=5, retry_max_delay_seconds=30)
    assert [settings.retry_delay_seconds(n) for n in range(1, 6)] == [5, 10, 20, 30, 30]


def test_heartbeat_timeout_must_allow_two_missed_beats() -> None:
    with pytest.raises(ValueError, match="heartbeat_timeout_seconds"):
        Settings(heartbeat_interval_seconds=10, heartbeat_timeout_seconds=15)
