"""Properties of range choice and timeline reading, checked on generated timelines (`hypothesis`).

Typed ranges read back the frames they were written from (timecode with and without drop frame, frames,
seconds); any typed text, marker or in/out gives a range inside the timeline or one `MuviError`, never
another exception; a timeline written and read back shows, frame by frame, the clip and source frame its
layout says.
"""

from __future__ import annotations

import math
import subprocess
import sys
import tempfile
from pathlib import Path

import opentimelineio as otio
from hypothesis import example, given, settings
from hypothesis import strategies as st

from muvi_plugin.errors import MuviError
from muvi_plugin.timeline.picture import TimelinePicture
from muvi_plugin.timeline.ranges import ScoreRange, in_out, marker_ranges, parse_range
from muvi_plugin.timeline.source import read_timeline

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
FEW = settings(max_examples=50, deadline=None)
# Film, PAL, NTSC (29.97 and 59.94 are written as drop-frame timecode by OTIO), and high frame rates.
RATES = st.sampled_from([24.0, 25.0, 30.0, 50.0, 60.0, 24000 / 1001, 30000 / 1001, 60000 / 1001])


def one_clip_timeline(rate: float, frames: int, start_hours: int) -> otio.schema.Timeline:
    clip = otio.schema.Clip(name="c", source_range=TR(RT(0, rate), RT(frames, rate)))
    origin = RT(round(start_hours * 3600 * rate), rate)  # a whole frame, as editors set it
    return otio.schema.Timeline(tracks=[otio.schema.Track(children=[clip])], global_start_time=origin)


def inside(score: ScoreRange, timeline: otio.schema.Timeline) -> bool:
    total = round(timeline.tracks.duration().rescaled_to(score.rate).value)
    return score.start >= 0 and score.frames >= 1 and score.start + score.frames <= total


@st.composite
def timeline_and_span(draw):
    rate, frames = draw(RATES), draw(st.integers(2, 20_000))
    start = draw(st.integers(0, frames - 1))
    end = draw(st.integers(start + 1, frames))
    return one_clip_timeline(rate, frames, draw(st.integers(0, 23))), start, end


@FEW
@given(case=timeline_and_span())
def test_typed_ranges_read_back_the_frames_they_name(case):
    timeline, start, end = case
    rate = timeline.global_start_time.rate
    origin = timeline.global_start_time

    def timecode(frame: int) -> str:
        return otio.opentime.to_timecode(origin + RT(frame, rate), rate)

    for text in (f"{timecode(start)}-{timecode(end)}", f"{start}-{end}", f"{start}f-{end}f",
                 f"{start / rate:.6f}s-{end / rate:.6f}s"):  # fmt: skip
        score = parse_range(text, timeline)
        assert (score.start, score.frames, score.rate) == (start, end - start, rate), text


@FEW
@given(
    rate=RATES,
    text=st.one_of(
        st.text(alphabet="0123456789:;-fs. ", max_size=30),
        st.from_regex(
            r"\d{1,3}:\d{1,3}:\d{1,3}[:;]\d{1,3}-\d{1,3}:\d{1,3}:\d{1,3}[:;]\d{1,3}", fullmatch=True
        ),
        st.from_regex(r"\d{1,400}(\.\d{1,3})?s-\d{1,400}s", fullmatch=True),
    ),
)
# Found by this property (each raised ValueError or OverflowError, a traceback on the command line):
@example(rate=25.0, text="00:00:00:30-00:00:01:00")  # frames past the rate
@example(rate=24.0, text="00:00:00;00-00:00:01;00")  # drop frame at a rate without it
@example(rate=24.0, text="9" * 400 + "s-1s")  # seconds too large to count
def test_any_typed_range_is_inside_the_timeline_or_one_clear_error(rate, text):
    timeline = one_clip_timeline(rate, 1000, 1)
    try:
        score = parse_range(text, timeline)
    except MuviError as error:
        assert text in str(error) and "\n" not in str(error)  # the range named, on one line
    else:
        assert inside(score, timeline)


@st.composite
def marked_timeline(draw):
    """A track of clips and gaps with markers on the stack, the track and the clips: (timeline, markers)
    where markers are (track-time start, duration) of every marker named "m"."""
    rate = draw(RATES)
    track, expected, at = otio.schema.Track(), [], 0
    for index in range(draw(st.integers(1, 5))):
        length = draw(st.integers(1, 200))
        if draw(st.booleans()):
            track.append(otio.schema.Gap(source_range=TR(RT(0, rate), RT(length, rate))))
        else:
            source = draw(st.integers(0, 1000))
            clip = otio.schema.Clip(name=f"c{index}", source_range=TR(RT(source, rate), RT(length, rate)))
            for _ in range(draw(st.integers(0, 2))):  # clip markers are in the clip's source time
                offset, duration = draw(st.integers(0, length - 1)), draw(st.integers(0, length))
                marked = TR(RT(source + offset, rate), RT(duration, rate))
                clip.markers.append(otio.schema.Marker(name="m", marked_range=marked))
                expected.append((at + offset, duration))
            track.append(clip)
        at += length
    timeline = otio.schema.Timeline(tracks=[track])
    for holder in (track, timeline.tracks):
        for _ in range(draw(st.integers(0, 2))):
            start, duration = draw(st.integers(0, at + 10)), draw(st.integers(0, 50))
            holder.markers.append(
                otio.schema.Marker(name="M", marked_range=TR(RT(start, rate), RT(duration, rate)))
            )
            expected.append((start, duration))
    return timeline, sorted(expected), at


def point_markers(*frames: int, total: int = 100, rate: float = 25.0):
    track = otio.schema.Track(children=[otio.schema.Gap(source_range=TR(RT(0, rate), RT(total, rate)))])
    track.markers.extend(
        otio.schema.Marker(name="m", marked_range=TR(RT(f, rate), RT(0, rate))) for f in frames
    )
    return otio.schema.Timeline(tracks=[track]), [(f, 0) for f in sorted(frames)], total


@FEW
@given(case=marked_timeline())
# Found by this property: two point markers on one frame gave "range 'm 1' is empty"; a point marker at
# the very end of the timeline named no cause.
@example(case=point_markers(0, 0))
@example(case=point_markers(10, 10, 40))
@example(case=point_markers(10, 100))
def test_marker_ranges_start_at_their_markers_inside_the_timeline_or_one_clear_error(case):
    timeline, expected, total = case
    try:
        ranges = marker_ranges(timeline, name="m")
    except MuviError as error:
        assert "\n" not in str(error)
        # Refused only when none exists, or a marked range leaves the timeline (a point marker: starts at
        # or past its end).
        assert not expected or any(s + d > total or s >= total for s, d in expected)
        return
    # A marker with a duration is its range; a point marker runs to the next one at a later frame, or to
    # the end; the same range marked twice is scored once.
    wanted = []
    for start, duration in expected:
        end = start + duration if duration > 0 else next((s for s, _ in expected if s > start), total)
        if (start, end - start) not in wanted:
            wanted.append((start, end - start))
    assert sorted((r.start, r.frames) for r in ranges) == sorted(wanted)
    assert [r.start for r in ranges] == sorted(r.start for r in ranges)
    assert all(r.start >= 0 and r.frames >= 1 and r.start + r.frames <= total for r in ranges)


FRAME_LIKE = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet="0123456789:;", max_size=13),
    st.from_regex(r"\d\d:\d\d:\d\d[:;]\d\d", fullmatch=True),
    st.fixed_dictionaries({"value": st.one_of(st.floats(), st.text(max_size=3)), "rate": st.floats()}),
    st.none(),
    st.booleans(),
)


@FEW
@given(
    rate=RATES,
    lo=FRAME_LIKE,
    hi=FRAME_LIKE,
    keys=st.sampled_from([("in", "out"), ("mark_in", "mark_out")]),
    nested=st.booleans(),
)
# Found by this property (ValueError, OverflowError): a drop-frame in/out at 24 fps, NaN, infinity, a
# RationalTime-like value that is no number.
@example(rate=24.0, lo="00:00:00;00", hi="00:00:01;00", keys=("in", "out"), nested=True)
@example(rate=24.0, lo=float("nan"), hi=10, keys=("in", "out"), nested=False)
@example(rate=24.0, lo=0, hi=float("inf"), keys=("mark_in", "mark_out"), nested=True)
@example(rate=24.0, lo={"value": "", "rate": 24.0}, hi=5, keys=("in", "out"), nested=False)
def test_any_in_out_metadata_gives_a_range_inside_nothing_or_one_clear_error(rate, lo, hi, keys, nested):
    timeline = one_clip_timeline(rate, 500, 1)
    place = {keys[0]: lo, keys[1]: hi}
    timeline.metadata.update({"Resolve_OTIO": place} if nested else place)
    try:
        score = in_out(timeline)
    except MuviError as error:
        assert "\n" not in str(error)
    else:
        assert score is None or inside(score, timeline)


@st.composite
def layout(draw):
    """Tracks of clips and gaps, bottom first: [[("clip", source start, length) | ("gap", length)]]."""
    tracks = []
    for _ in range(draw(st.integers(1, 3))):
        items = []
        for _ in range(draw(st.integers(1, 5))):
            length = draw(st.integers(1, 40))
            items.append(
                ("clip", draw(st.integers(0, 500)), length) if draw(st.booleans()) else ("gap", 0, length)
            )
        tracks.append(items)
    return draw(RATES), tracks


@FEW
@given(case=layout())
def test_a_timeline_read_back_shows_the_clip_and_frame_its_layout_says(case):
    rate, tracks = case
    timeline = otio.schema.Timeline(name="t")
    for t, items in enumerate(tracks):
        track = otio.schema.Track(name=f"V{t}")
        for i, (kind, source, length) in enumerate(items):
            span = TR(RT(source, rate), RT(length, rate))
            track.append(otio.schema.Clip(name=f"{t}.{i}", source_range=span) if kind == "clip"
                         else otio.schema.Gap(source_range=span))  # fmt: skip
        timeline.tracks.append(track)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "cut.otio")
        otio.adapters.write_to_file(timeline, str(path))
        picture = TimelinePicture(read_timeline(path), missing="black")
    total = max(sum(length for _, _, length in items) for items in tracks)
    assert math.isclose(picture.duration, total / rate, rel_tol=1e-9)
    for frame in range(0, total, max(1, total // 25)):
        expected = []
        for t, items in reversed(list(enumerate(tracks))):  # the top-most track with a clip there wins
            at = 0
            for i, (kind, source, length) in enumerate(items):
                if at <= frame < at + length:
                    if kind == "clip":
                        expected = [(f"{t}.{i}", source + frame - at)]
                    break
                at += length
            if expected:
                break
        layers = picture.layers_at(RT(frame, rate))
        assert [(x.clip.name, round(x.media_time.rescaled_to(rate).value)) for x in layers] == expected


def test_a_timecode_that_is_none_at_the_rate_is_one_line_on_the_command_line(tmp_path):
    # Was a ValueError traceback from OTIO's timecode parser.
    timeline = one_clip_timeline(25.0, 100, 0)
    otio.adapters.write_to_file(timeline, str(tmp_path / "cut.otio"))
    done = subprocess.run(
        [sys.executable, "-m", "muvi_plugin", "timeline", "score", "cut.otio", "--out", "new.otio",
         "--range", "00:00:00:30-00:00:01:00"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "range '00:00:00:30-00:00:01:00': '00:00:00:30' is not a time at 25 fps" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.otio"]
