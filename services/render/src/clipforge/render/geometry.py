"""Output frame shapes: which part of the source frame a clip shows, and at what size."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from clipforge.shared.models import Aspect

ASPECT_RATIOS: dict[Aspect, tuple[int, int] | None] = {
    "original": None,
    "9:16": (9, 16),
    "1:1": (1, 1),
    "16:9": (16, 9),
}

Axis = Literal["x", "y"]


@dataclass(frozen=True)
class CropBox:
    """A region of the source frame in pixels; the output is this region at its own size."""

    x: int
    y: int
    width: int
    height: int


def even(value: float) -> int:
    return max(int(value) // 2 * 2, 2)


def output_size(width: int, height: int, aspect: Aspect) -> tuple[int, int]:
    """The largest frame of ``aspect`` that fits in the source, with even sides (H.264 4:2:0).

    Never larger than the source: a different shape is made by cropping, not by scaling up.
    """
    if width < 2 or height < 2:
        raise ValueError(f"frame too small to render: {width}x{height}")
    ratio = ASPECT_RATIOS[aspect]
    if ratio is None:
        return even(width), even(height)
    rw, rh = ratio
    if width * rh > height * rw:  # source is wider than the target shape: keep the full height
        return even(min(height * rw / rh, width)), even(height)
    return even(width), even(min(width * rh / rw, height))


def crop_box(width: int, height: int, aspect: Aspect) -> CropBox:
    """The centred region of the source shown for ``aspect``."""
    out_w, out_h = output_size(width, height, aspect)
    return CropBox(x=(width - out_w) // 2, y=(height - out_h) // 2, width=out_w, height=out_h)


def pan_axis(width: int, height: int, box: CropBox) -> Axis | None:
    """The direction the crop window can move in, or None when it shows (almost) everything."""
    # A few pixels of slack are the rounding to even sides and to the ratio, not room to
    # follow anyone.
    if width - box.width > max(4, width * 0.02):
        return "x"
    if height - box.height > max(4, height * 0.02):
        return "y"
    return None


def fit_size(width: int, height: int, out_w: int, out_h: int) -> tuple[int, int]:
    """The whole source scaled to fit inside ``out_w`` x ``out_h``, keeping its shape; even sides."""
    scale = min(out_w / width, out_h / height)
    return min(even(round(width * scale)), out_w), min(even(round(height * scale)), out_h)
