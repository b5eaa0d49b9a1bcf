"""How the source picture becomes the clip's frame, and the ffmpeg filters that do it.

- ``full``: the whole frame (aspect ``original``, or the source already has the asked shape);
- ``face``: a window of the asked shape that follows the main face (one crop, moving with ``t``);
- ``fit``: no face to follow, so the whole picture scaled to fit, over a blurred copy scaled to
  fill; never an arbitrary centre crop that could cut the subject out, never empty bars.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import ffmpeg

from clipforge.render.expressions import piecewise_linear, simplify
from clipforge.render.geometry import Axis, CropBox, crop_box, even, fit_size, pan_axis
from clipforge.render.tracking import CameraPath
from clipforge.shared.models import Aspect

FramingMode = Literal["full", "face", "fit"]

# Keyframes that the straight-line path may leave out: under a pixel and a half of difference.
_PATH_TOLERANCE_PIXELS = 1.5
# The blurred background is made at a quarter of the size: blurring is cheap there and the
# upscale only makes it softer.
_BACKGROUND_SHRINK = 4


@dataclass(frozen=True)
class FramingPlan:
    mode: FramingMode
    width: int  # the clip's frame
    height: int
    box: CropBox  # the window (face) or the whole even-sided frame (full)
    axis: Axis | None = None
    path: str | None = None  # ffmpeg expression of t: the window's offset along ``axis``
    fit: tuple[int, int] | None = None  # the picture's size inside the frame (fit)


def needs_faces(source_width: int, source_height: int, aspect: Aspect) -> bool:
    """Whether the asked shape leaves a choice of what to show, so faces are worth finding."""
    if aspect == "original":
        return False
    return pan_axis(source_width, source_height, crop_box(source_width, source_height, aspect)) is not None


def plan_framing(source_width: int, source_height: int, aspect: Aspect, camera: CameraPath | None) -> FramingPlan:
    box = crop_box(source_width, source_height, aspect)
    axis = pan_axis(source_width, source_height, box) if aspect != "original" else None
    if axis is None:
        full = CropBox(0, 0, even(source_width), even(source_height)) if aspect == "original" else box
        return FramingPlan(mode="full", width=full.width, height=full.height, box=full)
    if camera is not None and camera.keyframes:
        keyframes = simplify(camera.keyframes, _PATH_TOLERANCE_PIXELS)
        return FramingPlan(
            mode="face",
            width=box.width,
            height=box.height,
            box=box,
            axis=camera.axis,
            path=piecewise_linear(keyframes),
        )
    return FramingPlan(
        mode="fit",
        width=box.width,
        height=box.height,
        box=box,
        fit=fit_size(source_width, source_height, box.width, box.height),
    )


def apply_framing(picture: ffmpeg.nodes.FilterableStream, plan: FramingPlan) -> ffmpeg.nodes.FilterableStream:
    """The source picture through the plan's filters, with square pixels."""
    if plan.mode == "fit":
        framed = _blurred_fit(picture, plan)
    else:
        x: str | int = plan.box.x
        y: str | int = plan.box.y
        if plan.mode == "face" and plan.path is not None:
            if plan.axis == "x":
                x = plan.path
            else:
                y = plan.path
        framed = picture.filter("crop", w=plan.box.width, h=plan.box.height, x=x, y=y)
    return framed.filter("setsar", 1)


def _blurred_fit(picture: ffmpeg.nodes.FilterableStream, plan: FramingPlan) -> ffmpeg.nodes.FilterableStream:
    assert plan.fit is not None
    fit_w, fit_h = plan.fit
    small_w, small_h = even(plan.width / _BACKGROUND_SHRINK), even(plan.height / _BACKGROUND_SHRINK)
    split = picture.split()
    background = (
        split[0]
        .filter("scale", small_w, small_h, force_original_aspect_ratio="increase", flags="area")
        .filter("crop", small_w, small_h)
        .filter("gblur", sigma=max(small_w, small_h) / 16)
        .filter("eq", brightness=-0.08)
        .filter("scale", plan.width, plan.height, flags="bilinear")
        .filter("setsar", 1)
    )
    foreground = split[1].filter("scale", fit_w, fit_h).filter("setsar", 1)
    return background.overlay(foreground, x=(plan.width - fit_w) // 2, y=(plan.height - fit_h) // 2)
