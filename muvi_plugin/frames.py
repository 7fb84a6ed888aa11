"""Where a score's picture comes from: a video file, or anything else that can hand over frames.

The pipeline asks a `FrameSource` for the frames of a range at the bundle's fps and size; a file is one
implementation (`FileFrames`), an OpenTimelineIO timeline another (`muvi_plugin.timeline.picture`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeGuard, cast

import numpy as np

from muvi_plugin import media


class FrameSource(Protocol):
    """A picture that can be sampled at any fps and size.

    Attributes:
        name: What to call it in messages and reports (e.g. a path).
        duration: Seconds of picture, from 0.
    """

    @property
    def name(self) -> str: ...

    @property
    def duration(self) -> float: ...

    def frames(self, start: float, end: float, *, fps: float, size: tuple[int, int]) -> np.ndarray:
        """uint8 `(t, height, width, 3)` RGB: frame i is the picture at `start + i / fps`.

        `t = media.frame_count(end - start, fps)`; `size` is (width, height).
        """
        ...


@dataclass(frozen=True)
class FileFrames:
    """A video file as a frame source (centre-cropped to the asked size, as training sees it)."""

    path: Path

    @property
    def name(self) -> str:
        return os.fspath(self.path)

    @property
    def duration(self) -> float:
        return media.probe(self.path).duration

    def frames(self, start: float, end: float, *, fps: float, size: tuple[int, int]) -> np.ndarray:
        return media.read_video_frames(self.path, start=start, end=end, fps=fps, size=size)


class RecordingFrames:
    """A frame source that hands out another's frames and keeps each range it decoded.

    The scorer wraps the picture in one for a take: the model's windows decode their frames as before, and
    the tempo plan is made afterwards from the very same frames (`frames_of_range`), without decoding the
    range a second time.
    """

    def __init__(self, source: FrameSource) -> None:
        self.source = source
        self.calls: list[tuple[float, float, tuple[int, int], np.ndarray]] = []

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def duration(self) -> float:
        return self.source.duration

    def frames(self, start: float, end: float, *, fps: float, size: tuple[int, int]) -> np.ndarray:
        frames = self.source.frames(start, end, fps=fps, size=size)
        self.calls.append((start, fps, size, frames))
        return frames

    def frames_of_range(self, start: float, end: float, *, fps: float, size: tuple[int, int]) -> np.ndarray:
        """The frames of `[start, end)` at `fps`: put together from the ranges decoded so far where they
        cover it, frame `i` from a decoded range holding the frame at `start + i / fps`; else decoded."""
        n = media.frame_count(end - start, fps)
        out: np.ndarray | None = None
        filled = np.zeros(n, dtype=bool)
        for lo, rate, shape, frames in self.calls:
            offset = (lo - start) * fps
            first = round(offset)
            if rate != fps or shape != size or abs(offset - first) > 1e-6:
                continue
            if out is None:
                out = np.zeros((n, *frames.shape[1:]), dtype=frames.dtype)
            a, b = max(first, 0), min(first + len(frames), n)
            if a < b:
                out[a:b] = frames[a - first : b - first]
                filled[a:b] = True
        if out is None or not filled.all():
            return self.source.frames(start, end, fps=fps, size=size)
        return out


def is_frame_source(video: object) -> TypeGuard[FrameSource]:
    """Whether `video` is a frame source rather than a path.

    Looks at its class: `isinstance(video, FrameSource)` would evaluate `duration` (probing a file).
    """
    return callable(getattr(type(video), "frames", None)) and not isinstance(video, str | os.PathLike)


def as_frame_source(video: str | os.PathLike | FrameSource) -> FrameSource:
    """`video` itself when it is a frame source, else the file it names."""
    if is_frame_source(video):
        return video
    return FileFrames(Path(cast("str | os.PathLike", video)))


__all__ = ["FileFrames", "FrameSource", "RecordingFrames", "as_frame_source", "is_frame_source"]
