"""Output frame shapes: which part of the source frame a clip shows, and at what size."""

from __future__ import annotations

from dataclasses import dataclass

from clipforge.shared.models import Aspect

ASPECT_RATIOS: dict[Aspect, tuple[int, int] | None] = {
    "original": None,
    "9:16": (9, 16),
    "1:1": (1, 1),
    "16:9": (16, 9),
}


@dataclass(frozen=True)
class CropBox:
    """A region of the source frame in pixels; the output is this region at its own size."""

    x: int
    y: int
    width: int
    height: int


def _even(value: float) -> int:
    return max(int(value) // 2 * 2, 2)


def output_size(width: int, height: int, aspect: Aspect) -> tuple[int, int]:
    """The largest frame of ``aspect`` that fits in the source, with even sides (H.264 4:2:0).

    Never larger than the source: a different shape is made by cropping, not by scaling up.
    """
    if width < 2 or height < 2:
        raise ValueError(f"frame too small to render: {width}x{height}")
    ratio = ASPECT_RATIOS[aspect]
    if ratio is None:
        return _even(width), _even(height)
    rw, rh = ratio
    if width * rh > height * rw:  # source is wider than the target shape: keep the full height
        return _even(min(height * rw / rh, width)), _even(height)
    return _even(width), _even(min(width * rh / rw, height))


def crop_box(width: int, height: int, aspect: Aspect) -> CropBox:
    """The centred region of the source shown for ``aspect``."""
    out_w, out_h = output_size(width, height, aspect)
    return CropBox(x=(width - out_w) // 2, y=(height - out_h) // 2, width=out_w, height=out_h)
