"""Live progress bars: one per pipeline stage, fed by local stage callbacks or gateway events."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn

from clipforge.api.models import JobSnapshotMessage, JobStatus, ProgressMessage, Stage

STAGES: tuple[str, ...] = tuple(stage.value for stage in Stage)
MESSAGE_WIDTH = 60


class StageBars:
    """A bar per stage (ingest, transcribe, analyze, render), each with its latest message.

    Thread-safe: transcription reports from a worker thread (rich's ``Progress`` locks).
    """

    def __init__(self, console: Console, *, enabled: bool = True) -> None:
        self.progress = Progress(
            TextColumn("{task.description:<10}"),
            BarColumn(bar_width=30),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[message]}"),
            console=console,
            disable=not enabled,
        )
        self.tasks: dict[str, TaskID] = {
            stage: self.progress.add_task(stage, total=100, message="", start=False) for stage in STAGES
        }

    def __enter__(self) -> StageBars:
        self.progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.progress.stop()

    def update(self, stage: str, percent: float, message: str = "") -> None:
        """Set ``stage`` to ``percent`` (0-100); every stage before it is done."""
        if stage not in self.tasks:
            return
        for earlier in STAGES[: STAGES.index(stage)]:
            self._set(earlier, 100.0, None)
        self._set(stage, percent, message)

    def finish(self, message: str = "") -> None:
        for stage in STAGES:
            self._set(stage, 100.0, message if stage == STAGES[-1] and message else None)

    def _set(self, stage: str, percent: float, message: str | None) -> None:
        task = self.tasks[stage]
        self.progress.start_task(task)
        fields = {} if message is None else {"message": message[:MESSAGE_WIDTH]}
        self.progress.update(task, completed=max(0.0, min(percent, 100.0)), **fields)

    def show(self, message: JobSnapshotMessage | ProgressMessage) -> None:
        """Reflect a gateway live message."""
        if isinstance(message, JobSnapshotMessage):
            for name, view in message.job.stages.items():
                if view.status != "pending":
                    self._set(name, view.progress, view.error.message if view.error else view.status)
            return
        if message.status is JobStatus.COMPLETED:
            self.finish(message.message)
        elif message.stage in self.tasks:
            self.update(message.stage, message.stage_percent, message.message)
