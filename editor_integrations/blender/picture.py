"""The picture of a range: the sequencer's own render, or the source movie when that is all there is.

`render_range` renders what the sequencer shows (movie, image, colour and effect strips, transforms) into
a small temporary video with Blender's renderer, on the main thread, and puts back every scene setting it
touched. `source_movie` is the fast path: when the range shows one movie strip and nothing else, the
source file is scored directly (no render), at the matching source time.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import bpy

from . import compat
from .timeline import FrameRange, fps

MAX_SIDE = 320  # pixels: muvi's encoders look at small frames, so the render need not be any larger
SOUND_TYPES = {"SOUND"}


@dataclass(frozen=True)
class Picture:
    """A video file and the seconds `[start, end)` in it that show the range."""

    path: str
    start: float
    end: float
    temporary: bool  # a render to delete after scoring (never the user's source movie)


@contextmanager
def restored(*targets: tuple[object, str]):
    """Put back each `(owner, attribute)` as it was, whatever happens in the block.

    Settings depend on each other: 5.0's `media_type` must come back before `file_format` accepts a still
    format, and `color_mode` RGBA only after a format that has alpha. So a reverse pass puts them back and
    a forward pass retries whatever a later setting had still refused.
    """
    saved = [(owner, name, getattr(owner, name)) for owner, name in targets]
    try:
        yield
    finally:
        for order in (reversed(saved), saved):
            for owner, name, value in order:
                if getattr(owner, name) != value:
                    # Refused values are retried by the next pass (Blender ignores some silently).
                    with contextlib.suppress(AttributeError, TypeError, ValueError):
                        setattr(owner, name, value)


def render_settings(scene) -> list[tuple[object, str]]:
    """Every scene setting `render_range` changes, as `(owner, attribute)` in the order it sets them."""
    r = scene.render
    image = r.image_settings
    targets = [(scene, "frame_start"), (scene, "frame_end"), (scene, "frame_step"), (scene, "frame_current")]
    targets += [(r, "filepath"), (r, "use_file_extension"), (r, "resolution_percentage")]
    targets += [(r, "use_sequencer"), (r, "use_compositing")]
    if hasattr(image, "media_type"):  # 5.0
        targets.append((image, "media_type"))
    targets += [(image, "file_format"), (image, "color_mode")]
    ff = r.ffmpeg
    targets += [(ff, "format"), (ff, "codec"), (ff, "audio_codec"), (ff, "constant_rate_factor")]
    return targets


def render_range(scene, frames: FrameRange, folder: str | os.PathLike) -> Picture:
    """Render frames `[start, end)` of the scene's sequencer to a small H.264 video in `folder`.

    The frame range, output path, resolution, file format and codec are restored afterwards, even when
    the render fails. Blocks the main thread while Blender renders (bpy cannot render from another one).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    r = scene.render
    with restored(*render_settings(scene)):
        scene.frame_start, scene.frame_end, scene.frame_step = frames.start, frames.end - 1, 1
        # Blender names movie files after the frame range: render into an empty folder and pick up the file.
        r.filepath = os.fspath(folder / "picture_")
        r.use_file_extension = True
        side = max(r.resolution_x, r.resolution_y)
        r.resolution_percentage = max(1, min(100, MAX_SIDE * 100 // side))
        r.use_sequencer, r.use_compositing = True, False
        compat.set_movie_output(r.image_settings)
        r.image_settings.color_mode = "RGB"
        r.ffmpeg.format, r.ffmpeg.codec, r.ffmpeg.audio_codec = "MPEG4", "H264", "NONE"
        r.ffmpeg.constant_rate_factor = "HIGH"
        render_animation(scene)
    made = sorted(p for p in folder.iterdir() if p.name.startswith("picture_"))
    if not made:
        raise RuntimeError(f"Blender rendered no video into {folder}")
    return Picture(os.fspath(made[-1]), 0.0, frames.length / fps(scene), temporary=True)


def render_animation(scene) -> None:
    """Render the scene's frame range to its output (Blender's renderer; blocks until done)."""
    bpy.ops.render.render(animation=True, scene=scene.name)


def source_movie(scene, frames: FrameRange) -> Picture | None:
    """The source file of the one plain movie strip showing the whole range, or None.

    "Plain": no modifiers, no effect strip using it, default transform, crop, speed and opacity, and the
    movie's rate equal to the scene's, so source time maps to scene frames one to one. Any other visible
    strip in the range (colour, image, text, another movie) means the render is needed.
    """
    ed = compat.editor(scene)
    if ed is None:
        return None
    visible = [
        s
        for s in compat.top_strips(ed)
        if not s.mute
        and s.type not in SOUND_TYPES
        and s.frame_final_start < frames.end
        and frames.start < s.frame_final_end
    ]
    if len(visible) != 1 or visible[0].type != "MOVIE":
        return None
    strip = visible[0]
    if strip.frame_final_start > frames.start or strip.frame_final_end < frames.end:
        return None
    if not _plain(strip) or abs(getattr(strip, "fps", 0.0) - fps(scene)) > 1e-3:
        return None
    rate = fps(scene)
    # Source frame k shows at scene frame frame_start + k (frame_start is the untrimmed content's start).
    offset = strip.frame_start - getattr(strip, "animation_offset_start", 0)
    return Picture(
        bpy.path.abspath(strip.filepath),
        (frames.start - offset) / rate,
        (frames.end - offset) / rate,
        temporary=False,
    )


def _plain(strip) -> bool:
    if len(strip.modifiers) or getattr(strip, "speed_factor", 1.0) != 1.0:
        return False
    if strip.blend_alpha != 1.0 or getattr(strip, "color_multiply", 1.0) != 1.0:
        return False
    t, c = strip.transform, strip.crop
    moved = (t.offset_x, t.offset_y, t.rotation, t.scale_x - 1.0, t.scale_y - 1.0)
    if any(moved) or any((c.min_x, c.max_x, c.min_y, c.max_y)):
        return False
    return not (strip.use_flip_x or strip.use_flip_y or strip.use_reverse_frames)


def temporary_folder() -> str:
    """A fresh folder for one job's render (removed by the job when it ends)."""
    return tempfile.mkdtemp(prefix="muvi-picture-")
