"""What opening a file gives the panel: a video file, or an OpenTimelineIO timeline's picture.

A timeline is scored through its `TimelinePicture` (the same frame source `muvi timeline score` uses), with
missing media shown as black and named in a warning. It has no single file to preview or mux into, so the
panel disables those for it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtGui import QImage

from muvi_plugin import media
from muvi_plugin.errors import MuviError
from muvi_plugin.frames import FrameSource
from muvi_plugin.panel.exporting import TIMELINE_SUFFIXES
from muvi_plugin.panel.timecode import format_time

THUMB_SIZE = (160, 90)


@dataclass
class Opened:
    """A loaded file. `source` is None for a video file (the API reads the file itself)."""

    path: Path
    duration: float
    thumbnails: list[QImage]
    label: str
    source: FrameSource | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def is_timeline(self) -> bool:
        return self.source is not None


def open_media(path: str | os.PathLike, thumbnails: int) -> Opened:
    """Probe a video file or read a timeline, and decode `thumbnails` evenly spaced pictures of it.

    Raises:
        MuviError: Unreadable file or timeline, no video stream (named).
    """
    path = Path(path)
    if path.suffix.lower() in TIMELINE_SUFFIXES:
        return _open_timeline(path, thumbnails)
    info = media.probe(path)
    if not info.has_video:
        raise MuviError(f"{path}: no video stream")
    duration = info.video_end or info.duration
    times = (np.arange(thumbnails) + 0.5) * duration / thumbnails
    frames = media.read_frames_at(path, times, size=THUMB_SIZE, fit="crop")
    label = f"{path.name}  ({format_time(info.duration)}, {info.width}×{info.height})"
    return Opened(path, duration, _images(frames), label)


def _open_timeline(path: Path, thumbnails: int) -> Opened:
    from muvi_plugin.timeline.picture import TimelinePicture
    from muvi_plugin.timeline.source import Relinker, read_timeline

    timeline = read_timeline(path)
    relinker = Relinker(base=path.resolve().parent)
    picture = TimelinePicture(timeline, relinker=relinker, missing="black", name=os.fspath(path.resolve()))
    duration = picture.duration
    if duration <= 0:
        raise MuviError(f"{path}: the timeline is empty")
    # `thumbnails` frames at thumbnails/duration fps: one per slot (from each slot's start).
    frames = picture.frames(0.0, duration, fps=thumbnails / duration, size=THUMB_SIZE)
    label = f"{path.name}  (timeline, {format_time(duration)})"
    return Opened(path, duration, _images(frames), label, source=picture, warnings=picture.warnings)


def _images(frames: np.ndarray) -> list[QImage]:
    # .copy(): a QImage would otherwise point into the numpy buffer, which is freed with `frames`.
    return [
        QImage(f.data, f.shape[1], f.shape[0], 3 * f.shape[1], QImage.Format.Format_RGB888).copy()
        for f in np.ascontiguousarray(frames)
    ]
