"""Caption looks (font, size, colours, how the spoken word stands out) and where captions sit.

Sizes are shares of the frame so one preset suits every output shape; positions keep to the
safe area of the shape, clear of the buttons and captions that apps lay over short videos.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pysubs2

from clipforge.shared.models import CaptionStyle

Animation = Literal["pop", "colour", "karaoke"]

WHITE = pysubs2.Color(255, 255, 255)
YELLOW = pysubs2.Color(255, 214, 0)
SKY = pysubs2.Color(120, 210, 255)
GREEN = pysubs2.Color(80, 230, 120)
BLACK = pysubs2.Color(0, 0, 0)
SHADOW = pysubs2.Color(0, 0, 0, 96)  # alpha 0 is opaque in ASS
BOX = pysubs2.Color(0, 0, 0, 110)


@dataclass(frozen=True)
class CaptionPreset:
    name: CaptionStyle
    bold: bool
    uppercase: bool
    # Font size as shares of the frame height and width; the smaller one wins.
    size_of_height: float
    size_of_width: float
    text: pysubs2.Color
    highlight: pysubs2.Color  # the word being spoken (karaoke: the part already sung)
    outline_colour: pysubs2.Color
    back_colour: pysubs2.Color
    outline: float  # share of the font size
    shadow: float
    boxed: bool  # an opaque box behind the line instead of an outline
    animation: Animation
    max_words: int


PRESETS: dict[CaptionStyle, CaptionPreset] = {
    # Big, loud, upper case; the spoken word turns yellow and pops.
    "bold": CaptionPreset(
        name="bold",
        bold=True,
        uppercase=True,
        size_of_height=0.06,
        size_of_width=0.075,
        text=WHITE,
        highlight=YELLOW,
        outline_colour=BLACK,
        back_colour=SHADOW,
        outline=0.1,
        shadow=0.04,
        boxed=False,
        animation="pop",
        max_words=3,
    ),
    # Quiet sentence case on a translucent box; the spoken word is tinted.
    "clean": CaptionPreset(
        name="clean",
        bold=False,
        uppercase=False,
        size_of_height=0.048,
        size_of_width=0.06,
        text=WHITE,
        highlight=SKY,
        outline_colour=BOX,
        back_colour=BOX,
        outline=0.25,
        shadow=0.0,
        boxed=True,
        animation="colour",
        max_words=5,
    ),
    # Karaoke: the whole line is shown and fills with colour as each word is said.
    "karaoke": CaptionPreset(
        name="karaoke",
        bold=True,
        uppercase=False,
        size_of_height=0.055,
        size_of_width=0.07,
        text=WHITE,
        highlight=GREEN,
        outline_colour=BLACK,
        back_colour=SHADOW,
        outline=0.09,
        shadow=0.04,
        boxed=False,
        animation="karaoke",
        max_words=5,
    ),
}


@dataclass(frozen=True)
class SafeArea:
    """Margins as shares of the frame, outside which captions may be hidden by app overlays."""

    left: float
    right: float
    bottom: float


def safe_area(width: int, height: int) -> SafeArea:
    if height > width * 1.2:
        # Portrait (9:16): the apps' buttons run down the right side, their captions and
        # progress bar cover the bottom fifth.
        return SafeArea(left=0.08, right=0.14, bottom=0.22)
    if width > height * 1.2:
        return SafeArea(left=0.05, right=0.05, bottom=0.08)
    return SafeArea(left=0.06, right=0.06, bottom=0.12)


def font_size(preset: CaptionPreset, width: int, height: int) -> int:
    return max(round(min(height * preset.size_of_height, width * preset.size_of_width)), 8)


def chars_per_line(preset: CaptionPreset, width: int, height: int) -> int:
    """About how many characters fit on one line inside the safe area, so lines do not wrap."""
    area = safe_area(width, height)
    # Average advance of DejaVu Sans glyphs as a share of the font size.
    advance = 0.72 if preset.uppercase else 0.62 if preset.bold else 0.56
    usable = width * (1 - area.left - area.right)
    return max(int(usable / (font_size(preset, width, height) * advance)), 6)
