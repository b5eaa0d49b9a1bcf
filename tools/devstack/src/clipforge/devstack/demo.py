"""``make demo``: the whole product on this machine, start to finish, in one command."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, TextIO

import httpx

from clipforge.api.models import JobSnapshotMessage, ProgressMessage
from clipforge.client import ClipForge
from clipforge.devstack.httpserve import StaticServer
from clipforge.devstack.samples import make_speech_video
from clipforge.devstack.stack import LocalStack

DEMO_OPTIONS: dict[str, Any] = {"max_clips": 3, "min_clip_seconds": 10, "max_clip_seconds": 30}


def _gateway_running(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _print_progress(message: JobSnapshotMessage | ProgressMessage, out: TextIO = sys.stdout) -> None:
    if isinstance(message, JobSnapshotMessage):
        print(f"job {message.job.id}: {message.job.status}", file=out)
        return
    bar_width = 30
    filled = int(bar_width * message.percent / 100)
    eta = f" ~{message.eta_seconds:.0f}s left in stage" if message.eta_seconds else ""
    bar = "#" * filled + "." * (bar_width - filled)
    line = f"[{bar}] {message.percent:5.1f}% {message.stage:<11} {message.message}{eta}"
    print(line[:150], file=out, flush=True)


def run_demo(state_dir: Path, *, json_output: bool = False) -> int:
    """With ``json_output`` the finished job is printed as JSON on standard output, and the
    progress and messages for people go to standard error."""
    out = sys.stderr if json_output else sys.stdout

    def say(text: str) -> None:
        print(text, file=out, flush=True)

    sample = state_dir / "samples" / "demo.mp4"
    if not sample.exists():
        say("making a sample video (spoken sentences over a test picture)...")
        make_speech_video(sample)
    stack = LocalStack(state_dir, mongo_url=os.environ.get("CLIPFORGE_MONGO_URL"))
    gateway = stack.gateway_url
    reuse = _gateway_running(gateway)
    if reuse:
        say(f"using the stack already running at {gateway}")
        if not stack.api_key_path.exists():
            print(f"no {stack.api_key_path}: start the stack with `make up` first", file=sys.stderr)
            return 1
        api_key = stack.api_key_path.read_text().strip()
    else:
        say("starting SecantusDB and the five services (RabbitMQ on 127.0.0.1:5672)...")
        stack.start()
        assert stack.api_key is not None
        api_key = stack.api_key
    try:
        with StaticServer(sample.parent) as files, ClipForge(gateway, api_key) as clipforge:
            created = clipforge.create_job(f"{files.base_url}/{sample.name}", options=DEMO_OPTIONS)
            say(f"submitted {files.base_url}/{sample.name}")
            job = clipforge.wait(created.id, on_message=lambda message: _print_progress(message, out))
        if json_output:
            print(job.model_dump_json(), flush=True)
        if job.status != "completed":
            error = job.error
            reason = f"{error.code}: {error.message}" if error else "no reason given"
            print(f"job {job.id} {job.status}: {reason}", file=sys.stderr)
            return 1
        timings = ", ".join(f"{name} {stage.duration_seconds or 0:.1f} s" for name, stage in job.stages.items())
        words = job.transcript.word_count if job.transcript else 0
        say(f"\njob {job.id} completed; transcript: {words} words")
        if job.media is not None:
            say(f"source {job.media.duration_seconds:.0f} s of video; stage times: {timings}")
        for clip in job.clips:
            path = stack.media_root / "jobs" / job.id / "clips" / f"clip-{clip.index:02d}.mp4"
            say(f"  clip {clip.index}: score {clip.score:.0f}, {clip.duration_seconds:.1f} s, {clip.reason}")
            say(f"     file: {path}")
            say(f"     url:  {gateway}{clip.url}")
        return 0
    finally:
        if not reuse:
            stack.stop()
