"""The range render: what Blender's renderer writes, and that every touched scene setting comes back."""

from __future__ import annotations

import pytest

from tests.hosts import require

bpy = require("bpy", extra="blender")

from editor_integrations.blender import picture, timeline  # noqa: E402
from muvi_plugin import media  # noqa: E402

from .helpers import add_colour, add_movie  # noqa: E402


def _values(scene) -> dict[str, object]:
    return {
        f"{type(owner).__name__}.{name}": getattr(owner, name)
        for owner, name in picture.render_settings(scene)
    }


def test_render_range_writes_the_range_and_restores_the_scene(scene, movie, tmp_path):
    add_movie(scene, movie, channel=1, frame_start=1)
    add_colour(scene, channel=2, start=5, end=9)
    r = scene.render
    r.filepath, r.resolution_percentage = "//renders/final_", 50
    r.image_settings.file_format = "PNG"
    scene.frame_current = 7
    before = _values(scene)

    shown = picture.render_range(scene, timeline.FrameRange(4, 14, "preview"), tmp_path / "render")

    assert _values(scene) == before
    assert (scene.frame_start, scene.frame_end, r.filepath) == (1, 20, "//renders/final_")
    assert r.image_settings.file_format == "PNG" and r.resolution_percentage == 50
    assert shown.temporary and (shown.start, shown.end) == pytest.approx((0.0, 1.0))
    info = media.probe(shown.path)
    assert info.has_video and info.duration == pytest.approx(1.0, abs=0.11)


def test_render_failure_still_restores(scene, tmp_path, monkeypatch):
    before = _values(scene)

    def broken(scene):
        raise RuntimeError("render failed")

    monkeypatch.setattr(picture, "render_animation", broken)
    with pytest.raises(RuntimeError, match="render failed"):
        picture.render_range(scene, timeline.FrameRange(2, 6, "preview"), tmp_path / "render")
    assert _values(scene) == before
