"""Times as the panel shows and reads them: `HH:MM:SS.mmm`, or plain seconds. No Qt here."""

from __future__ import annotations

import math


def format_time(seconds: float) -> str:
    """`seconds` as `HH:MM:SS.mmm` (milliseconds rounded; negative values are clamped to zero)."""
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def parse_time(text: str) -> float:
    """Seconds from `12.5`, `1:02.5` or `00:01:02.500` (the fields a user types in a range box).

    Raises:
        ValueError: Not a time, a negative or non-finite one, or minutes/seconds fields of 60 or more.
    """
    parts = text.strip().split(":")
    if not 1 <= len(parts) <= 3 or any(not p.strip() for p in parts):
        raise ValueError(f"not a time: {text!r} (use seconds or HH:MM:SS.mmm)")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"not a time: {text!r} (use seconds or HH:MM:SS.mmm)") from None
    if any(not math.isfinite(v) or v < 0 for v in values):
        raise ValueError(f"not a time: {text!r} (negative or not finite)")
    # Only the leading field may exceed its unit ("90" seconds is fine, "1:90" is a typo).
    if any(v >= 60 for v in values[1:]):
        raise ValueError(f"not a time: {text!r} (minutes and seconds must be below 60)")
    seconds = 0.0
    for value in values:
        seconds = seconds * 60 + value
    return seconds
