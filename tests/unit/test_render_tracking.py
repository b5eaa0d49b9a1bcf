"""Following a face, with detections given by the test: track choice, smoothing, containment,
the ffmpeg expression that drives the crop, and the framing chosen from it."""

from __future__ import annotations

import itertools
import math
import subprocess

import pytest

from clipforge.render.expressions import evaluate, piecewise_linear, simplify
from clipforge.render.faces import FaceBox
from clipforge.render.framing import apply_framing, needs_faces, plan_framing
from clipforge.render.geometry import crop_box, fit_size, pan_axis
from clipforge.render.tracking import CameraPath, FaceSample, Keyframe, TrackingParams, camera_path, main_face

FRAME = (640, 360)
WINDOW = (202, 360)  # 9:16 out of 640x360
FPS = 3.0


def samples(
    centres: list[float | None], size: float = 80.0, extra: dict[int, FaceBox] | None = None
) -> list[FaceSample]:
    """One sample per centre (None: nothing detected), faces of ``size`` pixels."""
    out = []
    for index, centre in enumerate(centres):
        faces = [] if centre is None else [FaceBox(centre - size / 2, 100.0, size, size)]
        if extra and index in extra:
            faces.append(extra[index])
        out.append(FaceSample(time=index / FPS, faces=tuple(faces)))
    return out


def test_the_largest_persistent_face_is_followed_not_a_passing_one() -> None:
    small_steady = {i: FaceBox(40.0, 40.0, 30.0, 30.0) for i in range(30)}
    found = main_face(samples([450.0] * 30, size=90.0, extra=small_steady), TrackingParams())
    assert found is not None and all(box is not None and box.width == 90.0 for box in found)

    # A big face for two samples loses against a medium face seen throughout.
    flash = {3: FaceBox(100.0, 50.0, 200.0, 200.0), 4: FaceBox(100.0, 50.0, 200.0, 200.0)}
    found = main_face(samples([450.0] * 30, size=80.0, extra=flash), TrackingParams())
    assert found is not None and {box.width for box in found if box} == {80.0}


def test_a_face_seen_too_rarely_is_not_followed() -> None:
    rare = [450.0 if i % 4 == 0 else None for i in range(30)]  # 8 of 30 samples
    assert main_face(samples(rare), TrackingParams(min_presence=0.3)) is None
    assert main_face(samples(rare), TrackingParams(min_presence=0.1)) is not None
    assert camera_path(samples([None] * 10), FRAME, WINDOW, "x") is None
    assert camera_path([], FRAME, WINDOW, "x") is None


def test_camera_holds_still_for_small_moves_and_frames_the_face() -> None:
    jitter = [450.0 + (6.0 if i % 2 else -6.0) for i in range(30)]
    path = camera_path(samples(jitter), FRAME, WINDOW, "x")
    assert path is not None and path.axis == "x" and path.presence == 1.0
    offsets = [k.offset for k in path.keyframes]
    assert max(offsets) - min(offsets) < 1.0  # the dead zone swallows detector jitter
    assert abs(offsets[0] + WINDOW[0] / 2 - 450.0) < 8.0  # centred on the face


def test_camera_follows_a_moving_face_smoothly_and_keeps_it_inside() -> None:
    centres = [120.0 + 15.0 * i for i in range(30)]  # 45 px/s across the frame
    path = camera_path(samples(centres), FRAME, WINDOW, "x")
    assert path is not None
    offsets = [k.offset for k in path.keyframes]
    for centre, offset in zip(centres, offsets, strict=True):
        assert offset <= centre - 40.0 and centre + 40.0 <= offset + WINDOW[0]  # the whole face
        assert 0.0 <= offset <= FRAME[0] - WINDOW[0]
    steps = [b - a for a, b in itertools.pairwise(offsets)]
    assert all(step >= -0.5 for step in steps)  # never turns back while the face goes one way
    assert max(steps) < 40.0


def test_a_cut_to_another_place_cuts_the_window_too() -> None:
    centres = [150.0] * 15 + [500.0] * 15
    path = camera_path(samples(centres), FRAME, WINDOW, "x")
    assert path is not None
    times = [k.time for k in path.keyframes]
    assert times == sorted(times) and len(path.keyframes) == 32  # two keyframes mark the cut
    for index, centre in enumerate(centres):
        offset = evaluate(path.keyframes, index / FPS)
        assert offset <= centre - 40.0 + 1e-6 and centre + 40.0 <= offset + WINDOW[0] + 1e-6
    # No slow pan across the frame: still on the first place until half-way to the new one.
    assert evaluate(path.keyframes, 14.4 / FPS) == pytest.approx(evaluate(path.keyframes, 0.0), abs=1.0)


def test_a_fast_move_is_followed_without_losing_the_face() -> None:
    centres = [150.0] * 10 + [150.0 + 70.0 * i for i in range(1, 6)] + [500.0] * 15  # 210 px/s
    path = camera_path(samples(centres), FRAME, WINDOW, "x")
    assert path is not None and len(path.keyframes) == 30
    offsets = [k.offset for k in path.keyframes]
    for centre, offset in zip(centres, offsets, strict=True):
        assert offset <= centre - 40.0 + 1e-6 and centre + 40.0 <= offset + WINDOW[0] + 1e-6


def test_missed_detections_are_bridged() -> None:
    centres: list[float | None] = [200.0 + 10.0 * i if i % 3 else None for i in range(30)]
    path = camera_path(samples(centres), FRAME, WINDOW, "x")
    assert path is not None and len(path.keyframes) == 30
    assert path.presence == pytest.approx(20 / 30)


def test_vertical_window_follows_on_y() -> None:
    faces = [FaceSample(time=i / FPS, faces=(FaceBox(100.0, 600.0, 120.0, 120.0),)) for i in range(10)]
    path = camera_path(faces, (480, 1080), (480, 270), "y")
    assert path is not None and path.axis == "y"
    for keyframe in path.keyframes:
        assert keyframe.offset <= 600.0 and 720.0 <= keyframe.offset + 270


def test_simplified_path_stays_within_tolerance() -> None:
    keyframes = [Keyframe(i / FPS, 100.0 + 80.0 * math.sin(i / 5)) for i in range(60)]
    kept = simplify(keyframes, 1.5)
    assert 2 < len(kept) < len(keyframes)
    for keyframe in keyframes:
        assert abs(evaluate(kept, keyframe.time) - keyframe.offset) <= 1.5 + 1e-9
    still = [Keyframe(i / FPS, 42.0) for i in range(20)]
    assert len(simplify(still, 1.5)) == 2


def test_ffmpeg_evaluates_the_expression_as_python_does() -> None:
    keyframes = [Keyframe(0.0, 10.0), Keyframe(1.0, 110.0), Keyframe(2.5, 80.0), Keyframe(4.0, 80.0)]
    expression = piecewise_linear(keyframes)
    assert expression.count("clip(") == 2  # the flat stretch adds nothing
    times = [0.0, 0.5, 1.0, 1.7, 2.5, 3.0, 4.5]
    # ffmpeg's own evaluator (the geq filter, with t fixed per run) writes the value as a pixel.
    values = []
    for time in times:
        fixed = expression.replace("t", f"({time})")
        out = subprocess.run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                "color=black:s=2x2:d=1",
                "-vf",
                f"format=gray,geq=lum='{fixed}'",
                "-frames:v",
                "1",
                "-f",
                "rawvideo",
                "pipe:1",
            ],
            check=True,
            capture_output=True,
        ).stdout
        values.append(out[0])
    expected = [evaluate(keyframes, time) for time in times]
    assert expected == [10.0, 60.0, 110.0, 96.0, 80.0, 80.0, 80.0]
    assert all(abs(value - want) <= 1 for value, want in zip(values, expected, strict=True)), values
    assert piecewise_linear([Keyframe(0.0, 33.0)]) == "33.00"


def test_framing_plans_for_each_shape() -> None:
    assert not needs_faces(640, 360, "original") and not needs_faces(640, 360, "16:9")
    assert needs_faces(640, 360, "9:16") and needs_faces(640, 480, "16:9")
    assert pan_axis(640, 360, crop_box(640, 360, "9:16")) == "x"
    assert pan_axis(640, 480, crop_box(640, 480, "16:9")) == "y"
    assert pan_axis(641, 359, crop_box(641, 359, "16:9")) is None  # rounding is not room to pan

    full = plan_framing(641, 359, "original", None)
    assert (full.mode, full.width, full.height) == ("full", 640, 358)
    fit = plan_framing(640, 360, "9:16", None)
    assert (fit.mode, fit.width, fit.height) == ("fit", 202, 360)
    assert fit.fit == fit_size(640, 360, 202, 360) and fit.fit[0] == 202 and fit.fit[1] < 120
    path = CameraPath(axis="x", keyframes=(Keyframe(0.0, 50.0), Keyframe(2.0, 150.0)), presence=1.0)
    face = plan_framing(640, 360, "9:16", path)
    assert (face.mode, face.width, face.height, face.axis) == ("face", 202, 360, "x")
    assert face.path == piecewise_linear(path.keyframes)


def test_fit_graph_scales_the_picture_over_a_blurred_fill() -> None:
    import ffmpeg

    plan = plan_framing(640, 360, "9:16", None)
    graph = " ".join(apply_framing(ffmpeg.input("in.mp4").video, plan).output("o.mp4").compile())
    assert "gblur" in graph and "overlay" in graph and "split" in graph
    assert "crop=w=202" not in graph  # no centre crop of the picture itself
