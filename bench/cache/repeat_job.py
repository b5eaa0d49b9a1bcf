"""A repeated job against a cold one, through the running services: what the source cache saves.

All five services run as their own processes (``clipforge.devstack.stack``: SecantusDB of its
own, the local RabbitMQ under a unique topology prefix that is deleted afterwards). Each round
uses a new tenant, so its first job finds the cache empty (entries are per tenant):

- cold: the talk video by URL from a loopback HTTP server: download, probe, speech track,
  transcription, analysis, render;
- repeat: the same URL and options for the same tenant straight after: it must reuse the download
  and transcript (the run stops if it does not); analysis and rendering run again. With
  ``--other-clip-options`` the repeat asks for a 9:16 frame and karaoke captions instead, which
  still hit but make rendering (a blurred fit) slower than the cold job's.

Wall time is from ``POST /v1/jobs`` to the job reading ``completed`` (polled every 0.1 s).
Also reported: the stage times that the cache removes (ingest + transcribe) in both.

Usage (from the repository root):
    .venv/bin/python bench/cache/repeat_job.py --rounds 3
Writes results.json next to this file (or --out).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from clipforge.devstack.httpserve import StaticServer
from clipforge.devstack.rabbit import delete_topology
from clipforge.devstack.samples import make_speech_video, probe_duration
from clipforge.devstack.stack import LocalStack
from clipforge.gateway.keys import KeyStore
from clipforge.shared.jobs import connect

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
COLD_OPTIONS: dict[str, Any] = {"max_clips": 3, "min_clip_seconds": 10, "max_clip_seconds": 30}
OTHER_CLIP_OPTIONS: dict[str, Any] = {**COLD_OPTIONS, "aspect": "9:16", "caption_style": "karaoke"}
CACHED_STAGES = ("ingest", "transcribe")


def new_tenant_key(stack: LocalStack, tenant: str) -> str:
    async def create() -> str:
        client = connect(stack.resolved_mongo_url)
        try:
            return (await KeyStore(client[stack.database_name]).create(tenant, "bench")).api_key
        finally:
            await client.close()

    return asyncio.run(create())


def run_job(gateway: str, api_key: str, url: str, options: dict[str, Any], timeout: float) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=gateway, headers=headers, timeout=30) as http:
        started = time.perf_counter()
        created = http.post("/v1/jobs", json={"url": url, "options": options})
        created.raise_for_status()
        job_id = created.json()["id"]
        while True:
            job = http.get(f"/v1/jobs/{job_id}").json()
            if job["status"] in {"completed", "failed", "cancelled"}:
                break
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"job {job_id} not done after {timeout:.0f} s: {job['status']} {job['message']}")
            time.sleep(0.1)
        wall = time.perf_counter() - started
    if job["status"] != "completed":
        raise RuntimeError(f"job {job_id} {job['status']}: {job.get('error')}")
    stages = {name: stage.get("duration_seconds") or 0.0 for name, stage in job["stages"].items()}
    return {"job_id": job_id, "wall_seconds": round(wall, 3), "stages": stages, "cache": job.get("cache")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--video", type=Path, help="a talk video to use (default: the demo video, made once)")
    parser.add_argument("--other-clip-options", action="store_true", help="repeat with 9:16 and karaoke captions")
    parser.add_argument("--job-timeout", type=float, default=600.0, help="give up on a job after this long")
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="clipforge-bench-cache-") as scratch:
        state = Path(scratch)
        video = args.video or ROOT / ".clipforge" / "samples" / "demo.mp4"
        if not video.exists():
            print("making the demo talk video...", file=sys.stderr)
            video.parent.mkdir(parents=True, exist_ok=True)
            make_speech_video(video)
        prefix = f"bcache{uuid.uuid4().hex[:8]}"
        stack = LocalStack.with_free_ports(state / "stack", topology_prefix=prefix)
        rounds: list[dict[str, Any]] = []
        try:
            stack.start()
            with StaticServer(video.parent) as files:
                url = f"{files.base_url}/{video.name}"
                for index in range(args.rounds):
                    key = new_tenant_key(stack, f"bench-{uuid.uuid4().hex[:8]}")
                    cold = run_job(stack.gateway_url, key, url, COLD_OPTIONS, args.job_timeout)
                    repeat_options = OTHER_CLIP_OPTIONS if args.other_clip_options else COLD_OPTIONS
                    repeat = run_job(stack.gateway_url, key, url, repeat_options, args.job_timeout)
                    if repeat["cache"] != {"source": "hit", "transcript": "hit"}:
                        raise RuntimeError(f"the repeated job did not hit the cache: {repeat['cache']}")
                    rounds.append({"cold": cold, "repeat": repeat})
                    print(
                        f"round {index + 1}: cold {cold['wall_seconds']:.2f} s, repeat {repeat['wall_seconds']:.2f} s "
                        f"(ratio {repeat['wall_seconds'] / cold['wall_seconds']:.2f}); ingest+transcribe "
                        f"{sum(cold['stages'][s] for s in CACHED_STAGES):.2f} s -> "
                        f"{sum(repeat['stages'][s] for s in CACHED_STAGES):.3f} s",
                        flush=True,
                    )
        finally:
            stack.stop()
            delete_topology(os.environ.get("CLIPFORGE_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"), prefix)

    def median(side: str, pick: Any) -> float:
        return statistics.median(pick(r[side]) for r in rounds)

    wall_cold, wall_repeat = median("cold", lambda j: j["wall_seconds"]), median("repeat", lambda j: j["wall_seconds"])
    cached_cold = median("cold", lambda j: sum(j["stages"][s] for s in CACHED_STAGES))
    cached_repeat = median("repeat", lambda j: sum(j["stages"][s] for s in CACHED_STAGES))
    summary = {
        "video_seconds": round(probe_duration(video), 1) if video.exists() else None,
        "rounds": len(rounds),
        "repeat_with_other_clip_options": args.other_clip_options,
        "median_wall_cold_seconds": wall_cold,
        "median_wall_repeat_seconds": wall_repeat,
        "wall_ratio_repeat_over_cold": round(wall_repeat / wall_cold, 3),
        "median_ingest_transcribe_cold_seconds": round(cached_cold, 3),
        "median_ingest_transcribe_repeat_seconds": round(cached_repeat, 3),
        "ingest_transcribe_ratio": round(cached_repeat / cached_cold, 3),
    }
    print(
        f"\nmedian of {len(rounds)}: cold {wall_cold:.2f} s, repeat {wall_repeat:.2f} s, "
        f"repeat/cold {summary['wall_ratio_repeat_over_cold']:.2f}; ingest+transcribe "
        f"{cached_cold:.2f} s -> {cached_repeat:.3f} s ({summary['ingest_transcribe_ratio']:.3f})"
    )
    args.out.write_text(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load": os.getloadavg()},
                "summary": summary,
                "rounds": rounds,
            },
            indent=2,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
