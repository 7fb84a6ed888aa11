"""Frame arithmetic between Resolve's two frame bases, the timeline's rate, and the In/Out marks.

`GetMarkInOut()` gives `{"video": {"in": i, "out": o}, "audio": {...}}` relative to the timeline start,
with keys absent when a mark is unset; the Out mark is the last marked frame (inclusive), as render
`MarkOut` is. Absolute frames (render marks, `recordFrame`) are `GetStartFrame()` + relative frames.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from editor_integrations.resolve.host import ResolveScriptError, Timeline

# Resolve shows NTSC rates rounded; the media runs at n * 1000/1001.
_NTSC = {"23.976": Fraction(24000, 1001), "29.97": Fraction(30000, 1001), "47.952": Fraction(48000, 1001)}
_NTSC |= {"59.94": Fraction(60000, 1001), "119.88": Fraction(120000, 1001)}


def timeline_rate(timeline: Timeline) -> Fraction:
    """The timeline's frame rate from `GetSetting("timelineFrameRate")` ("24", "29.97", "29.97 DF", ...)."""
    text = str(timeline.GetSetting("timelineFrameRate") or "")
    match = re.match(r"\s*(\d+(?:\.\d+)?)", text)
    if match is None:
        raise ResolveScriptError(f"cannot read the timeline's frame rate from {text!r}")
    number = match.group(1)
    return _NTSC.get(number, Fraction(number).limit_denominator(1001))


@dataclass(frozen=True)
class FrameRange:
    """A range of the timeline.

    Attributes:
        start_frame: The timeline's first frame, absolute (`GetStartFrame()`, 86400 at 01:00:00:00 @ 24).
        first: First frame of the range, relative to the timeline start.
        frames: Length in frames (at least 1).
        rate: The timeline's frame rate.
        marked: True for the user's In/Out, False for the whole timeline.
    """

    start_frame: int
    first: int
    frames: int
    rate: Fraction
    marked: bool

    @property
    def absolute_in(self) -> int:
        return self.start_frame + self.first

    @property
    def absolute_out(self) -> int:
        """The last frame, absolute and inclusive (render `MarkOut`)."""
        return self.absolute_in + self.frames - 1

    @property
    def seconds(self) -> float:
        return float(self.frames / self.rate)


def saved_marks(timeline: Timeline) -> dict[str, dict[str, int]]:
    """A copy of the In/Out marks (empty when the Resolve version has no `GetMarkInOut`, before 19.1)."""
    getter = getattr(timeline, "GetMarkInOut", None)
    marks = getter() if callable(getter) else {}
    return {kind: dict(value) for kind, value in (marks or {}).items() if isinstance(value, dict)}


def restore_marks(timeline: Timeline, marks: dict[str, dict[str, int]]) -> None:
    """Put the marks back as `saved_marks` found them (the Deliver page can clobber them)."""
    if not hasattr(timeline, "SetMarkInOut"):
        return
    timeline.ClearMarkInOut("all")
    for kind in ("video", "audio"):
        mark = marks.get(kind, {})
        if "in" in mark and "out" in mark:
            timeline.SetMarkInOut(mark["in"], mark["out"], kind)


def score_range(timeline: Timeline, marks: dict[str, dict[str, int]]) -> FrameRange:
    """The video In/Out (else the audio one), else the whole timeline (`GetEndFrame()` taken as exclusive).

    A lone In runs to the timeline's end, a lone Out from its start.

    Raises:
        ResolveScriptError: An Out before the In, or an empty timeline.
    """
    start, end = timeline.GetStartFrame(), timeline.GetEndFrame()
    rate = timeline_rate(timeline)
    for kind in ("video", "audio"):
        mark = marks.get(kind, {})
        if "in" in mark or "out" in mark:
            first = mark.get("in", 0)
            last = mark.get("out", end - start - 1)
            if last < first:
                raise ResolveScriptError(f"the {kind} Out mark ({last}) is before the In mark ({first})")
            return FrameRange(start, first, last - first + 1, rate, marked=True)
    if end <= start:
        raise ResolveScriptError(f"timeline {timeline.GetName()!r} is empty: put some video on it first")
    return FrameRange(start, 0, end - start, rate, marked=False)


__all__ = ["FrameRange", "restore_marks", "saved_marks", "score_range", "timeline_rate"]
