"""``clipforge process``: the whole pipeline in one process (real yt-dlp, ffmpeg, faster-whisper and
the analyzer), no broker or database; clips checked with ffprobe."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from clipforge.cli.output import Exit
from clipforge.devstack.httpserve import StaticServer
from clipforge.devstack.samples import SampleVideo, make_silent_video

LENGTH_TOLERANCE_SECONDS = 0.5


def clipforge(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clipforge.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=900
    )


def ffprobe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def words_of(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def test_process_turns_a_video_file_into_valid_captioned_clips(speech_video: SampleVideo, tmp_path: Path) -> None:
    out = tmp_path / "clips"
    run = clipforge(
        "process", str(speech_video.path), "-o", str(out), "--max-clips", "2", "--min-seconds", "5",
        "--max-seconds", "20", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == Exit.OK, run.stderr
    result = json.loads(run.stdout)
    assert json.loads((out / "result.json").read_text()) == result
    assert set(result["stage_seconds"]) == {"ingest", "transcribe", "analyze", "render"}
    assert result["media"]["video_codec"] == "h264" and result["media"]["has_audio"] is True

    transcript = json.loads((out / "transcript.json").read_text())
    heard = words_of(" ".join(segment["text"] for segment in transcript["segments"]))
    spoken = words_of(" ".join(speech_video.sentences))
    assert len(spoken & heard) / len(spoken) >= 0.8, sorted(spoken - heard)

    clips = result["clips"]
    assert 1 <= len(clips) <= 2
    assert [clip["score"] for clip in clips] == sorted((clip["score"] for clip in clips), reverse=True)
    for clip in clips:
        assert clip["reason"] and clip["text"]
        info = ffprobe(out / clip["url"])
        codecs = {stream["codec_type"]: stream["codec_name"] for stream in info["streams"]}
        assert codecs == {"video": "h264", "audio": "aac"}
        duration = float(info["format"]["duration"])
        assert 5 - LENGTH_TOLERANCE_SECONDS <= duration <= 20 + LENGTH_TOLERANCE_SECONDS
        assert (out / clip["thumbnail_url"]).read_bytes()[:2] == b"\xff\xd8"
        assert (out / clip["srt_url"]).read_text().startswith("1\n")
        assert (out / clip["vtt_url"]).read_text().startswith("WEBVTT")
    assert not [path for path in out.iterdir() if path.name.startswith("clipforge-")], "no work files left"


def test_process_fails_with_the_stage_and_code_a_job_would_get(tmp_path: Path) -> None:
    page = tmp_path / "site" / "page.html"
    page.parent.mkdir()
    page.write_text("<html><body><h1>Just a page, no video here</h1></body></html>")
    with StaticServer(page.parent) as site:
        no_media = clipforge("process", f"{site.base_url}/page.html", "-o", "out", "--json", cwd=tmp_path)
    assert no_media.returncode == Exit.JOB_FAILED
    error = json.loads(no_media.stderr.strip().splitlines()[-1])["error"]
    assert error["stage"] == "ingest" and error["code"] == "no_media_found" and error["detail"]

    silent = make_silent_video(tmp_path / "silent.mp4")
    no_sound = clipforge("process", str(silent), "-o", "out", cwd=tmp_path)
    assert no_sound.returncode == Exit.JOB_FAILED
    assert "ingest failed" in no_sound.stderr and "no_audio_stream" in no_sound.stderr


def test_process_refuses_bad_options_and_missing_files_with_exit_2(tmp_path: Path) -> None:
    bad = clipforge("process", "talk.mp4", "--max-clips", "0", "--json", cwd=tmp_path)
    assert bad.returncode == Exit.USAGE
    assert "max_clips" in json.loads(bad.stderr.strip().splitlines()[-1])["error"]["message"]
    missing = clipforge("process", "no-such-video.mp4", cwd=tmp_path)
    assert missing.returncode == Exit.USAGE and "no such file" in missing.stderr
