"""Following the main face: from per-sample face boxes to a smooth path of the crop window.

Pure computation, no video: the analysis feeds it face boxes, framing turns its keyframes into
an ffmpeg expression. Steps: group detections into tracks over time, keep the largest and most
persistent one, fill the samples it was missed in, then move a virtual camera that holds still
while the face stays near the centre (dead zone) and eases to it when it leaves (zero-phase
exponential smoothing, so the camera neither lags nor overshoots), and finally make sure the
face itself is inside the window at every sample.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from clipforge.render.faces import FaceBox
from clipforge.render.geometry import Axis


@dataclass(frozen=True)
class FaceSample:
    time: float
    faces: tuple[FaceBox, ...]


@dataclass(frozen=True)
class Keyframe:
    time: float
    offset: float  # where the crop window starts along the axis, in source pixels


@dataclass(frozen=True)
class CameraPath:
    axis: Axis
    keyframes: tuple[Keyframe, ...]
    presence: float  # share of samples the followed face was seen in


@dataclass(frozen=True)
class TrackingParams:
    min_presence: float = 0.3
    # The camera stays put while the face centre is within this share of the window from it.
    dead_zone: float = 0.08
    smoothing_seconds: float = 0.35
    # A face that vanishes longer than this starts a new track when it comes back.
    max_gap_seconds: float = 1.5
    # Tracks shorter than this are detector noise.
    min_track_seconds: float = 1.0
    # Room kept between the face and the window edge when the path is forced to contain it.
    margin: float = 0.04


@dataclass
class _Track:
    boxes: dict[int, FaceBox] = field(default_factory=dict)
    last_index: int = -1

    @property
    def last(self) -> FaceBox:
        return self.boxes[self.last_index]

    @property
    def weight(self) -> float:
        # Largest and most persistent: every sighting counts with the face's size.
        return sum(box.area for box in self.boxes.values())


def main_faces(samples: Sequence[FaceSample], params: TrackingParams) -> list[tuple[int, FaceBox] | None] | None:
    """The face to follow in each sample as (track number, box), None where there is none; or
    None when faces are seen too rarely to follow anyone.

    Tracks are ranked by weight (size times sightings); each sample follows the best-ranked
    track seen in it, so a cut to another shot or another speaker hands over to that face.
    Tracks seen for less than a second are detector noise and never followed.
    """
    if not samples:
        return None
    interval = _interval(samples)
    max_gap = max(round(params.max_gap_seconds / interval), 1)
    tracks: list[_Track] = []
    for index, sample in enumerate(samples):
        taken: set[int] = set()
        for face in sorted(sample.faces, key=lambda box: box.area, reverse=True):
            best, best_distance = None, math.inf
            for number, track in enumerate(tracks):
                if number in taken or index - track.last_index > max_gap:
                    continue
                last = track.last
                distance = math.hypot(face.centre_x - last.centre_x, face.centre_y - last.centre_y)
                if distance <= max(face.width, last.width) and distance < best_distance:
                    best, best_distance = number, distance
            if best is None:
                tracks.append(_Track())
                best = len(tracks) - 1
            tracks[best].boxes[index] = face
            tracks[best].last_index = index
            taken.add(best)
    min_sightings = max(2, round(params.min_track_seconds / interval))
    ranked = sorted(
        (number for number, track in enumerate(tracks) if len(track.boxes) >= min_sightings),
        key=lambda number: tracks[number].weight,
        reverse=True,
    )
    followed: list[tuple[int, FaceBox] | None] = []
    for index in range(len(samples)):
        number = next((n for n in ranked if index in tracks[n].boxes), None)
        followed.append(None if number is None else (number, tracks[number].boxes[index]))
    if sum(entry is not None for entry in followed) / len(samples) < params.min_presence:
        return None
    return followed


def main_face(samples: Sequence[FaceSample], params: TrackingParams) -> list[FaceBox | None] | None:
    """The followed face in each sample, without track numbers."""
    followed = main_faces(samples, params)
    return None if followed is None else [None if entry is None else entry[1] for entry in followed]


def camera_path(
    samples: Sequence[FaceSample],
    frame_size: tuple[int, int],
    window_size: tuple[int, int],
    axis: Axis,
    params: TrackingParams | None = None,
) -> CameraPath | None:
    """Where the crop window is at each sample time, or None when there is no face to follow.

    Each run of one followed face is smoothed on its own; where the followed face changes
    (a cut, another speaker) the window cuts too, half-way between the two samples.
    """
    params = params or TrackingParams()
    followed = main_faces(samples, params)
    if followed is None:
        return None
    frame = frame_size[0] if axis == "x" else frame_size[1]
    window = window_size[0] if axis == "x" else window_size[1]

    keyframes: list[Keyframe] = []
    for first, last in _runs(followed):
        run = followed[first:last]
        times = [sample.time for sample in samples[first:last]]
        offsets = _run_offsets([None if e is None else e[1] for e in run], times, frame, window, axis, params)
        if keyframes:
            middle = (keyframes[-1].time + times[0]) / 2
            keyframes += [Keyframe(middle, keyframes[-1].offset), Keyframe(middle + 1e-3, offsets[0])]
        keyframes += [Keyframe(time, offset) for time, offset in zip(times, offsets, strict=True)]
    presence = sum(entry is not None for entry in followed) / len(followed)
    return CameraPath(axis=axis, keyframes=tuple(keyframes), presence=presence)


def _runs(followed: list[tuple[int, FaceBox] | None]) -> list[tuple[int, int]]:
    """Index ranges [first, last) following one track; gaps belong to the run before them."""
    starts = [0]
    current: int | None = None
    for index, entry in enumerate(followed):
        if entry is None:
            continue
        if current is not None and entry[0] != current and index > 0:
            starts.append(index)
        current = entry[0]
    return list(zip(starts, [*starts[1:], len(followed)], strict=True))


def _run_offsets(
    faces: list[FaceBox | None], times: list[float], frame: int, window: int, axis: Axis, params: TrackingParams
) -> list[float]:
    low = _filled([None if f is None else (f.x if axis == "x" else f.y) for f in faces])
    high = _filled([None if f is None else (f.x + f.width if axis == "x" else f.y + f.height) for f in faces])
    centres = _median3([(lo + hi) / 2 for lo, hi in zip(low, high, strict=True)])
    if axis == "y":
        # Eyes in the upper part of the frame read better than a face dead centre.
        centres = [centre + window * 0.1 for centre in centres]

    aims = _dead_zone(centres, params.dead_zone * window)
    smooth = _zero_phase(aims, times, params.smoothing_seconds)

    margin = params.margin * window
    offsets: list[float] = []
    for centre, lo, hi in zip(smooth, low, high, strict=True):
        offset = centre - window / 2
        if hi - lo + 2 * margin <= window:
            offset = min(max(offset, hi + margin - window), lo - margin)
        else:  # the face is wider than the window: show its middle
            offset = (lo + hi) / 2 - window / 2
        offsets.append(min(max(offset, 0.0), float(frame - window)))
    return offsets


def _interval(samples: Sequence[FaceSample]) -> float:
    if len(samples) < 2:
        return 1.0
    return max((samples[-1].time - samples[0].time) / (len(samples) - 1), 1e-3)


def _filled(values: list[float | None]) -> list[float]:
    """Gaps filled by straight lines between the known values, held flat at either end."""
    known = [index for index, value in enumerate(values) if value is not None]
    filled: list[float] = []
    for index, value in enumerate(values):
        if value is not None:
            filled.append(value)
            continue
        before = max((k for k in known if k < index), default=None)
        after = min((k for k in known if k > index), default=None)
        if before is None:
            filled.append(values[after])  # type: ignore[arg-type,index]
        elif after is None:
            filled.append(values[before])  # type: ignore[arg-type]
        else:
            a, b = values[before], values[after]
            assert a is not None and b is not None
            filled.append(a + (b - a) * (index - before) / (after - before))
    return filled


def _median3(values: list[float]) -> list[float]:
    """Removes single-sample jitter of the detector without moving real motion."""
    if len(values) < 3:
        return list(values)
    middle = [sorted(values[i - 1 : i + 2])[1] for i in range(1, len(values) - 1)]
    return [values[0], *middle, values[-1]]


def _dead_zone(centres: list[float], zone: float) -> list[float]:
    aims: list[float] = []
    aim = centres[0]
    for centre in centres:
        if abs(centre - aim) > zone:
            aim = centre
        aims.append(aim)
    return aims


def _zero_phase(values: list[float], times: list[float], seconds: float) -> list[float]:
    """Exponential smoothing forwards then backwards: eases in and out without lagging."""

    def one_way(series: list[float], stamps: list[float]) -> list[float]:
        out = [series[0]]
        for index in range(1, len(series)):
            alpha = 1.0 - math.exp(-abs(stamps[index] - stamps[index - 1]) / max(seconds, 1e-6))
            out.append(out[-1] + alpha * (series[index] - out[-1]))
        return out

    forward = one_way(values, times)
    return one_way(forward[::-1], times[::-1])[::-1]
