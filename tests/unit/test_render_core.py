"""The render core on real media with real ffmpeg: codecs, length, shape, captions, progress."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
from pathlib import Path

import numpy as np
import pysubs2
import pytest

from clipforge.devstack.samples import DEMO_SENTENCES, SampleVideo, make_speech_video
from clipforge.render.captions import ACTIVE_STYLE, clip_words, group_lines, write_captions
from clipforge.render.core import RenderConfig, RenderedClip, build_command, render_clip, render_clips
from clipforge.render.framing import plan_framing
from clipforge.render.geometry import crop_box, output_size
from clipforge.render.probe import probe_output
from clipforge.shared.errors import StageError
from clipforge.shared.models import Highlight, JobOptions, MediaInfo, Segment, Transcript, Word

CLIP_START, CLIP_END = 2.0, 8.0


# --- helpers ------------------------------------------------------------------------------


def ffprobe(path: Path) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def media_info(path: Path) -> MediaInfo:
    info = ffprobe(path)
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    audio = next((s for s in info["streams"] if s["codec_type"] == "audio"), None)
    return MediaInfo(
        duration_seconds=float(info["format"]["duration"]),
        size_bytes=int(info["format"]["size"]),
        container="mp4",
        video_codec=video["codec_name"],
        audio_codec=audio["codec_name"] if audio else None,
        width=int(video["width"]),
        height=int(video["height"]),
        fps=25.0,
        has_audio=audio is not None,
        has_video=True,
    )


def frame(path: Path, at: float) -> np.ndarray:
    """One decoded frame as an (height, width, 3) array of RGB bytes."""
    info = ffprobe(path)
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    raw = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-ss",
            f"{at:.3f}",
            "-i",
            str(path),
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "pipe:1",
        ],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(int(video["height"]), int(video["width"]), 3)


def top_level_boxes(path: Path) -> list[str]:
    data = path.read_bytes()
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset : offset + 4], "big")
        kind = data[offset + 4 : offset + 8].decode("latin-1")
        if size == 1:
            size = int.from_bytes(data[offset + 8 : offset + 16], "big")
        elif size == 0:
            size = len(data) - offset
        assert size >= 8, f"malformed box {kind!r} at {offset}"
        boxes.append(kind)
        offset += size
    return boxes


def even_words(sample: SampleVideo) -> list[Word]:
    """The sample's words spread evenly over its length (close enough to the real speech)."""
    tokens = [token for sentence in sample.sentences for token in sentence.split()]
    step = sample.duration_seconds / len(tokens)
    return [Word(start=i * step, end=(i + 0.85) * step, text=token) for i, token in enumerate(tokens)]


def highlight(start: float = CLIP_START, end: float = CLIP_END) -> Highlight:
    return Highlight(start=start, end=end, score=80.0, reason="test", text="test")


def options(**overrides: object) -> JobOptions:
    return JobOptions.model_validate({"min_clip_seconds": 3, "max_clip_seconds": 30, **overrides})


# --- fixtures: one sample video and a few renders, shared by the module ---------------------


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("render")


@pytest.fixture(scope="module")
def sample(workdir: Path) -> SampleVideo:
    return make_speech_video(workdir / "source" / "talk.mp4", DEMO_SENTENCES[:3])


@pytest.fixture(scope="module")
def media(sample: SampleVideo) -> MediaInfo:
    return media_info(sample.path)


@pytest.fixture(scope="module")
async def captioned(sample: SampleVideo, media: MediaInfo, workdir: Path) -> RenderedClip:
    return await render_clip(
        sample.path,
        highlight(),
        even_words(sample),
        options(captions=True),
        media,
        workdir / "captioned.mp4",
        RenderConfig(),
    )


@pytest.fixture(scope="module")
async def plain(sample: SampleVideo, media: MediaInfo, workdir: Path) -> RenderedClip:
    return await render_clip(
        sample.path,
        highlight(),
        even_words(sample),
        options(captions=False),
        media,
        workdir / "plain.mp4",
        RenderConfig(),
    )


# --- geometry -----------------------------------------------------------------------------


def test_portrait_from_landscape_is_even_and_not_upscaled() -> None:
    assert output_size(640, 360, "9:16") == (202, 360)
    assert output_size(640, 360, "1:1") == (360, 360)
    assert output_size(640, 360, "16:9") == (640, 360)
    assert output_size(1080, 1920, "16:9") == (1080, 606)
    assert output_size(641, 359, "original") == (640, 358)
    assert crop_box(640, 360, "9:16").x == (640 - 202) // 2  # centred


@pytest.mark.parametrize("size", [(640, 360), (1920, 1080), (1080, 1920), (641, 359), (333, 777), (100, 100)])
@pytest.mark.parametrize(("aspect", "ratio"), [("9:16", 9 / 16), ("1:1", 1.0), ("16:9", 16 / 9)])
def test_output_size_fits_the_source_with_the_requested_shape(size: tuple[int, int], aspect: str, ratio: float) -> None:
    width, height = size
    out_w, out_h = output_size(width, height, aspect)  # type: ignore[arg-type]
    assert out_w % 2 == 0 and out_h % 2 == 0
    assert out_w <= width and out_h <= height
    assert abs(out_w / out_h - ratio) < 0.02
    assert out_w >= width - 2 or out_h >= height - 2  # as large as the source allows
    box = crop_box(width, height, aspect)  # type: ignore[arg-type]
    assert 0 <= box.x and box.x + box.width <= width and 0 <= box.y and box.y + box.height <= height


# --- captions file ------------------------------------------------------------------------


def test_ass_file_has_one_event_per_word_with_that_word_highlighted(tmp_path: Path) -> None:
    words = [
        Word(start=10.0 + i * 0.4, end=10.3 + i * 0.4, text=text)
        for i, text in enumerate("Every change goes through the same automated tests.".split())
    ]
    path = write_captions(words, 9.5, 14.0, tmp_path / "c.ass", 640, 360, RenderConfig(), "clean")
    subs = pysubs2.load(str(path))

    assert subs.info["PlayResX"] == "640" and subs.info["PlayResY"] == "360"
    assert {"Caption", ACTIVE_STYLE} <= set(subs.styles)
    assert subs.styles[ACTIVE_STYLE].primarycolor != subs.styles["Caption"].primarycolor
    assert subs.styles["Caption"].fontname == "DejaVu Sans"
    assert subs.styles["Caption"].outline > 0
    assert subs.styles["Caption"].alignment == pysubs2.Alignment.BOTTOM_CENTER
    assert len(subs.events) == len(words)
    for event, word in zip(subs.events, words, strict=True):
        assert f"{{\\r{ACTIVE_STYLE}}}{word.text}{{\\r}}" in event.text
        assert event.text.count(ACTIVE_STYLE) == 1
        assert len(event.plaintext.split()) <= RenderConfig().max_words_per_caption
        assert event.start == round((word.start - 9.5) * 1000)  # relative to the clip start
    assert all(a.end <= b.start for a, b in zip(subs.events, subs.events[1:], strict=False))


def test_zero_duration_words_still_get_visible_events(tmp_path: Path) -> None:
    words = [
        Word(start=1.0, end=1.4, text="We"),
        Word(start=1.4, end=1.4, text="ship"),
        Word(start=1.4, end=1.4, text="every"),
        Word(start=1.6, end=1.5, text="day."),  # end before start: treated as no duration
        Word(start=4.99, end=4.99, text="Bye."),  # at the very end of the clip
    ]
    path = write_captions(words, 0.0, 5.0, tmp_path / "c.ass", 640, 360, RenderConfig(), "clean")
    events = pysubs2.load(str(path)).events
    assert [e.plaintext for e in events][-1] == "Bye."
    assert len(events) == len(words)
    for event in events:
        assert event.end > event.start
        assert 0 <= event.start and event.end <= 5000
    assert all(a.end <= b.start for a, b in itertools.pairwise(events))


def test_words_are_clipped_to_the_clip(tmp_path: Path) -> None:
    words = [
        Word(start=0.5, end=1.0, text="before"),
        Word(start=1.8, end=2.4, text="straddles"),
        Word(start=2.5, end=3.0, text="inside"),
        Word(start=3.8, end=4.6, text="overruns"),
        Word(start=4.6, end=5.0, text="after"),
    ]
    timed = clip_words(words, 2.0, 4.0)
    assert [w.text for w in timed] == ["straddles", "inside", "overruns"]
    assert timed[0].start == 0.0 and timed[-1].end == pytest.approx(2.0)
    events = pysubs2.load(str(write_captions(words, 2.0, 4.0, tmp_path / "c.ass", 640, 360, RenderConfig()))).events
    assert len(events) == 3
    assert events[0].start == 0 and events[-1].end <= 2000


def test_lines_break_at_sentence_ends_pauses_and_length() -> None:
    words = [
        Word(start=i * 0.3, end=i * 0.3 + 0.25, text=t)
        for i, t in enumerate("One two three four five six. Seven eight".split())
    ]
    words.append(Word(start=5.0, end=5.3, text="nine"))  # after a long pause
    lines = group_lines(clip_words(words, 0.0, 6.0), RenderConfig(max_words_per_caption=4))
    assert [[w.text for w in line] for line in lines] == [
        ["One", "two", "three", "four"],
        ["five", "six."],
        ["Seven", "eight"],
        ["nine"],
    ]


# --- rendering ----------------------------------------------------------------------------


def test_build_command_is_a_plain_ffmpeg_argv(tmp_path: Path) -> None:
    plan = plan_framing(640, 360, "original", None)
    argv = build_command(
        Path("/v/in.mp4"),
        2.0,
        6.0,
        plan,
        tmp_path / "c.ass",
        True,
        tmp_path / "o.mp4",
        RenderConfig(crf=28, video_preset="ultrafast"),
    )
    assert argv[0] == "ffmpeg"
    joined = " ".join(argv)
    assert "crop=" in joined and "ass=filename=" in joined
    assert argv[argv.index("-crf") + 1] == "28" and argv[argv.index("-preset") + 1] == "ultrafast"
    assert argv[argv.index("-movflags") + 1] == "+faststart"
    no_captions = build_command(Path("/v/in.mp4"), 2.0, 6.0, plan, None, False, tmp_path / "o.mp4", RenderConfig())
    assert "ass=" not in " ".join(no_captions) and "-c:a" not in no_captions


async def test_clip_is_h264_aac_faststart_of_the_requested_length(captioned: RenderedClip) -> None:
    info = ffprobe(captioned.path)
    codecs = {s["codec_type"]: s for s in info["streams"]}
    assert codecs["video"]["codec_name"] == "h264"
    assert codecs["video"]["pix_fmt"] == "yuv420p"
    assert codecs["audio"]["codec_name"] == "aac"
    assert abs(float(info["format"]["duration"]) - (CLIP_END - CLIP_START)) <= 0.3
    assert abs(captioned.duration_seconds - (CLIP_END - CLIP_START)) <= 0.3
    assert (captioned.width, captioned.height) == (640, 360)
    assert captioned.size_bytes == captioned.path.stat().st_size > 0
    boxes = top_level_boxes(captioned.path)
    assert boxes.index("moov") < boxes.index("mdat")


async def test_the_read_back_gives_what_ffprobe_reads(captioned: RenderedClip, tmp_path: Path) -> None:
    # In-process (PyAV, the same libavformat demuxer), without an ffprobe start per clip.
    info = ffprobe(captioned.path)
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    facts = await probe_output(captioned.path)
    assert (facts.width, facts.height) == (int(video["width"]), int(video["height"]))
    assert facts.duration_seconds == pytest.approx(float(info["format"]["duration"]), abs=1e-6)
    assert facts.size_bytes == int(info["format"]["size"])
    # Like ffprobe it reads the header: a file cut short after it reads the same (both accept it);
    # a file that is no clip, or has no picture, is refused.
    data = captioned.path.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 50])
    cut = await probe_output(tmp_path / "cut.mp4")
    assert (cut.width, cut.height, cut.duration_seconds) == (facts.width, facts.height, facts.duration_seconds)
    sound = tmp_path / "sound.m4a"
    await asyncio.to_thread(
        subprocess.run, ["ffmpeg", "-v", "error", "-y", "-i", str(captioned.path), "-vn", "-c", "copy", str(sound)]
    )
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "junk.mp4").write_bytes(b"\x00" * 4096)
    for refused in (tmp_path / "empty.mp4", tmp_path / "junk.mp4", sound, tmp_path / "missing.mp4"):
        with pytest.raises(StageError) as caught:
            await probe_output(refused)
        assert caught.value.code == "render_failed"


async def test_portrait_clip_from_landscape(sample: SampleVideo, media: MediaInfo, tmp_path: Path) -> None:
    clip = await render_clip(
        sample.path,
        highlight(1.0, 4.0),
        even_words(sample),
        options(aspect="9:16"),
        media,
        tmp_path / "portrait.mp4",
        RenderConfig(video_preset="ultrafast"),
    )
    video = next(s for s in ffprobe(clip.path)["streams"] if s["codec_type"] == "video")
    assert (int(video["width"]), int(video["height"])) == (clip.width, clip.height) == output_size(640, 360, "9:16")
    assert clip.height > clip.width and clip.width % 2 == 0 and clip.height % 2 == 0


async def test_captions_are_burned_into_the_picture(captioned: RenderedClip, plain: RenderedClip) -> None:
    at = 2.0  # a word is being spoken: the words are spread over the whole sample
    with_captions, without = frame(captioned.path, at), frame(plain.path, at)
    difference = np.abs(with_captions.astype(np.int16) - without.astype(np.int16)).max(axis=2)
    height = difference.shape[0]
    lower_third = (difference[2 * height // 3 :] > 80).mean()
    upper_half = (difference[: height // 2] > 80).mean()
    assert lower_third > 0.01, f"only {lower_third:.2%} of the lower third changed"
    assert upper_half < 0.005, f"{upper_half:.2%} of the upper half changed"


async def test_render_clips_names_files_and_reports_one_progress(
    sample: SampleVideo, media: MediaInfo, tmp_path: Path
) -> None:
    words = even_words(sample)
    transcript = Transcript(
        language="en",
        duration_seconds=sample.duration_seconds,
        segments=[
            Segment(start=0.0, end=sample.duration_seconds, text=" ".join(w.text for w in words), words=words),
        ],
    )
    highlights = [highlight(5.0, 8.0), highlight(0.5, 2.5)]
    progress: list[tuple[float, str]] = []

    clips = await render_clips(
        sample.path,
        highlights,
        transcript,
        options(),
        media,
        tmp_path / "clips",
        RenderConfig(video_preset="ultrafast", concurrency=2),
        lambda fraction, message: progress.append((fraction, message)),
    )

    assert [c.path.name for c in clips] == ["clip-01.mp4", "clip-02.mp4"]
    assert sorted(p.name for p in (tmp_path / "clips").iterdir()) == [
        f"clip-0{n}.{ext}" for n in (1, 2) for ext in ("jpg", "mp4", "srt", "vtt")
    ]
    assert [(c.thumbnail_path.name, c.srt_path.name, c.vtt_path.name) for c in clips] == [
        ("clip-01.jpg", "clip-01.srt", "clip-01.vtt"),
        ("clip-02.jpg", "clip-02.srt", "clip-02.vtt"),
    ]
    assert [round(c.duration_seconds) for c in clips] == [3, 2]  # in highlight order
    fractions = [f for f, _ in progress]
    assert fractions == sorted(fractions) and all(0.0 <= f <= 1.0 for f in fractions)
    assert fractions[-1] == 1.0 and len(set(fractions)) > 4
    messages = [m for _, m in progress]
    assert messages[0] == "Rendering 2 clips: 0 of 2 done"
    assert "Rendering 2 clips: 1 of 2 done" in messages and messages[-1] == "Rendered 2 clips"


async def test_single_clip_progress_reaches_one(sample: SampleVideo, media: MediaInfo, tmp_path: Path) -> None:
    progress: list[float] = []
    await render_clip(
        sample.path,
        highlight(0.0, 3.0),
        [],
        options(),
        media,
        tmp_path / "p.mp4",
        RenderConfig(video_preset="ultrafast"),
        lambda fraction, _message: progress.append(fraction),
    )
    assert progress and progress[-1] == 1.0


async def test_corrupt_input_is_render_failed(media: MediaInfo, tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 64)
    out = tmp_path / "out.mp4"
    with pytest.raises(StageError) as caught:
        await render_clip(broken, highlight(), [], options(), media, out, RenderConfig())
    assert caught.value.code == "render_failed"
    assert str(tmp_path) not in caught.value.message
    assert "damaged" in caught.value.message
    assert not out.exists()


async def test_highlight_outside_the_video_is_refused(sample: SampleVideo, media: MediaInfo, tmp_path: Path) -> None:
    with pytest.raises(StageError) as caught:
        await render_clip(
            sample.path,
            highlight(media.duration_seconds + 5, media.duration_seconds + 10),
            [],
            options(),
            media,
            tmp_path / "o.mp4",
            RenderConfig(),
        )
    assert caught.value.code == "clip_out_of_range"


# --- clips side by side ---------------------------------------------------------------------


async def test_clips_render_side_by_side_up_to_the_limit(
    monkeypatch: pytest.MonkeyPatch, media: MediaInfo, tmp_path: Path
) -> None:
    import asyncio

    import clipforge.render.core as core

    running, peak, finished = 0, 0, []

    async def fake_render(video, highlight, words, options, media, out_path, config, on_progress, look=None):  # type: ignore[no-untyped-def]
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        on_progress(0.5, "")
        await asyncio.sleep(0.05 * (4 - int(highlight.start)))  # later clips finish first
        on_progress(1.0, "")
        running -= 1
        finished.append(out_path.name)
        return out_path

    monkeypatch.setattr(core, "render_clip", fake_render)
    transcript = Transcript(language="en", duration_seconds=5.0, segments=[])
    progress: list[float] = []
    results = await render_clips(
        Path("in.mp4"),
        [highlight(float(i), float(i) + 1.0) for i in range(4)],
        transcript,
        options(),
        media,
        tmp_path,
        RenderConfig(concurrency=2),
        lambda fraction, _message: progress.append(fraction),
    )
    assert peak == 2
    assert [p.name for p in results] == ["clip-01.mp4", "clip-02.mp4", "clip-03.mp4", "clip-04.mp4"]  # type: ignore[attr-defined]
    assert finished[:2] == ["clip-02.mp4", "clip-01.mp4"]  # both ran at once
    assert progress == sorted(progress) and progress[-1] == 1.0


async def test_one_failed_clip_stops_the_others_and_leaves_no_files(
    monkeypatch: pytest.MonkeyPatch, sample: SampleVideo, media: MediaInfo, tmp_path: Path
) -> None:
    import asyncio

    import clipforge.render.core as core

    real_render = core.render_clip
    started: list[str] = []

    async def failing_second(video, highlight, words, options, media, out_path, config, on_progress, look=None):  # type: ignore[no-untyped-def]
        started.append(out_path.name)
        if highlight.reason == "fail":
            await asyncio.sleep(0.3)  # the first clip is encoding by now
            raise StageError("render_failed", "boom")
        return await real_render(video, highlight, words, options, media, out_path, config, on_progress, look)

    monkeypatch.setattr(core, "render_clip", failing_second)
    words = even_words(sample)
    transcript = Transcript(
        language="en",
        duration_seconds=sample.duration_seconds,
        segments=[Segment(start=0.0, end=sample.duration_seconds, text="t", words=words)],
    )
    bad = Highlight(start=1.0, end=3.0, score=50.0, reason="fail", text="t")
    with pytest.raises(StageError) as caught:
        await render_clips(
            sample.path,
            [highlight(0.0, media.duration_seconds), bad],
            transcript,
            options(max_clip_seconds=60),
            media,
            tmp_path / "clips",
            RenderConfig(video_preset="veryslow", concurrency=2),
        )
    assert caught.value.message == "boom"
    assert started == ["clip-01.mp4", "clip-02.mp4"]
    assert list((tmp_path / "clips").iterdir()) == []  # the stopped clip removed what it had written
