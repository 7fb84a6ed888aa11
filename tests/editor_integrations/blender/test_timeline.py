"""The range, the free channel and the fast-path picture, on real bpy scenes (no scoring)."""

from __future__ import annotations

import pytest

from tests.hosts import require

bpy = require("bpy", extra="blender")

from editor_integrations.blender import picture, timeline  # noqa: E402

from .helpers import add_colour, add_movie  # noqa: E402


def test_range_prefers_preview_then_selection_then_scene(scene, movie):
    strip = add_movie(scene, movie, frame_start=5)
    strip.select = False
    assert timeline.score_range(scene) == timeline.FrameRange(1, 21, "scene")
    strip.select = True
    assert timeline.score_range(scene) == timeline.FrameRange(5, 25, "selection")
    scene.use_preview_range = True
    scene.frame_preview_start, scene.frame_preview_end = 3, 12
    assert timeline.score_range(scene) == timeline.FrameRange(3, 13, "preview")
    assert timeline.fps(scene) == pytest.approx(10.0)


def test_time_base_is_fps_over_base(scene):
    scene.render.fps, scene.render.fps_base = 30, 1.001
    assert timeline.fps(scene) == pytest.approx(30 / 1.001)


def test_free_channel_skips_overlapping_strips_only(scene, movie):
    add_movie(scene, movie, channel=1, frame_start=1)  # frames 1-20
    add_colour(scene, channel=2, start=5, end=10)  # frames 5-9
    add_colour(scene, channel=4, start=30, end=40)  # elsewhere
    assert timeline.free_channel(scene, 1, 21) == 3
    assert timeline.free_channel(scene, 10, 21) == 2  # the colour strip ends before frame 10
    assert timeline.free_channel(scene, 1, 21, lowest=4) == 4


def test_source_movie_fast_path(scene, movie):
    add_movie(scene, movie, channel=1, frame_start=11)  # source frame 0 shows at scene frame 11
    shown = picture.source_movie(scene, timeline.FrameRange(15, 25, "preview"))
    assert shown is not None and not shown.temporary
    assert shown.path == str(movie)
    assert (shown.start, shown.end) == pytest.approx((0.4, 1.4))
    # Past the strip's end, or with a colour strip over it, the sequencer's own picture is needed.
    assert picture.source_movie(scene, timeline.FrameRange(15, 35, "preview")) is None
    add_colour(scene, channel=2, start=12, end=14)
    assert picture.source_movie(scene, timeline.FrameRange(11, 21, "preview")) is None
