"""Finding media files and drawing random segments of them on the fly (MuVi Sec. 4.1, App. D).

MuVi does not cut its videos into clips beforehand: each time a file is drawn, a fresh segment of 4-30 s is
taken from it. Segment lengths are whole latent frames (0.1 s), so a segment of k latent frames has
exactly k video frames at 10 FPS and k * SAMPLES_PER_LATENT audio samples at 24 kHz.

Randomness is keyed, never global: a segment is a pure function of (seed, index, key), where `key` is
either the epoch (``dataset[i]`` after ``set_epoch``) or a per-draw key chosen by the sampler
(``dataset[(i, key)]``). The second form lets a long video drawn twice in one epoch give two different
segments, and needs no epoch state in DataLoader workers.
"""

from __future__ import annotations

import hashlib
import math
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from muvi_plugin.constants import LATENT_RATE
from muvi_plugin.media import MediaError, MediaInfo, probe

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".flv", ".wmv", ".3gp"}
)
AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".aif", ".aiff"})


class SkippedFileWarning(UserWarning):
    """A media file was left out of a dataset (unreadable, missing a stream, or too short)."""


@dataclass(frozen=True)
class Source:
    """A usable file and the span of it that segments may come from (seconds from the media start)."""

    path: str
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


def find_media(root: str | os.PathLike, extensions: Iterable[str]) -> list[Path]:
    """Files under `root` (recursive) whose extension, in any case, is one of `extensions`; sorted."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a folder")
    wanted = {extension.lower() for extension in extensions}
    return sorted(path for path in root.rglob("*") if path.suffix.lower() in wanted and path.is_file())


def scan_sources(paths: Iterable[Path], *, need_video: bool) -> list[Source]:
    """Probe each file once; keep those with audio (and video if `need_video`) of at least one latent
    frame, warning with a `SkippedFileWarning` naming each file left out."""
    sources = []
    for path in paths:
        try:
            info = probe(path)
        except MediaError as error:
            _skip(path, str(error.reason))
            continue
        if need_video and not info.has_video:
            _skip(path, "no video stream")
        elif not info.has_audio:
            _skip(path, "no audio stream")
        else:
            start, end = usable_span(info, need_video=need_video)
            if end - start < 1 / LATENT_RATE:
                _skip(path, f"only {max(end - start, 0.0):.2f} s with every stream present")
            else:
                sources.append(Source(path=str(path), start=start, end=end))
    return sources


def usable_span(info: MediaInfo, *, need_video: bool) -> tuple[float, float]:
    """The stretch where the audio (and the video if `need_video`) both play."""
    if need_video:
        return max(info.audio_start, info.video_start), min(info.audio_end, info.video_end)
    return info.audio_start, info.audio_end


def draw_segment(
    source: Source, *, min_seconds: float, max_seconds: float, rng: np.random.Generator
) -> tuple[float, float]:
    """(start, duration) of a random segment: a whole number of latent frames, uniform between
    `min_seconds` and `max_seconds` (clipped to the source), at a uniform position in the source."""
    most = math.floor(min(max_seconds, source.duration) * LATENT_RATE + 1e-6)
    least = min(math.ceil(min_seconds * LATENT_RATE - 1e-6), most)
    frames = int(rng.integers(least, most + 1))
    duration = frames / LATENT_RATE
    return source.start + rng.uniform(0.0, max(source.duration - duration, 0.0)), duration


def latent_frames(duration: float) -> int:
    """Latent frames in a segment drawn by `draw_segment` (its duration is a whole number of them)."""
    return round(duration * LATENT_RATE)


class SegmentDataset(torch.utils.data.Dataset):
    """Base of the datasets: files found and probed once, a random segment per (index, key).

    A file that fails when read (deleted, truncated mid-epoch) is warned about once, remembered as bad, and
    the next good file is read in its place, so one bad file never stops training.

    Subclasses set `_need_video` and implement `_load`.
    """

    _need_video = False

    def __init__(
        self,
        paths: Iterable[Path],
        *,
        min_seconds: float,
        max_seconds: float,
        seed: int,
    ) -> None:
        if not 0 < min_seconds <= max_seconds:
            raise ValueError(f"need 0 < min_seconds <= max_seconds, got {min_seconds}, {max_seconds}")
        self.sources = scan_sources(paths, need_video=self._need_video)
        if not self.sources:
            raise ValueError("no usable media files (every file was skipped: see the warnings)")
        self.min_seconds, self.max_seconds, self.seed = min_seconds, max_seconds, seed
        self.epoch = 0
        self._failed: set[int] = set()

    def __len__(self) -> int:
        return len(self.sources)

    @property
    def durations(self) -> list[float]:
        """Usable seconds of each file, for `DurationBalancedBatchSampler`."""
        return [source.duration for source in self.sources]

    @property
    def provenance(self) -> dict:
        """What a checkpoint records about its training data: the files and a fingerprint of them."""
        listing = sorted(
            f"{source.path}|{os.path.getsize(source.path)}|{source.start:.3f}|{source.end:.3f}"
            for source in self.sources
        )
        return {
            "files": len(self.sources),
            "seconds": round(sum(self.durations), 3),
            "fingerprint": hashlib.sha256("\n".join(listing).encode()).hexdigest()[:16],
        }

    def set_epoch(self, epoch: int) -> None:
        """Key the segments of plain integer indexing by `epoch` (DataLoader workers copy this state:
        with persistent workers, index by (index, key) from the sampler instead)."""
        self.epoch = epoch

    def __getitem__(self, item: int | tuple[int, int]) -> dict:
        index, key = (item, self.epoch) if isinstance(item, int | np.integer) else item
        index = int(index)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} files")
        for attempt in range(len(self)):
            candidate = (index + attempt) % len(self)
            if candidate in self._failed:
                continue
            source = self.sources[candidate]
            rng = np.random.default_rng([self.seed, candidate, int(key)])
            start, duration = draw_segment(
                source, min_seconds=self.min_seconds, max_seconds=self.max_seconds, rng=rng
            )
            try:
                item_data = self._load(source, start=start, duration=duration)
            except MediaError as error:
                self._failed.add(candidate)
                warnings.warn(f"skipping {source.path}: {error.reason}", SkippedFileWarning, stacklevel=2)
                continue
            return {
                **item_data,
                "path": source.path,
                "start": start,
                "duration": duration,
                "index": candidate,
            }
        raise RuntimeError("every media file of the dataset failed to read (see the warnings)")

    def _load(self, source: Source, *, start: float, duration: float) -> dict:
        raise NotImplementedError


def _skip(path: Path, reason: str) -> None:
    warnings.warn(f"skipping {path}: {reason}", SkippedFileWarning, stacklevel=3)
