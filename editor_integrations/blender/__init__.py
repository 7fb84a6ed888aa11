"""muvi for Blender: score a range of the Video Sequence Editor with generated music (a Blender extension).

Host glue over `muvi_plugin` (docs/architecture.md): the panel and operators are in `ui.py`, the range,
channel and strip logic in `timeline.py`, the range's picture in `picture.py`, and the jobs (a child process
each, drained into the scene on the main thread) in `jobs.py`. See README.md.
"""

import atexit

import bpy

from . import jobs, ui


def _tick():
    """The `bpy.app.timers` callback: drain finished jobs, and redraw the sidebar while jobs run."""
    interval = jobs.drain()
    if any(job.status == jobs.RUNNING for job in jobs.JOBS):
        for window in getattr(bpy.context.window_manager, "windows", ()):
            for area in window.screen.areas:
                if area.type == "SEQUENCE_EDITOR":
                    area.tag_redraw()
    return interval


def register():
    """Register the panel, operators and `scene.muvi` settings, and start the drain timer."""
    for cls in ui.CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.muvi = bpy.props.PointerProperty(type=ui.MUVI_PG_settings)
    if not bpy.app.timers.is_registered(_tick):
        bpy.app.timers.register(_tick, first_interval=jobs.POLL_SECONDS, persistent=True)
    # Quitting Blender does not unregister add-ons: cancel running jobs then, so none outlives Blender.
    atexit.register(jobs.cancel_all)


def unregister():
    """Stop every job (their files are removed), the timer, and remove the classes."""
    jobs.cancel_all()
    atexit.unregister(jobs.cancel_all)
    if bpy.app.timers.is_registered(_tick):
        bpy.app.timers.unregister(_tick)
    del bpy.types.Scene.muvi
    for cls in reversed(ui.CLASSES):
        bpy.utils.unregister_class(cls)
