"""Duration-balanced batches with every clip from a different video (MuVi App. D).

MuVi's videos range from under a minute to hours, and segments are drawn from whole videos on the fly, so
drawing videos uniformly would over-sample short ones. Here a video is drawn with probability
proportional to its usable duration: every second of footage is equally likely to be in a batch. Within a
batch videos are drawn without replacement, so no two clips share a video, which keeps the contrastive
loss's in-batch negatives truly negative. A video's chance to be in a batch of B is then roughly
proportional to its duration, exactly so for B = 1, and at most 1.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

_KEY_LIMIT = 2**62  # per-draw segment keys are drawn below this


class DurationBalancedBatchSampler(torch.utils.data.Sampler):
    """Batches of (index, key) pairs for a `SegmentDataset`, with P(video) proportional to its duration.

    The batches of an epoch are a pure function of (seed, epoch). Under DDP every rank draws the same global
    batch of batch_size * world_size distinct videos and keeps its own slice, so ranks never share a video
    within a step (the gathered contrastive batch has no repeats either). `key` seeds the segment drawn
    from the video, so a video drawn twice in an epoch gives two different segments.

    Args:
        durations: usable seconds of each video (`dataset.durations`).
        batch_size: clips per batch on this rank.
        seed: base seed, shared by all ranks.
        rank: this process's rank.
        world_size: number of ranks.
        num_batches: batches per epoch on each rank; by default as many as give one draw per video.
    """

    def __init__(
        self,
        durations: Sequence[float],
        *,
        batch_size: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        num_batches: int | None = None,
    ) -> None:
        weights = np.asarray(durations, dtype=np.float64)
        if weights.ndim != 1 or (weights < 0).any() or not np.isfinite(weights).all():
            raise ValueError("durations must be a flat list of finite, non-negative seconds")
        if batch_size < 1 or not 0 <= rank < world_size:
            raise ValueError(
                f"need batch_size >= 1 and 0 <= rank < world_size, got {batch_size}, {rank}, {world_size}"
            )
        global_batch = batch_size * world_size
        if np.count_nonzero(weights) < global_batch:
            raise ValueError(
                f"a global batch of {global_batch} distinct videos needs at least that many with a duration, "
                f"got {np.count_nonzero(weights)}"
            )
        self.probabilities = weights / weights.sum()
        self.batch_size, self.seed, self.rank, self.world_size = batch_size, seed, rank, world_size
        self.num_batches = num_batches if num_batches is not None else max(1, len(weights) // global_batch)
        if self.num_batches < 1:
            raise ValueError(f"num_batches must be positive, got {num_batches}")
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose batches `__iter__` yields (call before each epoch, as with DDP samplers)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        size = self.batch_size * self.world_size
        mine = slice(self.rank * self.batch_size, (self.rank + 1) * self.batch_size)
        for _ in range(self.num_batches):
            videos = rng.choice(len(self.probabilities), size=size, replace=False, p=self.probabilities)
            keys = rng.integers(0, _KEY_LIMIT, size=size)
            yield [(int(video), int(key)) for video, key in zip(videos[mine], keys[mine], strict=True)]
