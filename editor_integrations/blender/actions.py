"""Queueing a score: the range's picture, the insertion point and the child's request, on the main thread.

Operators (`ui.py`) and tests call `queue_score`; it returns at once with a queued `jobs.Job`. The only
slow part left on the main thread is Blender's render of the range, which cannot run anywhere else.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from dataclasses import dataclass

import bpy

from . import jobs, picture, timeline


@dataclass(frozen=True)
class Options:
    """Score settings, as in the panel: 0 steps or guidance mean the bundle's defaults."""

    seed: int = 0
    steps: int = 0
    guidance: float = 0.0
    style: str = ""
    bundle: str = ""  # a bundle folder or .zip; "" for the one embedded in muvi
    use_source_movie: bool = True  # score a single plain movie strip's file without rendering
    output_dir: str = ""


def options_from(settings) -> Options:
    """The scene's `muvi` settings (`ui.Settings`) as `Options`."""
    return Options(
        seed=settings.seed,
        steps=settings.steps,
        guidance=settings.guidance,
        style=settings.style,
        bundle=settings.bundle,
        use_source_movie=settings.use_source_movie,
        output_dir=settings.output_dir,
    )


def output_dir(options: Options, package: str | None) -> str:
    """Where the music files go: the chosen folder, else `//muvi` next to a saved .blend, else user data."""
    if options.output_dir:
        return bpy.path.abspath(options.output_dir)
    if bpy.data.filepath:
        return bpy.path.abspath("//muvi")
    try:  # an installed extension: user data that survives upgrades
        return bpy.utils.extension_path_user(package, path="scores", create=True)
    except (ValueError, TypeError):  # not running as an extension (e.g. imported as a module in tests)
        return os.path.join(tempfile.gettempdir(), "muvi-scores")


def queue_score(
    scene, frames: timeline.FrameRange, options: Options, *, package: str | None = None
) -> jobs.Job:
    """Capture the insertion point, get the range's picture and queue the job.

    Raises:
        RuntimeError: An empty range, no free channel, or a failed render.
    """
    if frames.length < 1:
        raise RuntimeError(f"the range {frames.start}-{frames.end} is empty")
    channel = timeline.free_channel(scene, frames.start, frames.end)
    shown = picture.source_movie(scene, frames) if options.use_source_movie else None
    cleanup = []
    if shown is None:
        folder = picture.temporary_folder()
        cleanup.append(folder)
        try:
            shown = picture.render_range(scene, frames, folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    spec = {
        "video": shown.path,
        "start": shown.start,
        "end": shown.end,
        "seed": options.seed,
        "steps": options.steps or None,
        "guidance": options.guidance or None,
        "style": bpy.path.abspath(options.style) if options.style else None,
        "bundle": bpy.path.abspath(options.bundle) if options.bundle else None,
    }
    # Beside the take's record (added when the job ends) only what it cannot know: the bundle as the
    # user named it (the record has its id) and where the range came from.
    props = {"bundle": options.bundle, "range_source": frames.source}
    job = jobs.Job(
        scene=scene.name,
        start=frames.start,
        length=frames.length,
        channel=channel,
        spec=spec,
        out_dir=output_dir(options, package),
        props=props,
        cleanup=cleanup,
    )
    return jobs.queue(job)


def redo(scene, strip, *, new_seed: bool, package: str | None = None) -> jobs.Job:
    """Score a muvi strip's range again, with its settings and the same or a new seed.

    The new music goes on a free channel; the old strip stays, so the takes can be compared.
    """
    p = timeline.PROPERTY_PREFIX
    record = json.loads(strip.get(p + "report", "{}"))  # the take's record; older strips: the flat keys
    style = record.get("style") if p + "report" in strip else strip.get(p + "style")
    options = Options(
        seed=random.randrange(2**31) if new_seed else int(record.get("seed", strip.get(p + "seed", 0))),
        steps=int(record.get("steps", strip.get(p + "steps", 0))),
        guidance=float(record.get("guidance", strip.get(p + "guidance", 0.0))),
        style=str(style or ""),
        bundle=str(strip.get(p + "bundle", "")),
        use_source_movie=True,
        output_dir=os.path.dirname(bpy.path.abspath(strip.sound.filepath)) if strip.sound else "",
    )
    frames = timeline.FrameRange(strip.frame_final_start, strip.frame_final_end, "redo")
    return queue_score(scene, frames, options, package=package)
