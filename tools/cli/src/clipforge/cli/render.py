"""Human output: tables of jobs, a job's stages and clips (standard output)."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from clipforge.api.models import ClipView, JobList, JobStatus, JobView
from clipforge.cli.output import stdout

STATUS_STYLE = {JobStatus.COMPLETED: "green", JobStatus.FAILED: "red", JobStatus.CANCELLED: "yellow"}


def _source(source: dict[str, object]) -> str:
    return str(source.get("url") or source.get("filename") or source.get("media_key") or "")


def _status(status: JobStatus) -> str:
    style = STATUS_STYLE.get(status, "cyan")
    return f"[{style}]{status.value}[/{style}]"


def print_jobs(page: JobList) -> None:
    table = Table(box=None, pad_edge=False)
    table.add_column("id", no_wrap=True, min_width=24)
    for name in ("status", "progress", "clips", "created"):
        table.add_column(name, no_wrap=True)
    table.add_column("source", no_wrap=True, overflow="ellipsis")
    for job in page.items:
        status = _status(job.status) + (f" ({job.error.code})" if job.error else "")
        created = job.created_at.strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(job.id, status, f"{job.progress:.0f}%", str(job.clip_count), created, _source(job.source))
    stdout.print(table)
    if page.next_cursor:
        stdout.print(f"more: --cursor {page.next_cursor}")


def print_job(job: JobView) -> None:
    stdout.print(f"job {job.id}  {_status(job.status)}  {job.progress:.0f}%  {job.message}")
    stdout.print(f"source {_source(job.source)}  priority {job.priority}")
    if job.error is not None:
        stdout.print(f"[red]{job.error.stage} failed ({job.error.code}):[/red] {job.error.message}")
    stages = Table("stage", "status", "attempt", "seconds", box=None, pad_edge=False)
    for name, stage in job.stages.items():
        seconds = f"{stage.duration_seconds:.1f}" if stage.duration_seconds is not None else ""
        stages.add_row(name, stage.status, str(stage.attempt), seconds)
    stdout.print(stages)
    if job.clips:
        print_clips(job.clips)


def print_clips(clips: list[ClipView], *, base: Path | None = None) -> None:
    table = Table("clip", "score", "seconds", "title", "file" if base is not None else "url", box=None, pad_edge=False)
    for clip in clips:
        location = str(base / clip.url) if base is not None else clip.url
        table.add_row(str(clip.index), f"{clip.score:.0f}", f"{clip.duration_seconds:.1f}", clip.title, location)
    stdout.print(table)
