"""Datasets, samplers and collate functions of the stages, built from a RunConfig."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from training.data import (
    DurationBalancedBatchSampler,
    MusicDataset,
    VideoMusicDataset,
    collate_music,
    collate_video_music,
)


def music_data(run, *, rank: int, world_size: int) -> tuple[Any, Any, Callable]:
    dataset = MusicDataset(run.data, min_seconds=run.min_seconds, max_seconds=run.max_seconds, seed=run.seed)
    sampler = DurationBalancedBatchSampler(
        dataset.durations, batch_size=run.batch_size, seed=run.seed, rank=rank, world_size=world_size
    )
    return dataset, sampler, collate_music


def video_data(
    run, *, image_size: int, rank: int, world_size: int, collate: Callable | None = None
) -> tuple[Any, Any, Callable]:
    dataset = VideoMusicDataset(
        run.data,
        image_size=image_size,
        min_seconds=run.min_seconds,
        max_seconds=run.max_seconds,
        seed=run.seed,
    )
    sampler = DurationBalancedBatchSampler(
        dataset.durations, batch_size=run.batch_size, seed=run.seed, rank=rank, world_size=world_size
    )
    return dataset, sampler, collate or collate_video_music
