"""Exporting a take: its audio as WAV/FLAC, or a copy of the video with it muxed in.

Both reuse the runtime's atomic writers (`muvi_plugin.audio_io`, the ones `muvi score` uses), so a failed
export leaves no partial file. No Qt here.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from muvi_plugin import guard, media
from muvi_plugin.api import MuviError
from muvi_plugin.audio_io import AUDIO_FORMATS, MUX_FORMATS, mux_into_copy, write_audio
from muvi_plugin.panel.takes import Take, TakeStore

TIMELINE_SUFFIXES = (".otio", ".otioz", ".otiod")


def take_audio(store: TakeStore, take: Take) -> np.ndarray:
    """The take's float32 mono samples, exactly its duration long."""
    return media.read_audio(store.path(take), start=0.0, end=take.duration, sample_rate=take.sample_rate)


def export_audio(store: TakeStore, take: Take, path: str | os.PathLike) -> Path:
    """Write the take to `path` (`.wav` or `.flac`).

    Raises:
        MuviError: An unsupported suffix, the take itself, a missing folder, or a write failure.
    """
    path = Path(path)
    if path.suffix.lower() not in AUDIO_FORMATS:
        raise MuviError(f"{path}: unsupported audio format (use {' or '.join(AUDIO_FORMATS)})")
    guard.check_outputs({"the export": path}, [("take", store.path(take))])
    return write_audio(path, take_audio(store, take), take.sample_rate)


def export_video(store: TakeStore, take: Take, video: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Write a copy of `video` whose sound is the take, starting at the take's range start.

    Raises:
        MuviError: An unsupported container, the input itself as the output, or a write failure.
    """
    path = Path(path)
    if Path(video).suffix.lower() in TIMELINE_SUFFIXES:
        raise MuviError(f"{video}: a timeline has no single video file to mux into; export the take's audio")
    if path.suffix.lower() not in MUX_FORMATS:
        raise MuviError(f"{path}: unsupported container for muxing (use one of {', '.join(MUX_FORMATS)})")
    guard.check_outputs({"the export": path}, [("video", video), ("take", store.path(take))])
    return mux_into_copy(video, take_audio(store, take), take.sample_rate, path, start=take.start)
