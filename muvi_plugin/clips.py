"""Fixed-length encoder clips in numpy (MuVi App. C), the twin of `training.models.visual_encoder`'s.

Shapes: `t` frames, `k` clips, `clip` frames per clip; trailing axes (`...`) are carried along.

The encoder graph only sees clips of `clip` frames. A video is cut into full clips from frame 0; a remainder
is covered by one more clip made of the LAST `clip` frames (re-using real frames rather than zero padding),
of which only the new tail is kept when stitching; a video shorter than one clip repeats its last frame.
These functions follow `clip_starts` / `split_into_clips` / `stitch_clips` of training exactly (a test
compares them), for one video (no batch axis).
"""

from __future__ import annotations

import numpy as np


def clip_starts(t: int, clip: int) -> list[int]:
    """First frame of every clip covering `t` frames (see the module docstring)."""
    if t < 1 or clip < 1:
        raise ValueError(f"need t >= 1 and clip >= 1, got t={t}, clip={clip}")
    if t <= clip:
        return [0]
    starts = list(range(0, t - clip + 1, clip))
    if t % clip:
        starts.append(t - clip)
    return starts


def split_into_clips(frames: np.ndarray, clip: int) -> np.ndarray:
    """Cut `(t, ...)` into clips `(k, clip, ...)`; frames past the end repeat the last frame."""
    t = frames.shape[0]
    index = np.array([min(start + i, t - 1) for start in clip_starts(t, clip) for i in range(clip)])
    return frames[index].reshape(len(index) // clip, clip, *frames.shape[1:])


def stitch_clips(features: np.ndarray, *, t: int, clip: int) -> np.ndarray:
    """Undo `split_into_clips`: `(k, clip, ...)` -> `(t, ...)`.

    Full clips are joined end to end; from the last, overlapping clip only its new tail is kept, and the
    padding of a video shorter than one clip is cropped.
    """
    starts = clip_starts(t, clip)
    k = len(starts)
    if features.shape[:2] != (k, clip):
        raise ValueError(f"expected ({k}, {clip}, ...) clip features for t={t}, got {features.shape}")
    n_full = t // clip if t > clip else 0
    index = np.array([j if j < n_full * clip else (k - 1) * clip + j - starts[-1] for j in range(t)])
    return features.reshape(k * clip, *features.shape[2:])[index]
