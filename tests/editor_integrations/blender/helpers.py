"""Scene building and job waiting for the Blender tests (imported after `pytest.importorskip("bpy")`)."""

from __future__ import annotations

import time

import bpy
import pytest

from editor_integrations.blender import compat, jobs

# PyPI's bpy 4.2 is built without Audaspace: it cannot make sound strips ("Blender compiled without
# Audaspace support"), which the Blender application can. 4.5 and 5.0 have it.
needs_sound = pytest.mark.skipif(
    not bpy.app.build_options.audaspace, reason="this bpy build has no Audaspace: no sound strips"
)


def add_movie(scene, path, *, channel: int = 1, frame_start: int = 1):
    """A movie strip of `path` whose first frame shows at `frame_start`."""
    return compat.top_strips(scene.sequence_editor).new_movie("movie", str(path), channel, frame_start)


def add_colour(scene, *, channel: int, start: int, end: int):
    """A colour strip over frames `[start, end)` (5.0's `new_effect` takes a length, not `frame_end`)."""
    span = {"length": end - start} if bpy.app.version >= (5, 0) else {"frame_end": end}
    strip = compat.top_strips(scene.sequence_editor).new_effect(
        name="colour", type="COLOR", channel=channel, frame_start=start, **span
    )
    strip.color = (0.8, 0.2, 0.1)
    return strip


def wait(job, *, timeout: float = 180.0, until=None):
    """Drain as Blender's timer would (timers never fire in bpy-as-a-module) until `until(job)` holds."""
    until = until or (lambda j: j.status in jobs.FINISHED)
    deadline = time.monotonic() + timeout
    while not until(job):
        assert time.monotonic() < deadline, f"job still {job.status} ({job.stage}); log: {job.log}"
        jobs.drain()
        time.sleep(0.05)
    return job
