"""A camera path as an ffmpeg expression of time ``t``, so one crop filter follows the face."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from clipforge.render.tracking import Keyframe


def simplify(keyframes: Sequence[Keyframe], tolerance: float) -> list[Keyframe]:
    """Fewest keyframes whose straight lines stay within ``tolerance`` pixels of the path
    (Ramer-Douglas-Peucker on the offset at each time)."""
    points = list(keyframes)
    if len(points) <= 2:
        return points
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        a, b = points[first], points[last]
        span = b.time - a.time
        worst, worst_error = -1, tolerance
        for index in range(first + 1, last):
            point = points[index]
            expected = a.offset if span <= 0 else a.offset + (b.offset - a.offset) * (point.time - a.time) / span
            error = abs(point.offset - expected)
            if error > worst_error:
                worst, worst_error = index, error
        if worst >= 0:
            keep[worst] = True
            stack += [(first, worst), (worst, last)]
    return [point for point, kept in zip(points, keep, strict=True) if kept]


def piecewise_linear(keyframes: Sequence[Keyframe]) -> str:
    """``f(t)``: the first offset before the first keyframe, straight lines between keyframes,
    the last offset after the last one.

    Written as a flat sum of clipped ramps rather than nested ``if``s: ffmpeg evaluates it per
    frame and its length grows by one short term per keyframe.
    """
    if not keyframes:
        raise ValueError("a path needs at least one keyframe")
    terms = [f"{keyframes[0].offset:.2f}"]
    for a, b in itertools.pairwise(keyframes):
        span = b.time - a.time
        rise = b.offset - a.offset
        if span <= 0 or abs(rise) < 1e-6:
            continue
        terms.append(f"{rise / span:+.4f}*clip(t-{a.time:.3f},0,{span:.3f})")
    return "".join(terms)


def evaluate(keyframes: Sequence[Keyframe], time: float) -> float:
    """What :func:`piecewise_linear` gives at ``time``, in Python (for checks and tests)."""
    if time <= keyframes[0].time:
        return keyframes[0].offset
    for a, b in itertools.pairwise(keyframes):
        if time <= b.time:
            span = b.time - a.time
            return b.offset if span <= 0 else a.offset + (b.offset - a.offset) * (time - a.time) / span
    return keyframes[-1].offset
