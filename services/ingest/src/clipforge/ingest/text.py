"""Formatting numbers for messages people read."""

from __future__ import annotations


def format_megabytes(num_bytes: float) -> str:
    return f"{num_bytes / 1_000_000:.1f}"


def format_duration(seconds: float) -> str:
    """``3725`` → ``"1 h 2 min 5 s"``; ``65`` → ``"1 min 5 s"``; ``2.4`` → ``"2.4 s"``."""
    if seconds < 60:
        return f"{seconds:.1f} s".replace(".0 s", " s")
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(f"{hours} h")
    if minutes or hours:
        parts.append(f"{minutes} min")
    if secs:
        parts.append(f"{secs} s")
    return " ".join(parts)


def format_size(num_bytes: float) -> str:
    """``4_294_967_296`` → ``"4.3 GB"``; ``1_399_060`` → ``"1.4 MB"``; ``1000`` → ``"1 kB"``."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if num_bytes >= scale:
            return f"{num_bytes / scale:.1f} {unit}".replace(".0 ", " ")
    return f"{int(num_bytes)} bytes"
