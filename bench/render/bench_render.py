"""Render stage against bare ffmpeg, and clips per minute, on this machine.

For each scenario the render stage (``render_clip``: captions, the one ffmpeg pass, thumbnail,
sidecars, read-back) is timed against the bare ffmpeg command doing the same work: the exact
argv the stage ran (same filters, crop path, captions file, encoder settings), captured from a
warm-up run and replayed with ``subprocess``. As in the pipeline, the render service's look
ahead (faces and keyframes of the whole source, :mod:`clipforge.render.prelook`) has run before
the stage, while the job transcribed: the stage reads it instead of looking at the clip. Stage
and bare runs alternate, so both see the same machine load; the ratio is median stage time over
median bare time (goal <= 1.05), and the CPU ratio the same in CPU seconds (this process and
its children), which other work on the machine hardly moves.

Reported beside it, separately: the stage without the look ahead (each clip looks for itself,
the fallback), the look ahead's own cost per minute of source, and how it overlaps
transcription (faster-whisper on the same source: alone, and with the look ahead running at the
same time). Then whole jobs (``render_clips``, several clips at the default concurrency) give
clips per minute.

Sources: a real talking head (``--media``/video/talking_head_intro.mp4 from ../shared/media,
looped to a minute in a temporary folder, never copied into the repository) for the
face-following scenario, and the generated demo talk (espeak-ng over ffmpeg's test picture, no
face) for the others.

Usage (from the repository root):  python bench/render/bench_render.py --media ../shared/media
Prints a table and writes results.json next to this file (or --out).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import clipforge.render.core as render_core
from clipforge.devstack.samples import DEMO_SENTENCES, make_speech_video
from clipforge.render.analysis import find_faces
from clipforge.render.config import RenderConfig
from clipforge.render.core import render_clip, render_clips
from clipforge.render.frames import FrameSampling, sampling_command
from clipforge.render.framing import needs_faces
from clipforge.render.prelook import SourceLook, load_look, prepare_look
from clipforge.shared.models import Highlight, JobOptions, MediaInfo, Segment, Transcript, Word
from clipforge.shared.process import ProcessResult

HEAD_VIDEO = "video/talking_head_intro.mp4"
# The stage's temporary folder as it appears in the argv (also inside the filter graph).
_STAGE_TMP = re.compile(r"/[^\s\[\];,'=]*clipforge-render-[^/\s]+")


@dataclass(frozen=True)
class Scenario:
    name: str
    source: str  # "head" or "talk"
    aspect: str
    captions: bool
    start: float
    end: float


@dataclass
class Measured:
    name: str
    framing: str
    stream_copied: bool
    clip_seconds: float
    output: str
    stage_seconds: list[float]
    bare_seconds: list[float]
    stage_cpu_seconds: list[float]
    bare_cpu_seconds: list[float]
    look_seconds: float  # the stage's look for faces alone (0 when the frame keeps its shape)
    # CPU of that look (detection in this process plus its ffmpeg decode), and of its ffmpeg
    # decode alone replayed bare: the work the bare encode does not do, whatever the stage costs.
    look_cpu_seconds: float
    look_decode_cpu_seconds: float
    bare_command: list[str]
    # The stage with the look ahead absent (each clip looks for itself), alternating with the rest.
    inline_stage_seconds: list[float]
    inline_stage_cpu_seconds: list[float]
    look_used: str  # what the timed stage runs used: "prepass", or "none" (no look needed)
    same_command_as_inline: bool  # the encode's argv (crop path included) is the one the clip's own look gives
    prepass: dict[str, Any]

    @property
    def ratio(self) -> float:
        return statistics.median(self.stage_seconds) / statistics.median(self.bare_seconds)

    @property
    def best_ratio(self) -> float:
        """Fastest stage run over fastest bare run: other work on the machine only ever adds
        time, so the least disturbed runs are the closest to the cost of the work itself."""
        return min(self.stage_seconds) / min(self.bare_seconds)

    @property
    def cpu_ratio(self) -> float:
        return statistics.median(self.stage_cpu_seconds) / statistics.median(self.bare_cpu_seconds)

    @property
    def inline_cpu_ratio(self) -> float:
        return statistics.median(self.inline_stage_cpu_seconds) / statistics.median(self.bare_cpu_seconds)

    @property
    def inline_ratio(self) -> float:
        return statistics.median(self.inline_stage_seconds) / statistics.median(self.bare_seconds)

    @property
    def look_floor(self) -> float:
        """The CPU ratio the stage could reach if everything but the look were free."""
        bare = statistics.median(self.bare_cpu_seconds)
        return (bare + self.look_cpu_seconds) / bare


def probe_media(path: Path) -> MediaInfo:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    info = json.loads(out.stdout)
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    audio = next((s for s in info["streams"] if s["codec_type"] == "audio"), None)
    rate = video.get("avg_frame_rate", "25/1").split("/")
    return MediaInfo(
        duration_seconds=float(info["format"]["duration"]),
        size_bytes=int(info["format"]["size"]),
        container=info["format"]["format_name"],
        video_codec=video["codec_name"],
        audio_codec=audio["codec_name"] if audio else None,
        width=int(video["width"]),
        height=int(video["height"]),
        fps=float(rate[0]) / float(rate[1]) if len(rate) == 2 and float(rate[1]) else 25.0,
        has_audio=audio is not None,
        has_video=True,
    )


def spread_words(text: str, duration: float) -> list[Word]:
    tokens = text.split()
    step = duration / len(tokens)
    return [Word(start=i * step, end=(i + 0.85) * step, text=token) for i, token in enumerate(tokens)]


def loop_video(source: Path, out: Path, seconds: float) -> Path:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-stream_loop", "-1", "-i", str(source), "-t", f"{seconds}",
         "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(out)],
        check=True,
    )  # fmt: skip
    return out


class ArgvRecorder:
    """Wraps the stage's ffmpeg runner to keep the argv it was given, pointed at a folder of
    its own: the stage's temporary folder (captions file, hook frames) is gone after the run,
    so its captions file is copied there first."""

    def __init__(self, replay_dir: Path) -> None:
        self.argv: list[str] = []
        self.replay_dir = replay_dir
        self._run = render_core.run_ffmpeg

    async def __call__(self, argv: Sequence[str], **kwargs: Any) -> ProcessResult:
        self.replay_dir.mkdir(parents=True, exist_ok=True)
        self.argv = []
        for arg in argv:
            for folder in set(_STAGE_TMP.findall(arg)):
                captions = Path(folder) / "captions.ass"
                if captions.is_file():
                    shutil.copyfile(captions, self.replay_dir / "captions.ass")
                arg = arg.replace(folder, str(self.replay_dir))
            self.argv.append(arg)
        return await self._run(argv, **kwargs)


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children: unlike wall time, hardly moved by
    other work on the machine."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_bare(argv: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of the bare command."""
    began, cpu = time.perf_counter(), cpu_seconds()
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, capture_output=True)
    return time.perf_counter() - began, cpu_seconds() - cpu


def made(folder: Path) -> Path:
    """The job's folder, which exists before the look ahead runs (ingest made it)."""
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def run_prepass(
    video: Path, media: MediaInfo, options: JobOptions, job_dir: Path, config: RenderConfig
) -> dict[str, Any]:
    """The look ahead at the whole source, as the render service runs it on media.ready."""
    made(job_dir)
    began, cpu = time.perf_counter(), cpu_seconds()
    outcome = await prepare_look(video, job_dir, options, media, config, max_face_seconds=1800.0)
    wall, used = time.perf_counter() - began, cpu_seconds() - cpu
    minutes = media.duration_seconds / 60
    return {
        "outcome": outcome,
        "source_seconds": round(media.duration_seconds, 2),
        "wall_seconds": round(wall, 3),
        "cpu_seconds": round(used, 3),
        "cpu_seconds_per_source_minute": round(used / minutes, 3),
    }


async def captured_argv(
    recorder: ArgvRecorder, video: Path, highlight: Highlight, words: list[Word], options: JobOptions,
    media: MediaInfo, out: Path, config: RenderConfig, look: SourceLook,
) -> tuple[Any, list[str]]:  # fmt: skip
    render_core.run_ffmpeg = recorder  # type: ignore[assignment]
    try:
        clip = await render_clip(video, highlight, words, options, media, out, config, look=look)
    finally:
        render_core.run_ffmpeg = recorder._run
    return clip, list(recorder.argv)


async def measure(
    scenario: Scenario, video: Path, words: list[Word], media: MediaInfo, work: Path, config: RenderConfig, repeat: int
) -> Measured:
    options = JobOptions(aspect=scenario.aspect, captions=scenario.captions, min_clip_seconds=3)  # type: ignore[arg-type]
    highlight = Highlight(start=scenario.start, end=scenario.end, score=80, reason="bench", text="bench")
    out = work / f"{scenario.name}.mp4"
    job_dir = work / f"job-{scenario.name}"
    prepass = await run_prepass(video, media, options, job_dir, config)
    look = load_look(job_dir)
    recorder = ArgvRecorder(work / f"replay-{scenario.name}")
    # Warm-ups, argv captured: with the look ahead, then with the clip's own look.
    clip, argv = await captured_argv(recorder, video, highlight, words, options, media, out, config, look)
    _, inline_argv = await captured_argv(recorder, video, highlight, words, options, media, out, config, SourceLook())
    if not argv:
        raise SystemExit(f"{scenario.name}: the stage ran no ffmpeg encode (stream copy?); nothing to compare")
    bare_argv = [*argv[:1], "-nostdin", *argv[1:]]

    stage_times: list[float] = []
    bare_times: list[float] = []
    stage_cpu: list[float] = []
    bare_cpu: list[float] = []
    inline_times: list[float] = []
    inline_cpu: list[float] = []
    for _ in range(repeat):
        began, cpu = time.perf_counter(), cpu_seconds()
        await render_clip(video, highlight, words, options, media, out, config, look=look)
        stage_times.append(time.perf_counter() - began)
        stage_cpu.append(cpu_seconds() - cpu)
        wall, used = run_bare(bare_argv)
        bare_times.append(wall)
        bare_cpu.append(used)
        began, cpu = time.perf_counter(), cpu_seconds()
        await render_clip(video, highlight, words, options, media, out, config)
        inline_times.append(time.perf_counter() - began)
        inline_cpu.append(cpu_seconds() - cpu)

    assert media.width and media.height
    look, look_cpu, look_decode_cpu = 0.0, 0.0, 0.0
    if needs_faces(media.width, media.height, options.aspect):
        walls, cpus, decodes = [], [], []
        for _ in range(min(repeat, 3)):
            began, cpu = time.perf_counter(), cpu_seconds()
            await find_faces(video, scenario.start, scenario.end - scenario.start, (media.width, media.height), config)
            walls.append(time.perf_counter() - began)
            cpus.append(cpu_seconds() - cpu)
            decodes.append(run_bare(look_decode_command(video, scenario, media, config))[1])
        look, look_cpu, look_decode_cpu = (statistics.median(v) for v in (walls, cpus, decodes))
    return Measured(
        name=scenario.name,
        framing=clip.framing,
        stream_copied=clip.stream_copied,
        clip_seconds=round(clip.duration_seconds, 2),
        output=f"{clip.width}x{clip.height}",
        stage_seconds=[round(t, 3) for t in stage_times],
        bare_seconds=[round(t, 3) for t in bare_times],
        stage_cpu_seconds=[round(t, 3) for t in stage_cpu],
        bare_cpu_seconds=[round(t, 3) for t in bare_cpu],
        look_seconds=round(look, 3),
        look_cpu_seconds=round(look_cpu, 3),
        look_decode_cpu_seconds=round(look_decode_cpu, 3),
        bare_command=bare_argv,
        inline_stage_seconds=[round(t, 3) for t in inline_times],
        inline_stage_cpu_seconds=[round(t, 3) for t in inline_cpu],
        look_used=clip.look,
        same_command_as_inline=argv == inline_argv,
        prepass=prepass,
    )


def extract_sound(video: Path, audio: Path) -> Path:
    """16 kHz mono WAV, as ingest hands it to transcription."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(video), "-ac", "1", "-ar", "16000", str(audio)], check=True
    )
    return audio


async def transcription_overlap(
    video: Path, media: MediaInfo, work: Path, config: RenderConfig, name: str
) -> dict[str, Any]:
    """faster-whisper (the transcribe stage's defaults) on the source's sound, alone and with the
    9:16 look ahead at the same time, as in the pipeline: how much of the look ahead transcription
    hides, and what it costs transcription on this machine."""
    from clipforge.shared.models import ignore_progress
    from clipforge.transcribe.core import transcribe
    from clipforge.transcribe.model import WhisperConfig, load_model

    audio = extract_sound(video, work / f"{name}.wav")
    whisper = WhisperConfig()
    await asyncio.to_thread(load_model, whisper)  # loaded once per process, as the service does at start

    async def timed_transcribe() -> float:
        began = time.perf_counter()
        await transcribe(audio, whisper, on_progress=ignore_progress)
        return time.perf_counter() - began

    async def timed_look(job_dir: Path) -> float:
        made(job_dir)
        began = time.perf_counter()
        await prepare_look(video, job_dir, JobOptions(aspect="9:16"), media, config, max_face_seconds=1800.0)
        return time.perf_counter() - began

    began, cpu = time.perf_counter(), cpu_seconds()
    await transcribe(audio, whisper, on_progress=ignore_progress)
    alone_wall, alone_cpu = time.perf_counter() - began, cpu_seconds() - cpu
    look_alone = await timed_look(work / f"overlap-{name}-1")
    together, look_together = await asyncio.gather(timed_transcribe(), timed_look(work / f"overlap-{name}-2"))
    return {
        "source": name,
        "source_seconds": round(media.duration_seconds, 2),
        "transcribe_wall_seconds": round(alone_wall, 2),
        "transcribe_cpu_seconds": round(alone_cpu, 2),
        "look_ahead_wall_seconds": round(look_alone, 2),
        "transcribe_wall_seconds_with_look_ahead": round(together, 2),
        "look_ahead_wall_seconds_with_transcribe": round(look_together, 2),
    }


def look_decode_command(video: Path, scenario: Scenario, media: MediaInfo, config: RenderConfig) -> list[str]:
    """The look's ffmpeg decode (small grey frames a few times a second), to a null sink."""
    assert media.width and media.height
    sampling = FrameSampling(
        start=scenario.start,
        duration=scenario.end - scenario.start,
        fps=config.face_sample_fps,
        width=config.face_detect_width,
    )
    argv = sampling_command(video, sampling, sampling.size(media.width, media.height))
    return [*argv[:-1], "-y", os.devnull]


async def clips_per_minute(
    video: Path, words: list[Word], media: MediaInfo, work: Path, config: RenderConfig, aspect: str, clips: int
) -> dict[str, Any]:
    length = min(15.0, (media.duration_seconds - 1.0) / clips)
    highlights = [
        Highlight(start=0.5 + i * length, end=0.5 + (i + 1) * length - 0.2, score=80, reason="bench", text="bench")
        for i in range(clips)
    ]
    transcript = Transcript(
        language="en",
        duration_seconds=media.duration_seconds,
        segments=[Segment(start=0.0, end=media.duration_seconds, text="bench", words=words)],
    )
    options = JobOptions(aspect=aspect, captions=True, min_clip_seconds=3, max_clips=clips)  # type: ignore[arg-type]
    job_dir = work / f"job-{video.stem}-{aspect.replace(':', 'x')}"
    made(job_dir)
    await prepare_look(video, job_dir, options, media, config, max_face_seconds=1800.0)  # ran during transcription
    look = load_look(job_dir)
    began = time.perf_counter()
    rendered = await render_clips(video, highlights, transcript, options, media, job_dir, config, look=look)
    elapsed = time.perf_counter() - began
    output_seconds = sum(c.duration_seconds for c in rendered)
    return {
        "aspect": aspect,
        "clips": len(rendered),
        "clip_seconds_each": round(length - 0.2, 1),
        "framing": sorted({c.framing for c in rendered}),
        "concurrency": config.concurrency,
        "wall_seconds": round(elapsed, 2),
        "clips_per_minute": round(len(rendered) / elapsed * 60, 1),
        "output_seconds_per_second": round(output_seconds / elapsed, 2),
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--media", type=Path, default=Path("../shared/media"), help="the shared media folder")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-transcribe", action="store_true", help="skip the overlap with transcription")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results.json")
    return parser.parse_args()


async def main(args: argparse.Namespace) -> None:
    config = RenderConfig()
    load_before = os.getloadavg()

    with tempfile.TemporaryDirectory(prefix="clipforge-bench-render-") as tmp:
        work = Path(tmp)
        talk = make_speech_video(work / "talk.mp4", DEMO_SENTENCES)
        talk_media = probe_media(talk.path)
        talk_words = spread_words(" ".join(DEMO_SENTENCES), talk_media.duration_seconds)
        sources: dict[str, tuple[Path, MediaInfo, list[Word]]] = {"talk": (talk.path, talk_media, talk_words)}
        head_source = args.media / HEAD_VIDEO
        if head_source.is_file():
            head = loop_video(head_source, work / "head.mp4", 60.0)
            head_media = probe_media(head)
            sources["head"] = (head, head_media, spread_words(" ".join(DEMO_SENTENCES), head_media.duration_seconds))
        else:
            print(f"{head_source} not found: the face-following scenario is left out")

        scenarios = [
            Scenario("face_9x16_captions", "head", "9:16", True, 5.0, 25.0),
            Scenario("fit_9x16_captions", "talk", "9:16", True, 5.0, 25.0),
            Scenario("original_captions", "talk", "original", True, 5.0, 25.0),
            Scenario("original_plain", "talk", "original", False, 5.0, 25.0),
        ]
        measured: list[Measured] = []
        for scenario in scenarios:
            if scenario.source not in sources:
                continue
            video, media, words = sources[scenario.source]
            result = await measure(scenario, video, words, media, work, config, args.repeat)
            measured.append(result)
            print(
                f"{result.name:22s} {result.framing:4s} {result.output:>8s} {result.clip_seconds:5.1f} s  "
                f"stage {statistics.median(result.stage_seconds):6.3f} s  bare ffmpeg "
                f"{statistics.median(result.bare_seconds):6.3f} s  ratio {result.ratio:5.3f} "
                f"(best runs {result.best_ratio:5.3f})  "
                f"CPU ratio {result.cpu_ratio:5.3f} (look: {result.look_used}, same command as the clip's own "
                f"look: {result.same_command_as_inline})  |  without the look ahead: ratio "
                f"{result.inline_ratio:5.3f}, CPU ratio {result.inline_cpu_ratio:5.3f} "
                f"(look for faces {result.look_seconds:.3f} s, CPU {result.look_cpu_seconds:.3f} s of which "
                f"decoding {result.look_decode_cpu_seconds:.3f} s)  |  look ahead {result.prepass['outcome']}: "
                f"{result.prepass['cpu_seconds']:.2f} s CPU for {result.prepass['source_seconds']:.0f} s of source "
                f"= {result.prepass['cpu_seconds_per_source_minute']:.2f} s CPU per source minute"
            )

        overlap = []
        if not args.no_transcribe:
            for name in ("head", "talk"):
                if name in sources:
                    video, media, _ = sources[name]
                    entry = await transcription_overlap(video, media, work, config, name)
                    overlap.append(entry)
                    print(
                        f"{name} ({entry['source_seconds']:.0f} s): transcribe {entry['transcribe_wall_seconds']} s "
                        f"alone, look ahead {entry['look_ahead_wall_seconds']} s alone; at the same time: "
                        f"transcribe {entry['transcribe_wall_seconds_with_look_ahead']} s, look ahead "
                        f"{entry['look_ahead_wall_seconds_with_transcribe']} s"
                    )

        throughput = []
        for name, aspect in (("head", "9:16"), ("talk", "9:16"), ("talk", "original")):
            if name in sources:
                video, media, words = sources[name]
                entry = await clips_per_minute(video, words, media, work, config, aspect, clips=4)
                entry["source"] = name
                throughput.append(entry)
                print(
                    f"job of {entry['clips']} x {entry['clip_seconds_each']} s clips, {name} {aspect} "
                    f"({', '.join(entry['framing'])}), concurrency {entry['concurrency']}: "
                    f"{entry['wall_seconds']} s = {entry['clips_per_minute']} clips/min, "
                    f"{entry['output_seconds_per_second']} s of clip per second"
                )

    results = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        # Other work on the machine slows stage and bare runs alike (they alternate), not the ratio.
        "load_average_1min": {"before": round(load_before[0], 2), "after": round(os.getloadavg()[0], 2)},
        "config": {"preset": config.video_preset, "crf": config.crf, "concurrency": config.concurrency},
        "repeat": args.repeat,
        "goal_ratio": 1.05,
        "scenarios": [
            asdict(m)
            | {
                "ratio": round(m.ratio, 3),
                "best_ratio": round(m.best_ratio, 3),
                "cpu_ratio": round(m.cpu_ratio, 3),
                "inline_ratio": round(m.inline_ratio, 3),
                "inline_cpu_ratio": round(m.inline_cpu_ratio, 3),
                "look_floor": round(m.look_floor, 3),
            }
            for m in measured
        ],
        "transcription_overlap": overlap,
        "throughput": throughput,
    }
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
