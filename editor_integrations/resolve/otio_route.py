"""`muvi resolve score-otio`: the route for every edition, through a timeline exported as `.otio`.

Resolve exports (File > Export > Timeline..., OpenTimelineIO) with a 01:00:00:00 `global_start_time` and
its own metadata under `"Resolve_OTIO"` (timeline: `{"Resolve OTIO Meta Version": "1.0"}`; clips:
`{"Link Group ID": n}`; markers: upper-case colours such as `"GREEN"`). What to score, in order: the
ranges typed on the command line; else an in/out in the metadata (`muvi_plugin.timeline.ranges.in_out`,
which also looks inside `metadata["Resolve_OTIO"]`); else the ranges marked by markers named "muvi";
else the whole timeline. The scoring itself is `muvi_plugin.timeline` (`score_timeline`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

MARKER_NAME = "muvi"


def default_marker(timeline_path: Path) -> str | None:
    """ "muvi" when the timeline has no in/out but has markers named "muvi"; else None."""
    from muvi_plugin.errors import MuviError
    from muvi_plugin.timeline.ranges import in_out, marker_ranges
    from muvi_plugin.timeline.source import read_timeline

    timeline = read_timeline(timeline_path)
    if in_out(timeline) is not None:
        return None
    try:
        marker_ranges(timeline, name=MARKER_NAME)
    except MuviError:
        return None  # no "muvi" marker: the whole timeline
    return MARKER_NAME


def choose_ranges(args: argparse.Namespace) -> None:
    """Fill `args.markers` with "muvi" when nothing was chosen and the timeline is marked that way."""
    if not (args.ranges or args.markers or args.marker_color or args.whole):
        args.markers = default_marker(args.timeline)


__all__ = ["MARKER_NAME", "choose_ranges", "default_marker"]
