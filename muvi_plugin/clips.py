"""Fixed-length encoder clips in numpy (MuVi App. C), the twin of `training.models.visual_encoder`'s.

Shapes: `t` frames, `k` clips, `clip` frames per clip; trailing axes (`...`) are carried along.

The encoder graph only sees clips of `clip` frames. A video is cut into full clips from frame 0; a remainder
is covered by one more clip made of the LAST `clip` frames (re-using real frames rather than zero padding),
of which only the new tail is kept when stitching; a video shorter than one clip repeats its last frame.
The index arithmetic (`clip_starts`, `split_index`, `stitch_index`) is defined here once, in plain Python:
training's torch `split_into_clips` / `stitch_clips` (`training.models.visual_encoder`) gather with the
same indices, so the runtime cuts and stitches exactly as the model was trained (a test compares them).
The numpy functions below are for one video (no batch axis).
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


def split_index(t: int, clip: int) -> list[int]:
    """The frame behind every position of the clips of `t` frames, clip after clip (`k * clip` entries)."""
    return [min(start + i, t - 1) for start in clip_starts(t, clip) for i in range(clip)]


def stitch_index(t: int, clip: int) -> list[int]:
    """For each of the `t` frames, its position in the `k * clip` clip positions it is taken back from.

    Full clips are joined end to end; from the last, overlapping clip only its new tail is kept, and the
    padding of a video shorter than one clip is cropped.
    """
    starts = clip_starts(t, clip)
    n_full = t // clip if t > clip else 0
    return [j if j < n_full * clip else (len(starts) - 1) * clip + j - starts[-1] for j in range(t)]


def split_into_clips(frames: np.ndarray, clip: int) -> np.ndarray:
    """Cut `(t, ...)` into clips `(k, clip, ...)`; frames past the end repeat the last frame."""
    index = np.array(split_index(frames.shape[0], clip))
    return frames[index].reshape(len(index) // clip, clip, *frames.shape[1:])


def stitch_clips(features: np.ndarray, *, t: int, clip: int) -> np.ndarray:
    """Undo `split_into_clips`: `(k, clip, ...)` -> `(t, ...)` (see `stitch_index`)."""
    k = len(clip_starts(t, clip))
    if features.shape[:2] != (k, clip):
        raise ValueError(f"expected ({k}, {clip}, ...) clip features for t={t}, got {features.shape}")
    return features.reshape(k * clip, *features.shape[2:])[np.array(stitch_index(t, clip))]
