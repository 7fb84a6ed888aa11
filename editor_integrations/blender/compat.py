"""Blender 4.2 / 4.5 / 5.0 API differences in one place (docs/hosts.md, "Blender").

4.4 renamed `Sequence` to `Strip` (`ed.strips`, `ed.strips_all`) and kept the old names; 5.0 removed the
old names and added `context.sequencer_scene`, which can differ from `context.scene`.
"""

from __future__ import annotations


def sequencer_scene(context):
    """The scene whose sequencer the user works in (5.0: `context.sequencer_scene`), else `context.scene`."""
    return getattr(context, "sequencer_scene", None) or context.scene


def editor(scene, *, create: bool = False):
    """The scene's sequence editor, created when asked (None when it has none)."""
    if scene.sequence_editor is None and create:
        scene.sequence_editor_create()
    return scene.sequence_editor


def top_strips(ed):
    """The strips of the top level (`strips`, 4.4+; `sequences` before): where `new_*` lives."""
    return ed.strips if hasattr(ed, "strips") else ed.sequences


def all_strips(ed):
    """Every strip, meta strips' contents included (`strips_all`, 4.4+; `sequences_all` before)."""
    return ed.strips_all if hasattr(ed, "strips_all") else ed.sequences_all


def set_movie_output(image_settings) -> None:
    """Select FFmpeg video output; 5.0 needs `media_type = 'VIDEO'` before `file_format` accepts it."""
    if hasattr(image_settings, "media_type"):
        image_settings.media_type = "VIDEO"
    image_settings.file_format = "FFMPEG"
