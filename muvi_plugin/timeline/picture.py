"""The picture a timeline shows: a `muvi_plugin.frames.FrameSource` over its video tracks.

At each moment the top-most enabled video track with content there wins (OTIO's `flatten_stack`, after
disabled tracks and items are taken out, since `flatten_stack` itself ignores `enabled`); a nested stack is
flattened the same way, recursively. Inside a transition the outgoing and incoming clips are mixed
linearly (a dissolve; other transition types are shown as one). A gap, a generator or nothing at all is
black. Timeline time maps to a clip's media time through OTIO's `transformed_time` (its source range)
and then its `LinearTimeWarp`/`FreezeFrame` effects (on clips, nested stacks and nested tracks alike); any
other effect cannot be applied and is warned about once. A stack may hold clips, gaps and stacks directly
(each is a layer of its own). Frames are decoded with PyAV (`muvi_plugin.media`).

Times are seconds from the start of the timeline's tracks (`global_start_time` is not added).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import opentimelineio as otio

from muvi_plugin import media
from muvi_plugin.media import MediaError
from muvi_plugin.timeline.source import Relinker, is_generated, media_path, media_url, timeline_rate

RT = otio.opentime.RationalTime
MISSING = ("error", "black")


@dataclass(frozen=True)
class Layer:
    """One clip's contribution to the picture at a moment.

    Attributes:
        clip: The clip (a copy made by flattening: compare names, not identity, with the input).
        media_time: The time in the clip's media (its source-range space), time warps applied.
        weight: Its share of the picture (1 outside transitions).
    """

    clip: otio.schema.Clip
    media_time: otio.opentime.RationalTime
    weight: float = 1.0


class _Flat:
    """A stack's enabled video tracks flattened into one track, with its transitions' ranges."""

    def __init__(self, tracks: list[otio.schema.Track]) -> None:
        enabled = [
            _without_disabled(t)
            for t in tracks
            if getattr(t, "enabled", True) and t.kind == otio.schema.TrackKind.Video
        ]
        self.track = otio.algorithms.flatten_stack(enabled) if enabled else otio.schema.Track()
        # Holding the children's Python wrappers keeps them (and their ids, used as cache keys) alive:
        # OTIO hands out the same wrapper for as long as one exists.
        self.items = list(self.track)
        self.transitions = [
            (self.track.range_of_child(item), item)
            for item in self.track
            if isinstance(item, otio.schema.Transition)
        ]


def _as_tracks(stack: otio.core.Composition) -> list[otio.schema.Track]:
    """A composition's layers as tracks, bottom first: a track is itself; a stack's children are its layers.

    OTIO lets a stack hold clips, gaps and stacks directly (its sample `nested_example.otio` does): each
    such child is a layer of its own, starting with the stack, so it is put alone on a video track (a
    copy; the timeline is not modified). A transition directly in a stack joins nothing and is skipped.
    """
    if isinstance(stack, otio.schema.Track):
        return [stack]
    tracks = []
    for child in stack:
        if isinstance(child, otio.schema.Track):
            tracks.append(child)
        elif not isinstance(child, otio.schema.Transition):
            tracks.append(otio.schema.Track(kind=otio.schema.TrackKind.Video, children=[child.deepcopy()]))
    return tracks


def _without_disabled(track: otio.schema.Track) -> otio.schema.Track:
    """A copy of `track` with each disabled item replaced by a gap of its length."""
    copy = track.deepcopy()
    for index, item in enumerate(copy):
        if not getattr(item, "enabled", True) and not isinstance(item, otio.schema.Transition):
            copy[index] = otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=item.duration()))
    return copy


class TimelinePicture:
    """A timeline's video as a frame source.

    Args:
        timeline: The timeline (read only; never modified).
        relinker: How to find its media (`muvi_plugin.timeline.source.Relinker`).
        missing: "error" (a missing file raises `MediaError` naming the clip and path) or "black" (the clip
            is shown as black and a warning names it, once).
        name: What reports call it (the timeline file, usually).
    """

    def __init__(
        self,
        timeline: otio.schema.Timeline,
        *,
        relinker: Relinker | None = None,
        missing: str = "error",
        name: str | None = None,
    ) -> None:
        if missing not in MISSING:
            raise ValueError(f"missing must be one of {MISSING}, got {missing!r}")
        self.timeline = timeline
        self.relinker = relinker or Relinker()
        self.missing = missing
        self._name = name or timeline.name or "timeline"
        self.rate = timeline_rate(timeline)
        self._flat: dict[int, tuple[otio.core.Composition, _Flat]] = {}
        self._paths: dict[tuple[str | None, int], Path | None] = {}
        self._notes: dict[tuple[str | None, int], str] = {}

    @property
    def name(self) -> str:
        return self._name

    @property
    def duration(self) -> float:
        return self.timeline.tracks.duration().to_seconds()

    def layers_at(self, time: otio.opentime.RationalTime) -> list[Layer]:
        """What is on screen at `time` (timeline track time); an empty list is black."""
        return self._layers(self.timeline.tracks, time)

    def frame_time(self, seconds: float) -> otio.opentime.RationalTime:
        """The timeline frame on screen at `seconds`: frames hold until the next one starts."""
        return RT(math.floor(seconds * self.rate + 1e-6), self.rate)

    def clips_between(self, start: float, end: float) -> list[otio.schema.Clip]:
        """Every clip seen in `[start, end)` seconds, in order of first appearance (checked per frame)."""
        seen: dict[int, otio.schema.Clip] = {}
        first, last = self.frame_time(start).value, math.ceil(end * self.rate - 1e-6)
        for frame in range(int(first), int(last)):
            for layer in self.layers_at(RT(frame, self.rate)):
                seen.setdefault(id(layer.clip), layer.clip)
        return list(seen.values())

    def check_media(self, start: float, end: float) -> list[str]:
        """Resolve the media of every clip seen in `[start, end)`.

        Returns:
            One warning per clip scored as black (with `missing="black"`).

        Raises:
            MediaError: With `missing="error"`, the first clip whose media is missing (clip and path named).
        """
        clips = self.clips_between(start, end)
        return [self._notes[(media_url(c, 0), 0)] for c in clips if self._path(c, 0) is None]

    @property
    def warnings(self) -> list[str]:
        """Every clip scored as black so far, one line each."""
        return list(self._notes.values())

    def frames(self, start: float, end: float, *, fps: float, size: tuple[int, int]) -> np.ndarray:
        """uint8 `(t, height, width, 3)`: frame i is the picture on screen at `start + i / fps`."""
        width, height = size
        n = media.frame_count(end - start, fps)
        out = np.zeros((n, height, width, 3), dtype=np.float32)
        # Gather, per clip, which output frames need which media times, then decode each clip once.
        wanted: dict[int, tuple[otio.schema.Clip, list[tuple[int, otio.opentime.RationalTime, float]]]] = {}
        for i in range(n):
            for layer in self.layers_at(self.frame_time(start + i / fps)):
                wanted.setdefault(id(layer.clip), (layer.clip, []))[1].append(
                    (i, layer.media_time, layer.weight)
                )
        for clip, uses in wanted.values():
            pictures = self._decode(clip, [time for _, time, _ in uses], size)
            if pictures is None:
                continue  # scored as black, with a warning
            for (i, _, weight), picture in zip(uses, pictures, strict=True):
                out[i] += weight * picture
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)

    def _layers(self, stack: otio.core.Composition, time: otio.opentime.RationalTime) -> list[Layer]:
        if id(stack) not in self._flat:
            self._flat[id(stack)] = (stack, _Flat(_as_tracks(stack)))  # held: its id stays its own
        flat = self._flat[id(stack)][1]
        track = flat.track
        for span, transition in flat.transitions:
            if span.contains(time):
                before, after = track.neighbors_of(transition)
                mix = (time - span.start_time).to_seconds() / span.duration.to_seconds()
                return self._item(track, before, time, 1.0 - mix) + self._item(track, after, time, mix)
        return self._item(track, track.child_at_time(time, shallow_search=True), time, 1.0)

    def _item(self, track, item, time: otio.opentime.RationalTime, weight: float) -> list[Layer]:
        if item is None or weight <= 0.0 or isinstance(item, otio.schema.Gap | otio.schema.Transition):
            return []
        inner = self._warped(item, track.transformed_time(time, item))
        if isinstance(item, otio.core.Composition):
            # A nested stack (or track): its own top-most content, in its own time.
            return [
                Layer(layer.clip, layer.media_time, weight * layer.weight)
                for layer in self._layers(item, inner)
            ]
        if not isinstance(item, otio.schema.Clip) or is_generated(item):
            return []
        return [Layer(item, inner, weight)]

    def _warped(self, item, time: otio.opentime.RationalTime) -> otio.opentime.RationalTime:
        """Apply an item's speed effects (`LinearTimeWarp`, `FreezeFrame`) around its source start; any
        other effect (a colour grade, a blur) cannot be applied: warned once, the picture goes on."""
        start = item.trimmed_range().start_time
        for effect in getattr(item, "effects", ()):
            if isinstance(effect, otio.schema.LinearTimeWarp):
                offset = (time - start).value * effect.time_scalar
                time = start + RT(offset, time.rate)
            else:
                name = effect.effect_name or effect.name or type(effect).__name__
                key = (f"effect:{item.name}:{name}", -1)
                if key not in self._notes:
                    note = f"effect {name!r} on {item.name!r} is not applied to the picture"
                    self._notes[key] = note
                    warnings.warn(note, stacklevel=2)
        return time

    def _path(self, clip: otio.schema.Clip, image: int) -> Path | None:
        key = (media_url(clip, image), image)
        if key not in self._paths:
            try:
                self._paths[key] = media_path(clip, self.relinker, image=image)
            except MediaError as error:
                if self.missing == "error":
                    raise
                self._paths[key] = None
                note = self._notes[key] = f"scored as black: {error}"
                warnings.warn(note, stacklevel=2)
        return self._paths[key]

    def _decode(self, clip: otio.schema.Clip, times: list[otio.opentime.RationalTime], size) -> list | None:
        ref = clip.media_reference
        origin = ref.available_range.start_time if ref.available_range is not None else None
        if isinstance(ref, otio.schema.ImageSequenceReference):
            return self._decode_images(clip, times, size)
        path = self._path(clip, 0)
        if path is None:
            return None
        rate = times[0].rate
        # Media seconds from the file's first frame: a source range counts from the media's own start
        # timecode (its available range), the file from 0.
        frames = np.array([(t - origin if origin is not None else t).value_rescaled_to(rate) for t in times])
        frames = np.floor(frames + 1e-6).astype(np.int64)
        # Each needed media frame decoded once, at its start time (exact: no float drift across a cut).
        unique = np.unique(frames)
        block = media.read_frames_at(path, unique / rate, size=size)
        return [block[k] for k in np.searchsorted(unique, frames)]

    def _decode_images(self, clip, times, size) -> list | None:
        ref = clip.media_reference
        pictures = []
        for time in times:
            image = int(math.floor((ref.frame_for_time(time) - ref.start_frame) / ref.frame_step + 1e-6))
            path = self._path(clip, image)
            if path is None:
                return None
            pictures.append(media.read_image(path, size=size))
        return pictures


__all__ = ["MISSING", "Layer", "TimelinePicture"]
