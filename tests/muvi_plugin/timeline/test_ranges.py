"""Choosing what to score: whole, typed ranges, markers, the timeline's in/out."""

from __future__ import annotations

import opentimelineio as otio
import pytest

from muvi_plugin.errors import MuviError
from muvi_plugin.timeline.ranges import in_out, marker_ranges, parse_range, select_ranges, whole
from tests.muvi_plugin.timeline.conftest import RT, TR, clip, gap


def timeline(rate: float = 25.0) -> otio.schema.Timeline:
    """250 frames (10 s at 25 fps) starting at 01:00:00:00, with markers on a clip, a track and the stack."""
    first = clip("a", 10, 100, rate)
    first.markers.append(otio.schema.Marker(name="cue", marked_range=TR(RT(30, rate), RT(20, rate))))
    v1 = otio.schema.Track(children=[first, gap(50, rate), clip("b", 0, 100, rate)])
    v1.markers.append(
        otio.schema.Marker(name="hit", marked_range=TR(RT(120, rate), RT(0, rate)), color="RED")
    )
    v1.markers.append(
        otio.schema.Marker(name="hit", marked_range=TR(RT(200, rate), RT(0, rate)), color="RED")
    )
    tl = otio.schema.Timeline(tracks=[v1], global_start_time=RT(3600 * rate, rate))
    tl.tracks.markers.append(
        otio.schema.Marker(name="CUE", marked_range=TR(RT(160, rate), RT(40, rate)), color="GREEN")
    )
    return tl


def spans(ranges):
    return [(r.start, r.frames) for r in ranges]


def test_whole_timeline():
    assert spans([whole(timeline())]) == [(0, 250)]


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("01:00:02:00-01:00:04:10", (50, 60)),
        ("50-110", (50, 60)),
        ("50f-110f", (50, 60)),
        ("2s-4.4s", (50, 60)),
    ],
)
def test_typed_ranges_in_timecode_frames_and_seconds(text, span):
    assert spans([parse_range(text, timeline())]) == [span]


@pytest.mark.parametrize(
    ("text", "message"),
    [("00:59:59:00-01:00:01:00", "outside"), ("100-300", "outside"), ("5s-2s", "empty"), ("1-2s", "START")],
)
def test_bad_ranges_are_clear_errors(text, message):
    with pytest.raises(MuviError, match=message):
        parse_range(text, timeline())


def test_marker_ranges_by_name_anywhere_with_durations_and_points():
    tl = timeline()
    # The clip's marker is in its media time: source frame 30 of a clip starting at source 10 = frame 20.
    assert spans(marker_ranges(tl, name="cue")) == [(20, 20), (160, 40)]
    # Point markers: each runs to the next one, the last to the end.
    assert spans(marker_ranges(tl, name="hit")) == [(120, 80), (200, 50)]
    assert spans(marker_ranges(tl, color="green")) == [(160, 40)]
    with pytest.raises(MuviError, match="no marker"):
        marker_ranges(tl, name="nothing")


def test_in_out_from_metadata_and_the_default_choice():
    tl = timeline()
    assert in_out(tl) is None
    assert spans(select_ranges(tl)) == [(0, 250)]
    tl.metadata["Resolve_OTIO"] = {"mark_in": "01:00:01:00", "mark_out": "01:00:03:00"}
    assert spans(select_ranges(tl)) == [(25, 50)]
    tl.metadata["in"], tl.metadata["out"] = 10, 20
    assert spans([in_out(tl)]) == [(10, 10)]
    assert spans(select_ranges(tl, ranges=["0-5"], marker_name="cue", whole_timeline=True)) == [
        (0, 5),
        (20, 20),
        (160, 40),
        (0, 250),
    ]


def test_ntsc_rate_ranges_stay_on_frames():
    rate = 24000 / 1001
    tl = otio.schema.Timeline(tracks=[otio.schema.Track(children=[clip("a", 0, 48, rate)])])
    r = parse_range("1s-2s", tl)
    assert (r.start, r.frames, r.rate) == (24, 24, rate)
    assert r.seconds == pytest.approx((24 / rate, 48 / rate))
