"""Where the music goes: the range to score, a free channel, and the inserted sound strip.

Frames follow Blender's conventions: a range is `[start, end)` in scene frames (the scene and preview ranges'
inclusive `frame_end` becomes `end = frame_end + 1`), and a strip covers
`frame_final_start..frame_final_end`, end exclusive. The time base is `render.fps / render.fps_base`.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import compat

MAX_CHANNEL = 128  # Blender's sequencer has channels 1..128
PROPERTY_PREFIX = "muvi_"


@dataclass(frozen=True)
class FrameRange:
    """Scene frames `[start, end)` and where they came from ("preview", "selection" or "scene")."""

    start: int
    end: int
    source: str

    @property
    def length(self) -> int:
        return self.end - self.start


def fps(scene) -> float:
    """Frames per second of the scene (`fps / fps_base`: 29.97 is 30 / 1.001)."""
    return scene.render.fps / scene.render.fps_base


def score_range(scene) -> FrameRange:
    """The preview range if enabled, else the selected strips' span, else the scene range."""
    if scene.use_preview_range:
        return FrameRange(scene.frame_preview_start, scene.frame_preview_end + 1, "preview")
    ed = compat.editor(scene)
    selected = [s for s in compat.top_strips(ed) if s.select] if ed is not None else []
    if selected:
        start = min(s.frame_final_start for s in selected)
        end = max(s.frame_final_end for s in selected)
        return FrameRange(start, end, "selection")
    return FrameRange(scene.frame_start, scene.frame_end + 1, "scene")


def free_channel(scene, start: int, end: int, *, lowest: int = 1) -> int:
    """The lowest channel from `lowest` with no strip overlapping frames `[start, end)`.

    Raises:
        RuntimeError: Every channel is taken over that range.
    """
    ed = compat.editor(scene)
    taken = set()
    if ed is not None:
        # Top-level strips only: the contents of a meta strip live in their own channel space.
        for s in compat.top_strips(ed):
            if s.frame_final_start < end and start < s.frame_final_end:
                taken.add(s.channel)
    for channel in range(lowest, MAX_CHANNEL + 1):
        if channel not in taken:
            return channel
    raise RuntimeError(f"no free sequencer channel over frames {start}-{end}")


def insert_sound(scene, *, name: str, filepath: str, start: int, length: int, channel: int, props: dict):
    """Add the music as a sound strip of exactly `length` frames at `start` on a free channel.

    `channel` is the one captured when the job was queued; if a strip has been put there since, the lowest
    free channel is used instead, so the music never lands over an existing strip.

    Returns:
        The new strip.
    """
    ed = compat.editor(scene, create=True)
    end = start + length
    if free_channel(scene, start, end, lowest=channel) != channel:
        channel = free_channel(scene, start, end)
    strip = compat.top_strips(ed).new_sound(name, filepath, channel, start)
    # The file holds round(seconds * rate) samples, which can round to one frame more or less than the range.
    strip.frame_final_duration = length
    if strip.channel != channel:  # Blender moves a strip that would overlap; ours was checked to be free
        strip.channel = channel
    for key, value in props.items():
        strip[PROPERTY_PREFIX + key] = value
    return strip


def is_muvi_strip(strip) -> bool:
    """Whether a strip carries muvi's provenance (it was made by a score job; older ones: flat keys)."""
    return strip is not None and (PROPERTY_PREFIX + "report" in strip or PROPERTY_PREFIX + "seed" in strip)
