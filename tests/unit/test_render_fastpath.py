"""The stream-copy fast path against re-encoding, on real files with known keyframes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import cv2
import pysubs2
import pytest

from clipforge.render.core import RenderConfig, RenderedClip, _copy_cut, render_clip
from clipforge.render.fastpath import Packet, copy_cut
from clipforge.render.prelook import SourceLook, index_keyframes, load_look, look_dir, write_atomically
from clipforge.shared.models import Highlight, JobOptions, MediaInfo, Word

SECONDS = 20.0
CONFIG = RenderConfig()


def probe(path: Path, *entries: str) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_data_hash", "MD5", *entries, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def video_packets(path: Path) -> list[tuple[float, str, str]]:
    """(pts, flags, md5 of the data) of every video packet, in presentation order."""
    data = probe(path, "-select_streams", "v:0", "-show_entries", "packet=pts_time,flags,data_hash")
    return sorted((float(p["pts_time"]), p["flags"], p["data_hash"]) for p in data["packets"])


def video_stream(path: Path) -> dict:
    return probe(path, "-select_streams", "v:0", "-show_streams")["streams"][0]


@pytest.fixture(scope="module")
def keyframed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """640x360 H.264/AAC with a keyframe every second exactly (at 0, 1, 2, ... s)."""
    path = tmp_path_factory.mktemp("fast") / "keyframed.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=s=640x360:r=25:d={SECONDS}",
         "-f", "lavfi", "-i", f"sine=f=440:d={SECONDS}", "-c:v", "libx264", "-preset", "veryfast",
         "-g", "25", "-keyint_min", "25", "-sc_threshold", "0", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-shortest", "-movflags", "+faststart", str(path)],
        check=True,
    )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def media(keyframed: Path) -> MediaInfo:
    return MediaInfo(
        duration_seconds=SECONDS,
        size_bytes=keyframed.stat().st_size,
        container="mov,mp4,m4a,3gp,3g2,mj2",
        video_codec="h264",
        audio_codec="aac",
        width=640,
        height=360,
        fps=25.0,
        has_audio=True,
        has_video=True,
    )


WORDS = [Word(start=2.2 + i * 0.5, end=2.6 + i * 0.5, text=t) for i, t in enumerate("a clip cut on keyframes".split())]


async def render(
    keyframed: Path, media: MediaInfo, out: Path, start: float, end: float, **opts: object
) -> RenderedClip:
    options = JobOptions.model_validate({"min_clip_seconds": 3, "captions": False, **opts})
    highlight = Highlight(start=start, end=end, score=70, reason="test", text="test")
    return await render_clip(keyframed, highlight, WORDS, options, media, out, CONFIG)


async def test_cuts_on_keyframes_are_copied_bit_for_bit(keyframed: Path, media: MediaInfo, tmp_path: Path) -> None:
    # Speed is the benchmark's business (bench/render); here: the bytes are the source's.
    copied = await render(keyframed, media, tmp_path / "copy.mp4", 2.0, 14.0)
    encoded = await render(keyframed, media, tmp_path / "encode.mp4", 2.0, 14.0, captions=True)

    assert copied.stream_copied and not encoded.stream_copied
    source = [p for p in video_packets(keyframed) if 2.0 - 1e-6 <= p[0] < 14.0 - 1e-6]
    out = video_packets(copied.path)
    assert len(out) == len(source) == 300
    assert [hash_ for _, _, hash_ in out] == [hash_ for _, _, hash_ in source]  # the same bytes
    assert [round(pts - 2.0, 3) for pts, _, _ in source] == [round(pts, 3) for pts, _, _ in out]
    keep = ("codec_name", "profile", "level", "width", "height", "pix_fmt", "extradata_hash", "time_base")
    assert {k: video_stream(copied.path)[k] for k in keep} == {k: video_stream(keyframed)[k] for k in keep}
    assert abs(copied.duration_seconds - 12.0) < 0.1
    # The re-encoded clip's packets are new ones.
    assert not {h for _, _, h in video_packets(encoded.path)} & {h for _, _, h in source}

    # The copy still gets its thumbnail and subtitle files.
    assert copied.thumbnail_path.read_bytes()[:3] == b"\xff\xd8\xff"
    assert cv2.imread(str(copied.thumbnail_path)).shape == (360, 640, 3)
    events = pysubs2.load(str(copied.srt_path)).events
    assert events and events[0].start == 200  # 2.2 s in the source is 0.2 s into the clip


@pytest.mark.parametrize(
    ("start", "end", "opts"),
    [
        (2.3, 8.0, {}),  # starts between keyframes
        (2.0, 7.5, {}),  # ends between keyframes
        (2.0, 8.0, {"captions": True}),  # captions must be burned in
        (2.0, 8.0, {"aspect": "9:16"}),  # the frame changes
    ],
    ids=["start-off-keyframe", "end-off-keyframe", "captions", "reframed"],
)
async def test_anything_to_change_means_re_encoding(
    keyframed: Path, media: MediaInfo, tmp_path: Path, start: float, end: float, opts: dict[str, object]
) -> None:
    clip = await render(keyframed, media, tmp_path / "clip.mp4", start, end, **opts)
    assert not clip.stream_copied
    assert abs(clip.duration_seconds - (end - start)) < 0.1  # an accurate cut
    stream = video_stream(clip.path)
    assert stream["codec_name"] == "h264" and stream["pix_fmt"] == "yuv420p"


async def test_a_clip_to_the_end_of_the_video_can_be_copied(keyframed: Path, media: MediaInfo, tmp_path: Path) -> None:
    clip = await render(keyframed, media, tmp_path / "tail.mp4", 17.0, SECONDS)
    assert clip.stream_copied and abs(clip.duration_seconds - 3.0) < 0.1
    assert len(video_packets(clip.path)) == 75


def test_copy_is_refused_when_decode_order_crosses_the_cut() -> None:
    # An open GOP: a frame shown before the keyframe at 2.0 s is decoded after it.
    packets = [
        Packet(pts=1.0, dts=0.96, key=True),
        Packet(pts=1.96, dts=1.92, key=False),
        Packet(pts=2.0, dts=1.96, key=True),
        Packet(pts=1.92, dts=2.0, key=False),
        Packet(pts=2.04, dts=2.04, key=False),
        Packet(pts=3.0, dts=2.96, key=True),
    ]
    assert copy_cut(packets, 2.0, 3.0, 25.0, video_ends=False) is None
    closed = [Packet(pts=2.0, dts=1.96, key=True), Packet(pts=2.04, dts=2.0, key=False), Packet(3.0, 2.96, True)]
    cut = copy_cut(closed, 2.0, 3.0, 25.0, video_ends=False)
    assert cut is not None and cut.frames == 2 and cut.start == 2.0 and cut.duration == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("start", "end", "copied"),
    [
        (2.0, 14.0, True),
        (2.3, 8.0, False),
        (2.0, 7.5, False),
        (0.0, 5.0, True),
        (17.0, SECONDS, True),
        (16.99, SECONDS, True),  # within half a frame of the keyframe
        (3.03, 9.0, False),
        (19.0, 19.9, False),
    ],
)
async def test_the_keyframe_index_gives_the_same_copy_decision_as_the_probe(
    keyframed: Path, media: MediaInfo, start: float, end: float, copied: bool
) -> None:
    # The index is read once for the whole source while the job transcribes; the clip then cuts
    # as it would have after probing the packets around itself.
    index = await index_keyframes(keyframed)
    assert index is not None and sum(index.key) == 20 and len(index.pts) == 500
    look = SourceLook(packets=tuple(Packet(p, d, k) for p, d, k in zip(index.pts, index.dts, index.key, strict=True)))
    options = JobOptions(min_clip_seconds=3, captions=False)
    probed = await _copy_cut(keyframed, start, end, options, media, CONFIG, SourceLook())
    indexed = await _copy_cut(keyframed, start, end, options, media, CONFIG, look)
    assert indexed == probed
    assert (probed is not None) == copied


async def test_a_clip_cut_from_the_index_is_the_same_copy(keyframed: Path, media: MediaInfo, tmp_path: Path) -> None:
    index = await index_keyframes(keyframed)
    assert index is not None
    write_atomically(look_dir(tmp_path) / "keyframes.json", index)
    look = load_look(tmp_path)
    assert look.packets is not None and look.faces is None
    highlight = Highlight(start=2.0, end=14.0, score=70, reason="test", text="test")
    options = JobOptions(min_clip_seconds=3, captions=False)
    clip = await render_clip(keyframed, highlight, WORDS, options, media, tmp_path / "c.mp4", CONFIG, look=look)
    assert clip.stream_copied and clip.look == "none"
    source = [p for p in video_packets(keyframed) if 2.0 - 1e-6 <= p[0] < 14.0 - 1e-6]
    assert [h for _, _, h in video_packets(clip.path)] == [h for _, _, h in source]
