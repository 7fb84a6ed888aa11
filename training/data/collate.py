"""Batching segments of different lengths: pad to the longest, say which frames are real.

Shapes: b batch, n latent frames (10 per second), t video frames, s audio samples.
`lengths` and `mask` count latent frames, the unit of the DiT and of the loss masks; `frame_mask` counts
video frames, which differ from latent frames only when the video is read at another rate than 10 FPS.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from training.data.segments import latent_frames


def collate_music(items: Sequence[dict]) -> dict:
    """Batch `MusicDataset` items.

    Returns:
        wave: (b, s) float32, zero-padded. lengths: (b,) int64 latent frames. mask: (b, n) bool, True on
        real frames. path: list of b paths. start, duration: (b,) float64 seconds. index: (b,) int64.
    """
    lengths = torch.tensor([latent_frames(item["duration"]) for item in items], dtype=torch.int64)
    return {
        "wave": _pad([item["wave"] for item in items]),
        "lengths": lengths,
        "mask": _mask(lengths),
        "path": [item["path"] for item in items],
        "start": torch.tensor([item["start"] for item in items], dtype=torch.float64),
        "duration": torch.tensor([item["duration"] for item in items], dtype=torch.float64),
        "index": torch.tensor([item["index"] for item in items], dtype=torch.int64),
    }


def collate_video_music(items: Sequence[dict]) -> dict:
    """Batch `VideoMusicDataset` items: everything `collate_music` gives, plus

    frames: (b, t, 3, height, width) float32, zero-padded. frame_mask: (b, t) bool, True on real frames.
    """
    batch = collate_music(items)
    frame_lengths = torch.tensor([item["frames"].shape[0] for item in items], dtype=torch.int64)
    batch["frames"] = _pad([item["frames"] for item in items])
    batch["frame_mask"] = _mask(frame_lengths)
    return batch


def _pad(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """Stack tensors that differ only in their first dimension, zero-padding it to the longest."""
    longest = max(tensor.shape[0] for tensor in tensors)
    out = tensors[0].new_zeros((len(tensors), longest, *tensors[0].shape[1:]))
    for row, tensor in enumerate(tensors):
        out[row, : tensor.shape[0]] = tensor
    return out


def _mask(lengths: torch.Tensor) -> torch.Tensor:
    return torch.arange(int(lengths.max())) < lengths[:, None]
