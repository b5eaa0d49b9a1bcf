"""Face-aware framing on real video with the real detector.

A Haar cascade does not fire on a drawn circle, but it does on a drawn face with the light and
dark regions of a real one (brow, eyes, nose, mouth); the tests draw one with OpenCV and move
it across an H.264 video made by ffmpeg.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from clipforge.render.analysis import ClipAnalysis, find_faces
from clipforge.render.core import RenderConfig, RenderedClip, render_clip
from clipforge.render.faces import detect_faces
from clipforge.render.framing import FramingPlan, plan_framing
from clipforge.render.geometry import crop_box
from clipforge.render.prelook import SourceLook, load_look, prepare_look
from clipforge.render.tracking import TrackingParams, camera_path
from clipforge.shared.models import Highlight, JobOptions, MediaInfo

FACE = 120  # pixels, in a 640x360 video
SKIN, BACKGROUND = 200, 60
CONFIG = RenderConfig(video_preset="ultrafast")


def drawn_face(size: int = FACE) -> np.ndarray:
    """A grey face: oval, hair, brows, eyes with pupils, nose and mouth, softly blurred."""
    image = np.full((size, size), BACKGROUND, np.uint8)
    c, s = size // 2, size / 200

    def px(value: float) -> int:
        return round(value * s)

    cv2.ellipse(image, (c, c), (px(70), px(92)), 0, 0, 360, SKIN, -1)
    cv2.ellipse(image, (c, c - px(70)), (px(74), px(36)), 0, 180, 360, 40, -1)
    for side in (-1, 1):
        cv2.ellipse(image, (c + side * px(30), c - px(28)), (px(20), px(6)), 0, 180, 360, 50, -1)
        cv2.ellipse(image, (c + side * px(30), c - px(12)), (px(16), px(8)), 0, 0, 360, 60, -1)
        cv2.circle(image, (c + side * px(30), c - px(12)), px(4), 20, -1)
    cv2.ellipse(image, (c, c + px(22)), (px(10), px(6)), 0, 0, 360, 140, -1)
    cv2.ellipse(image, (c, c + px(50)), (px(26), px(8)), 0, 0, 360, 70, -1)
    return cv2.GaussianBlur(image, (0, 0), s * 3)


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


def grey_frames(path: Path, fps: float = 5.0) -> np.ndarray:
    """Every decoded frame at ``fps`` as (count, height, width) grey bytes."""
    video = next(s for s in ffprobe(path)["streams"] if s["codec_type"] == "video")
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-vf", f"fps={fps},format=gray", "-f", "rawvideo", "pipe:1"],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, int(video["height"]), int(video["width"]))


def make_video(path: Path, lavfi_picture: str, seconds: float, overlay_x: str | None, face_png: Path) -> Path:
    """An H.264/AAC 640x360 video; with ``overlay_x``, the drawn face moves along it (x of t)."""
    options = f"s=640x360:r=25:d={seconds}"
    inputs = [
        "-f",
        "lavfi",
        "-i",
        f"{lavfi_picture}:{options}" if "=" in lavfi_picture else f"{lavfi_picture}={options}",
    ]
    inputs += ["-f", "lavfi", "-i", f"sine=f=300:d={seconds}"]
    if overlay_x is not None:
        inputs += ["-loop", "1", "-i", str(face_png)]
        graph = f"[0:v][2:v]overlay=x='{overlay_x}':y=110:shortest=1,format=yuv420p[v]"
    else:
        graph = "[0:v]format=yuv420p[v]"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", *inputs, "-filter_complex", graph, "-map", "[v]", "-map", "1:a",
         "-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac", "-t", str(seconds), str(path)],
        check=True,
    )  # fmt: skip
    return path


def face_pixels(frame: np.ndarray) -> int:
    return int((frame > (SKIN + BACKGROUND) // 2).sum())


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("faces")


@pytest.fixture(scope="module")
def face_png(workdir: Path) -> Path:
    path = workdir / "face.png"
    cv2.imwrite(str(path), drawn_face())
    return path


@pytest.fixture(scope="module")
def moving_face_video(workdir: Path, face_png: Path) -> Path:
    # Off-centre right, then across to the left and back: a centre crop would lose it.
    x = "if(lt(t,3),470,if(lt(t,6),470-100*(t-3),170+100*(t-6)))"
    return make_video(
        workdir / "moving.mp4", f"color=c=0x{BACKGROUND:02x}{BACKGROUND:02x}{BACKGROUND:02x}", 9.0, x, face_png
    )


@pytest.fixture(scope="module")
def pattern_video(workdir: Path, face_png: Path) -> Path:
    return make_video(workdir / "pattern.mp4", "testsrc2", 6.0, None, face_png)


@pytest.fixture(scope="module")
async def face_clip(moving_face_video: Path, workdir: Path) -> RenderedClip:
    return await render_clip(
        moving_face_video,
        Highlight(start=0.5, end=8.5, score=90, reason="test", text="test"),
        [],
        JobOptions(aspect="9:16", captions=False, min_clip_seconds=3),
        media_info(moving_face_video),
        workdir / "out" / "face.mp4",
        CONFIG,
    )


def test_the_detector_finds_the_drawn_face_where_it_is(face_png: Path) -> None:
    frame = np.full((180, 320), BACKGROUND, np.uint8)
    face = cv2.resize(drawn_face(), (60, 60))
    frame[50:110, 220:280] = face
    found = detect_faces(frame, scale=2.0)
    assert len(found) == 1
    box = found[0]
    assert abs(box.centre_x - 500) < 15 and abs(box.centre_y - 160) < 15  # in source pixels
    assert 90 < box.width < 150


@pytest.mark.parametrize("picture", ["blank", "pattern", "noise"])
def test_the_detector_finds_nothing_where_there_is_no_face(picture: str, pattern_video: Path) -> None:
    if picture == "pattern":
        frames = grey_frames(pattern_video, fps=2)
        frames = np.stack([cv2.resize(f, (256, 144), interpolation=cv2.INTER_AREA) for f in frames])
    elif picture == "blank":
        frames = np.full((4, 144, 256), 128, np.uint8)
    else:
        frames = np.random.default_rng(5).integers(0, 256, (4, 144, 256), dtype=np.uint8)
    assert sum(len(detect_faces(f)) for f in frames) == 0


async def test_an_off_centre_moving_face_stays_inside_the_portrait_frame(
    face_clip: RenderedClip, moving_face_video: Path
) -> None:
    assert face_clip.framing == "face" and (face_clip.width, face_clip.height) == (202, 360)
    whole = face_pixels(grey_frames(moving_face_video, fps=1)[0])
    assert whole > 5000
    frames = grey_frames(face_clip.path, fps=5)
    assert len(frames) >= 38
    for index, frame in enumerate(frames):
        visible = face_pixels(frame) / whole
        assert visible > 0.97, f"only {visible:.0%} of the face in frame {index} ({index / 5:.1f} s)"


async def test_a_centre_crop_would_have_lost_that_face(moving_face_video: Path) -> None:
    # The control for the test above: the same frames cut at the centre miss the face at the start.
    frame = grey_frames(moving_face_video, fps=1)[1]
    centre = frame[:, (640 - 202) // 2 : (640 - 202) // 2 + 202]
    assert face_pixels(centre) / face_pixels(frame) < 0.5


async def test_no_face_means_the_whole_picture_over_a_blurred_fill(pattern_video: Path, workdir: Path) -> None:
    clip = await render_clip(
        pattern_video,
        Highlight(start=0.5, end=5.5, score=90, reason="test", text="test"),
        [],
        JobOptions(aspect="9:16", captions=False, min_clip_seconds=3),
        media_info(pattern_video),
        workdir / "out" / "fit.mp4",
        CONFIG,
    )
    assert clip.framing == "fit" and (clip.width, clip.height) == (202, 360)
    picture_height = round(360 * 202 / 640)  # the whole 16:9 picture, scaled to the width
    top = (360 - picture_height) // 2
    for frame in grey_frames(clip.path, fps=2):
        band, picture = frame[: top - 4], frame[top + 4 : top + picture_height - 4]
        assert band.mean() > 20, "the fill above the picture is empty"
        # The fill is blurred, the picture is not.
        assert cv2.Laplacian(band, cv2.CV_64F).var() * 5 < cv2.Laplacian(picture, cv2.CV_64F).var()


async def test_no_black_frames_and_a_real_jpeg_thumbnail(face_clip: RenderedClip, moving_face_video: Path) -> None:
    for frame in grey_frames(face_clip.path, fps=4):
        assert frame.mean() > BACKGROUND * 0.8
    thumbnail = face_clip.thumbnail_path
    assert thumbnail.name == "face.jpg" and thumbnail.read_bytes()[:3] == b"\xff\xd8\xff"
    picture = cv2.imread(str(thumbnail), cv2.IMREAD_GRAYSCALE)
    assert picture is not None and picture.shape == (360, 202)
    # Taken from the framed clip: the whole face is in it, as in the clip.
    assert face_pixels(picture) > 0.95 * face_pixels(grey_frames(moving_face_video, fps=1)[0])


def test_face_finder_searches_the_whole_frame_about_once_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    import clipforge.render.analysis as analysis
    from clipforge.render.frames import SampledFrame

    whole_frame_searches: list[float] = []
    real_detect = analysis.detect_faces

    def counting(pixels: np.ndarray, scale: float = 1.0) -> list:  # type: ignore[type-arg]
        whole_frame_searches.append(len(whole_frame_searches))
        return real_detect(pixels, scale)

    monkeypatch.setattr(analysis, "detect_faces", counting)
    empty = np.full((144, 256), BACKGROUND, np.uint8)
    with_face = empty.copy()
    with_face[40:100, 150:210] = cv2.resize(drawn_face(), (60, 60))
    finder = analysis.FaceFinder(fps=3.0)
    pictures = [with_face] * 6 + [empty] * 4
    found = [finder(SampledFrame(time=i / 3, pixels=p, scale=1.0)) for i, p in enumerate(pictures)]

    assert [len(faces) for faces in found] == [1] * 6 + [0] * 4
    assert all(abs(faces[0].centre_x - 180) < 10 for faces in found[:6])
    # Whole frame at samples 0 and 3; 1, 2, 4, 5 searched near the face; at 6 the face is
    # lost so the whole frame is searched at once; 7 and 8 wait for the next whole search at 9.
    assert len(whole_frame_searches) == 4


# --- the look ahead: the source's faces found while the job transcribes --------------------------


@pytest.fixture(scope="module")
async def source_look(moving_face_video: Path, workdir: Path) -> SourceLook:
    job = workdir / "job"
    job.mkdir()
    outcome = await prepare_look(
        moving_face_video, job, JobOptions(aspect="9:16"), media_info(moving_face_video), CONFIG, 1800.0
    )
    assert outcome == {"keyframes": "written", "faces": "written"}
    return load_look(job)


def crop_path(analysis: ClipAnalysis) -> FramingPlan:
    box = crop_box(640, 360, "9:16")
    camera = camera_path(analysis.samples, (640, 360), (box.width, box.height), "x", TrackingParams())
    return plan_framing(640, 360, "9:16", camera)


@pytest.mark.parametrize(("start", "end"), [(1.0, 8.0), (0.0, 9.0), (3.0, 6.5)])
async def test_the_look_ahead_gives_the_crop_the_clip_s_own_look_gives(
    source_look: SourceLook, moving_face_video: Path, start: float, end: float
) -> None:
    # Clips starting on the sampling grid (k / 3 s, a whole-frame search every second): the same
    # frames, the same detections, so the same track and the same crop expression.
    stored = source_look.clip_faces(start, end, CONFIG, (640, 360))
    inline = await find_faces(moving_face_video, start, end - start, (640, 360), CONFIG)
    assert stored is not None and len(stored.samples) == len(inline.samples) == math.ceil((end - start) * 3)
    assert [s.time for s in stored.samples] == pytest.approx([s.time for s in inline.samples], abs=1e-6)
    assert [s.faces for s in stored.samples] == [s.faces for s in inline.samples]
    assert sum(bool(s.faces) for s in stored.samples) >= 0.9 * len(stored.samples)
    stored_plan, inline_plan = crop_path(stored), crop_path(inline)
    assert stored_plan.mode == "face" and stored_plan == inline_plan


async def test_a_clip_framed_from_the_look_ahead_keeps_the_face_inside_the_portrait_frame(
    source_look: SourceLook, moving_face_video: Path, workdir: Path
) -> None:
    clip = await render_clip(
        moving_face_video,
        Highlight(start=0.4, end=8.6, score=90, reason="test", text="test"),  # off the sampling grid
        [],
        JobOptions(aspect="9:16", captions=False, min_clip_seconds=3),
        media_info(moving_face_video),
        workdir / "out" / "prepass.mp4",
        CONFIG,
        look=source_look,
    )
    assert clip.look == "prepass" and clip.framing == "face" and (clip.width, clip.height) == (202, 360)
    whole = face_pixels(grey_frames(moving_face_video, fps=1)[0])
    frames = grey_frames(clip.path, fps=5)
    assert len(frames) >= 40
    for index, frame in enumerate(frames):
        visible = face_pixels(frame) / whole
        assert visible > 0.97, f"only {visible:.0%} of the face in frame {index} ({index / 5:.1f} s)"


async def test_without_a_usable_look_ahead_the_clip_looks_for_itself(
    face_clip: RenderedClip, source_look: SourceLook
) -> None:
    assert face_clip.look == "inline" and face_clip.framing == "face"
    # A look made with other sampling is not the clip's: it is not used.
    other = RenderConfig(video_preset="ultrafast", face_sample_fps=2.0)
    assert source_look.clip_faces(1.0, 8.0, other, (640, 360)) is None
    assert source_look.clip_faces(1.0, 8.0, CONFIG, (1280, 720)) is None


async def test_the_look_ahead_skips_faces_when_the_frame_keeps_its_shape_or_the_source_is_long(
    moving_face_video: Path, workdir: Path
) -> None:
    media = media_info(moving_face_video)
    for name in ("j1", "j2"):
        (workdir / name).mkdir()
    kept = await prepare_look(moving_face_video, workdir / "j1", JobOptions(aspect="original"), media, CONFIG, 1800.0)
    long = await prepare_look(moving_face_video, workdir / "j2", JobOptions(aspect="9:16"), media, CONFIG, 5.0)
    assert kept == long == {"keyframes": "written", "faces": "skipped"}
    assert load_look(workdir / "j2").faces is None and load_look(workdir / "j2").packets is not None
    again = await prepare_look(moving_face_video, workdir / "j2", JobOptions(aspect="9:16"), media, CONFIG, 5.0)
    assert again == {"keyframes": "present", "faces": "skipped"}


async def test_a_stopped_look_ahead_writes_no_faces(moving_face_video: Path, workdir: Path) -> None:
    seen: list[int] = []

    def stop_after_five() -> bool:
        seen.append(1)
        return len(seen) > 5

    media = media_info(moving_face_video)
    job = workdir / "j3"
    job.mkdir()
    options = JobOptions(aspect="9:16")
    outcome = await prepare_look(moving_face_video, job, options, media, CONFIG, 1800.0, stop_after_five)
    assert outcome["faces"] == "stopped" and len(seen) == 6
    assert load_look(job).faces is None
