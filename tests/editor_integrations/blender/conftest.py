"""Fixtures for the Blender extension's tests, run with the real `bpy` from PyPI (the `blender` extra).

bpy is one Blender per process: the extension is registered once per session and every test rebuilds the
one scene it uses (10 fps, 64x36 px, frames 1-20: two seconds) so tests stay independent and renders tiny.
Nothing here imports bpy at module level: where it is not installed the test modules skip themselves
(`pytest.importorskip` in a conftest would abort the whole run).
"""

from __future__ import annotations

import pytest

from tests import media_factory as mf
from tests.hosts import require

FPS = 10
SCENE_FRAMES = (1, 20)


@pytest.fixture(scope="session")
def registered():
    """The extension registered as Blender registers an extension (`register()` of the package).

    Once per process: other test modules import these fixtures (tests/test_provenance.py), which makes a
    second instance of this one; only the instance that registered unregisters.
    """
    bpy = require("bpy", extra="blender")
    from editor_integrations import blender as extension

    already = hasattr(bpy.types.Scene, "muvi")
    if not already:
        extension.register()
    yield extension
    if not already:
        extension.unregister()


@pytest.fixture(scope="session")
def movie(tmp_path_factory):
    """A two-second 10 fps pattern video, 64x36, no sound."""
    path = tmp_path_factory.mktemp("media") / "clip.mp4"
    return mf.make_video(path, seconds=2.0, fps=FPS, audio=None, size=(64, 36))


@pytest.fixture
def scene(registered, debug_bundle, tmp_path):
    """The context scene, emptied: 64x36 at 10 fps, frames 1-20, settings pointing at the debug bundle."""
    import bpy

    from editor_integrations.blender import compat, jobs

    sc = bpy.context.scene
    if sc.sequence_editor is not None:
        sc.sequence_editor_clear()
    compat.editor(sc, create=True)
    sc.render.resolution_x, sc.render.resolution_y, sc.render.resolution_percentage = 64, 36, 100
    sc.render.fps, sc.render.fps_base = FPS, 1.0
    sc.frame_start, sc.frame_end = SCENE_FRAMES
    sc.use_preview_range = False
    s = sc.muvi
    s.seed, s.steps, s.guidance, s.style = 3, 2, 0.0, ""
    s.bundle, s.output_dir, s.use_source_movie = str(debug_bundle), str(tmp_path / "music"), True
    jobs.JOBS.clear()
    yield sc
    jobs.cancel_all()
    jobs.JOBS.clear()
