"""Video-music pairs: random 4-30 s segments of whole videos with their soundtracks (MuVi Sec. 4.1, App. D).

Used by contrastive pre-training and video-to-music training. Each item is one segment, decoded on the fly:
frames at `fps` (10 by default: one per latent frame) and the mono soundtrack at `sample_rate`.
"""

from __future__ import annotations

import os

import torch

from muvi_plugin.constants import SAMPLE_RATE, VIDEO_FPS
from muvi_plugin.media import FITS, read_audio, read_video_frames
from training.data.segments import VIDEO_EXTENSIONS, SegmentDataset, Source, find_media


class VideoMusicDataset(SegmentDataset):
    """Every video with a soundtrack under a folder, as random segments.

    Items are dicts:
        frames: float32 (t, 3, height, width) in [0, 1], t = duration * fps.
        wave: float32 (samples,), samples = duration * sample_rate.
        path: the file. start: segment start in seconds. duration: segment length in seconds (a whole
        number of latent frames). index: the file's index (another one's if the file failed to read).

    Index with `dataset[i]` (segment keyed by the epoch, see `set_epoch`) or `dataset[(i, key)]` (keyed by
    the sampler's per-draw key, as `DurationBalancedBatchSampler` yields).

    Args:
        root: folder searched recursively for video files.
        image_size: output frame size, an int for square frames or (width, height).
        fps: video frames per second.
        sample_rate: audio sample rate in Hz.
        min_seconds: shortest segment (shorter files give their whole length).
        max_seconds: longest segment.
        seed: seeds every segment draw.
        fit: "crop" or "pad", see `muvi_plugin.media.read_video_frames`.
    """

    _need_video = True

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        image_size: int | tuple[int, int],
        fps: float = VIDEO_FPS,
        sample_rate: int = SAMPLE_RATE,
        min_seconds: float = 4.0,
        max_seconds: float = 30.0,
        seed: int,
        fit: str = "crop",
    ) -> None:
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        if len(size) != 2 or min(size) <= 0:
            raise ValueError(f"image_size must be a positive int or (width, height), got {image_size}")
        if fit not in FITS:
            raise ValueError(f"fit must be one of {FITS}, got {fit!r}")
        self.size, self.fps, self.sample_rate, self.fit = size, fps, sample_rate, fit
        super().__init__(
            find_media(root, VIDEO_EXTENSIONS), min_seconds=min_seconds, max_seconds=max_seconds, seed=seed
        )

    def _load(self, source: Source, *, start: float, duration: float) -> dict:
        end = start + duration
        frames = read_video_frames(
            source.path, start=start, end=end, fps=self.fps, size=self.size, fit=self.fit
        )
        wave = read_audio(source.path, start=start, end=end, sample_rate=self.sample_rate)
        # (t, h, w, 3) uint8 -> (t, 3, h, w) float in [0, 1], contiguous for the encoder.
        pixels = torch.from_numpy(frames).permute(0, 3, 1, 2)
        pixels = pixels.to(torch.float32, memory_format=torch.contiguous_format).div_(255.0)
        return {"frames": pixels, "wave": torch.from_numpy(wave)}
