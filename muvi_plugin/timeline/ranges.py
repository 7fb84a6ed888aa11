"""What to score on a timeline: the whole of it, typed ranges, marked ranges, or its in/out.

All ranges are in the timeline's track time (0 at the start of its tracks) and whole frames of its rate.

- A typed range is `START-END` (end exclusive), both in one unit: timecode `HH:MM:SS:FF` (`;` for drop
  frame), absolute like the editor shows it (the timeline's `global_start_time` is subtracted); frames
  `240-480` or `240f-480f` and seconds `10s-20.5s`, counted from the timeline's start.
- Markers are matched by name and/or colour wherever they sit (the timeline's stack, a track, a clip, a
  nested stack). A marker with a duration is a range; a marker without one opens a range that runs to the
  next matching marker at a later frame, or to the timeline's end (markers stacked on one frame open one
  range; the same range marked twice is scored once).
- In/out: the first pair of keys `in`/`out`, `mark_in`/`mark_out` or `in_point`/`out_point` in the timeline's
  metadata or one level below it (`metadata["Resolve_OTIO"]["mark_in"]`). Timecode strings and
  RationalTimes are absolute, as typed ranges; plain numbers are frames from the timeline's start.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import opentimelineio as otio

from muvi_plugin.errors import MuviError
from muvi_plugin.timeline.source import timeline_rate

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
IN_OUT_KEYS = (("in", "out"), ("mark_in", "mark_out"), ("in_point", "out_point"))


@dataclass(frozen=True)
class ScoreRange:
    """A range to score.

    Attributes:
        name: What to call it (file names, clip names, reports).
        start: First frame, in track time at the timeline's rate.
        frames: Length in frames (at least 1).
        rate: The timeline's frame rate.
    """

    name: str
    start: int
    frames: int
    rate: float

    def __post_init__(self) -> None:
        if self.frames < 1:
            raise MuviError(f"range {self.name!r} is empty")

    @property
    def seconds(self) -> tuple[float, float]:
        """(start, end) in seconds of track time."""
        return self.start / self.rate, (self.start + self.frames) / self.rate

    @property
    def time_range(self) -> otio.opentime.TimeRange:
        return TR(RT(self.start, self.rate), RT(self.frames, self.rate))


def _frames(timeline: otio.schema.Timeline) -> int:
    return round(timeline.tracks.duration().rescaled_to(timeline_rate(timeline)).value)


def _from_range(name: str, time_range: otio.opentime.TimeRange, rate: float) -> ScoreRange:
    start = round(time_range.start_time.rescaled_to(rate).value)
    end = round(time_range.end_time_exclusive().rescaled_to(rate).value)
    return ScoreRange(name, start, end - start, rate)


def _inside(timeline: otio.schema.Timeline, score: ScoreRange, what: str) -> ScoreRange:
    total = _frames(timeline)
    if score.start < 0 or score.start + score.frames > total:
        raise MuviError(
            f"{what} ({score.start}-{score.start + score.frames} frames) is outside the timeline "
            f"(0-{total} frames at {score.rate:g} fps)"
        )
    return score


def whole(timeline: otio.schema.Timeline) -> ScoreRange:
    """The timeline from start to end."""
    return ScoreRange("whole", 0, _frames(timeline), timeline_rate(timeline))


def _point(text: str, timeline: otio.schema.Timeline, unit: str) -> int:
    """A frame of track time from one end of a range; MuviError for a time that is none (`00:00:00:30`
    at 25 fps, `;` at a rate without drop frame, seconds too large to count)."""
    rate = timeline_rate(timeline)
    try:
        if unit == "timecode":
            absolute = otio.opentime.from_timecode(text, rate)
            origin = timeline.global_start_time or RT(0, rate)
            return round((absolute - origin).rescaled_to(rate).value)
        if unit == "seconds":
            return round(float(text.removesuffix("s")) * rate)
    except (ValueError, OverflowError) as error:  # OTIO's timecode checks; float("9" * 400) * rate is inf
        raise MuviError(f"{text!r} is not a time at {rate:g} fps ({error})") from None
    return int(text.removesuffix("f"))


_UNITS = (
    ("timecode", re.compile(r"\d+:\d+:\d+[:;]\d+")),
    ("seconds", re.compile(r"\d+(\.\d+)?s")),
    ("frames", re.compile(r"\d+f?")),
)


def parse_range(text: str, timeline: otio.schema.Timeline) -> ScoreRange:
    """`START-END` in timecode, frames or seconds (module docstring) -> a range checked against the timeline.

    Raises:
        MuviError: Not in one of the forms, mixed units, empty, or outside the timeline.
    """
    parts = text.strip().split("-")
    for unit, pattern in _UNITS:
        if len(parts) == 2 and all(pattern.fullmatch(p.strip()) for p in parts):
            try:
                start, end = (_point(p.strip(), timeline, unit) for p in parts)
            except MuviError as error:
                raise MuviError(f"range {text!r}: {error}") from None
            if end <= start:
                raise MuviError(f"range {text!r} is empty")
            return _inside(timeline, ScoreRange(text, start, end - start, timeline_rate(timeline)), text)
    raise MuviError(
        f"range {text!r}: expected START-END as timecode (01:00:10:00-01:00:20:00), frames (240-480) "
        "or seconds (10s-20.5s)"
    )


def _all_markers(timeline: otio.schema.Timeline):
    """(marker, its range in track time) for every marker in the timeline."""
    stack = timeline.tracks
    for marker in stack.markers:
        yield marker, marker.marked_range
    for item in stack.find_children():
        for marker in getattr(item, "markers", ()):
            yield marker, item.transformed_time_range(marker.marked_range, stack)


def marker_ranges(
    timeline: otio.schema.Timeline, *, name: str | None = None, color: str | None = None
) -> list[ScoreRange]:
    """The ranges marked by markers of `name` and/or `color` (case-insensitive), in time order.

    Raises:
        MuviError: Neither given, or no marker matches.
    """
    if name is None and color is None:
        raise MuviError("choose markers by name, colour or both")
    rate = timeline_rate(timeline)
    found = sorted(
        (
            (r.start_time.rescaled_to(rate).value, r, m)
            for m, r in _all_markers(timeline)
            if (name is None or m.name.lower() == name.lower())
            and (color is None or (m.color or "").lower() == color.lower())
        ),
        key=lambda x: x[0],
    )
    if not found:
        raise MuviError(f"no marker named {name!r}" if color is None else f"no {color} marker {name or ''}")
    total = RT(_frames(timeline), rate)
    out: list[ScoreRange] = []
    for index, (start, marked, marker) in enumerate(found):
        label = f"{marker.name or 'marker'} {index + 1}"
        if marked.duration.value <= 0:
            # A point marker opens a range that the next matching marker at a later frame (or the end)
            # closes; markers stacked on one frame open one range.
            if round(start) >= total.value:
                raise MuviError(
                    f"marker {label!r} at frame {round(start)} is at or past the end of the timeline "
                    f"({total.value:g} frames at {rate:g} fps)"
                )
            end = next((r.start_time for s, r, _ in found[index + 1 :] if round(s) > round(start)), total)
            marked = TR.range_from_start_end_time(marked.start_time, end)
        score = _inside(timeline, _from_range(label, marked, rate), f"marker {label!r}")
        if all((score.start, score.frames) != (o.start, o.frames) for o in out):
            out.append(score)
    return out


def _as_frame(value: object, timeline: otio.schema.Timeline) -> int | None:
    """A frame of track time from an in/out value, None for a value that is not a time (NaN, text).

    Raises:
        MuviError: A timecode that is none at the timeline's rate (`00:00:00:30` at 25 fps).
    """
    rate = timeline_rate(timeline)
    origin = timeline.global_start_time or RT(0, rate)
    if isinstance(value, RT):
        if not (math.isfinite(value.value) and math.isfinite(value.rate) and value.rate > 0):
            return None
        return _finite_frame((value - origin).rescaled_to(rate).value)
    if isinstance(value, Mapping) and {"value", "rate"} <= value.keys():
        try:
            time = RT(float(value["value"]), float(value["rate"]))
        except (TypeError, ValueError):
            return None
        return _as_frame(time, timeline)
    if isinstance(value, str) and _UNITS[0][1].fullmatch(value.strip()):
        return _point(value.strip(), timeline, "timecode")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _finite_frame(value)
    return None


def _finite_frame(value: float) -> int | None:
    return round(value) if math.isfinite(value) else None


def in_out(timeline: otio.schema.Timeline) -> ScoreRange | None:
    """The in/out range the timeline's metadata carries (module docstring), or None."""
    places = [timeline.metadata, *(v for v in timeline.metadata.values() if isinstance(v, Mapping))]
    for place in places:
        for lo, hi in IN_OUT_KEYS:
            if lo in place and hi in place:
                try:
                    start, end = _as_frame(place[lo], timeline), _as_frame(place[hi], timeline)
                except MuviError as error:
                    raise MuviError(f"the timeline's {lo}/{hi}: {error}") from None
                if start is not None and end is not None and end > start:
                    score = ScoreRange("in-out", start, end - start, timeline_rate(timeline))
                    return _inside(timeline, score, "the timeline's in/out")
    return None


def select_ranges(
    timeline: otio.schema.Timeline,
    *,
    ranges: Sequence[str] = (),
    marker_name: str | None = None,
    marker_color: str | None = None,
    whole_timeline: bool = False,
) -> list[ScoreRange]:
    """The ranges asked for; with nothing asked, the timeline's in/out if it has one, else the whole.

    Raises:
        MuviError: A bad typed range, no matching marker, or a range outside the timeline.
    """
    chosen = [parse_range(text, timeline) for text in ranges]
    if marker_name is not None or marker_color is not None:
        chosen += marker_ranges(timeline, name=marker_name, color=marker_color)
    if whole_timeline:
        chosen.append(whole(timeline))
    if not chosen:
        chosen = [in_out(timeline) or whole(timeline)]
    return chosen


__all__ = ["ScoreRange", "in_out", "marker_ranges", "parse_range", "select_ranges", "whole"]
