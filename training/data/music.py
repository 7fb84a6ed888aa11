"""Music-only segments: random 4-30 s cuts of music tracks (and of videos' soundtracks), MuVi Sec. 4.1.

Used to train the VAE, the vocoder and the unconditional DiT. MuVi segments its 5.3K hours of music
beforehand; drawing segments on the fly gives the same distribution with more variety.
"""

from __future__ import annotations

import os

import torch

from muvi_plugin.constants import SAMPLE_RATE
from muvi_plugin.media import read_audio
from training.data.segments import AUDIO_EXTENSIONS, VIDEO_EXTENSIONS, SegmentDataset, Source, find_media


class MusicDataset(SegmentDataset):
    """Every audio file, and the soundtrack of every video file, under a folder, as random segments.

    Items are dicts: wave (float32 (samples,), mono), path, start, duration (a whole number of latent
    frames), index. Indexing as in `VideoMusicDataset`.

    Args:
        root: folder searched recursively for audio and video files.
        sample_rate: audio sample rate in Hz.
        min_seconds: shortest segment (shorter files give their whole length).
        max_seconds: longest segment.
        seed: seeds every segment draw.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        sample_rate: int = SAMPLE_RATE,
        min_seconds: float = 4.0,
        max_seconds: float = 30.0,
        seed: int,
    ) -> None:
        self.sample_rate = sample_rate
        paths = find_media(root, AUDIO_EXTENSIONS | VIDEO_EXTENSIONS)
        super().__init__(paths, min_seconds=min_seconds, max_seconds=max_seconds, seed=seed)

    def _load(self, source: Source, *, start: float, duration: float) -> dict:
        wave = read_audio(source.path, start=start, end=start + duration, sample_rate=self.sample_rate)
        return {"wave": torch.from_numpy(wave)}
