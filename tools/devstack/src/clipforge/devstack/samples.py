"""Sample media made on the spot with espeak-ng and ffmpeg: real speech with known words over
a real H.264 picture. The demo submits one; the tests make their own with it."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

DEMO_SENTENCES: tuple[str, ...] = (
    "Welcome to the ClipForge demonstration video.",
    "Today we talk about three ideas that changed how small teams ship software.",
    "The first idea is continuous delivery.",
    "Every change goes through the same automated tests before it reaches users.",
    "Teams that deploy many times a day find fewer surprises in production.",
    "The second idea is observability.",
    "Metrics, logs and traces tell you what the system is doing right now.",
    "Without them you are guessing, and guessing is expensive at three in the morning.",
    "The third idea is small services with clear contracts.",
    "Each service owns one job and talks to the others through events.",
    "That makes it easy to scale the slow parts on their own hardware.",
    "Thank you for watching, and have fun making short clips.",
)


@dataclass(frozen=True)
class SampleVideo:
    path: Path
    sentences: tuple[str, ...]
    duration_seconds: float

    @property
    def words(self) -> list[str]:
        return [w.strip(".,!?").lower() for s in self.sentences for w in s.split()]


def _run(argv: list[str]) -> None:
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def speak(text: str, wav_path: Path, *, words_per_minute: int = 150, voice: str = "en-us") -> Path:
    """Synthesize ``text`` to a WAV file with espeak-ng."""
    wav_path.parent.mkdir(parents=True, exist_ok=True)
    _run(["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-g", "8", "-w", str(wav_path), text])
    return wav_path


def probe_duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip())


def make_speech_video(
    path: Path,
    sentences: tuple[str, ...] = DEMO_SENTENCES,
    *,
    size: str = "640x360",
    fps: int = 25,
    with_audio: bool = True,
) -> SampleVideo:
    """An H.264/AAC mp4 of ``sentences`` spoken over a moving test picture."""
    path.parent.mkdir(parents=True, exist_ok=True)
    wav = speak(" ".join(sentences), path.with_suffix(".speech.wav"))
    duration = probe_duration(wav)
    picture = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}:duration={duration:.3f}"]
    audio = ["-i", str(wav)] if with_audio else []
    codecs = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
    if with_audio:
        codecs += ["-c:a", "aac", "-b:a", "96k", "-shortest"]
    _run(["ffmpeg", "-y", "-loglevel", "error", *picture, *audio, *codecs, "-movflags", "+faststart", str(path)])
    wav.unlink(missing_ok=True)
    return SampleVideo(path=path, sentences=sentences, duration_seconds=probe_duration(path))


def make_silent_video(path: Path, *, seconds: float = 3.0, size: str = "320x240") -> Path:
    """An H.264 mp4 with no audio stream at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _run(
        [
            "ffmpeg",
            "-y",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={size}:rate=25:duration={seconds}",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-pix_fmt",
            "yuv420p",
            str(path),
        ]
    )
    return path


def make_tone_video(path: Path, *, seconds: float, size: str = "320x240") -> Path:
    """An H.264/AAC mp4 of a test picture and a sine tone, of any length (cheap to encode)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _run(
        [
            "ffmpeg",
            "-y",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={size}:rate=10:duration={seconds}",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=440:duration={seconds}",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            str(path),
        ]
    )
    return path
