"""Shared by the metrics tests: a video with known cuts and motion, and a contrastive stage checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests import media_factory as mf

FPS = 10
SECONDS = 6.0
CUT_FRAMES = (12, 25, 33, 47)  # first frame of each new shot
MOTION_FRAME = 40  # the moving square's speed peaks here, inside the fourth shot
_COLOURS = ((200, 60, 40), (40, 160, 220), (230, 220, 60), (60, 200, 90), (150, 70, 200))


def _square_positions(n: int) -> np.ndarray:
    """x of the square: 1 px per frame, with a burst of speed (a motion peak) around MOTION_FRAME."""
    speed = 1.0 + 10.0 * np.exp(-0.5 * (np.arange(n) - MOTION_FRAME) ** 2)
    return np.cumsum(speed)


def shot_frame(index: int, *, size: tuple[int, int] = mf.SIZE) -> np.ndarray:
    """Frame `index` of the shot video: each shot has its own colour and shading, a square moves over it."""
    width, height = size
    shot = int(np.searchsorted(CUT_FRAMES, index, side="right"))
    y, x = np.mgrid[0:height, 0:width]
    colour = np.array(_COLOURS[shot], dtype=np.float64)
    shade = 0.6 + 0.4 * (x + 2 * y * (shot % 2)) / (width + height)
    picture = (colour[None, None] * shade[..., None]).clip(0, 255).astype(np.uint8)
    left = int(_square_positions(round(SECONDS * FPS))[index]) % (width - 10)
    picture[20:30, left : left + 10] = 255 - colour.astype(np.uint8)
    return picture


def write_shot_video(path: Path, *, audio: np.ndarray | None = None) -> Path:
    """6 s at 10 FPS: five shots (cuts at CUT_FRAMES) and a motion peak at MOTION_FRAME."""
    times = np.arange(round(SECONDS * FPS)) / FPS
    return mf.write_media(path, frame_times=times, frame=shot_frame, audio=audio)


@pytest.fixture(scope="session")
def shot_video(tmp_path_factory) -> Path:
    return write_shot_video(tmp_path_factory.mktemp("shots") / "shots.mp4")


@pytest.fixture(scope="session")
def contrastive_checkpoint(tmp_path_factory) -> Path:
    """A checkpoint of the real `contrastive` stage: one step of the debug preset on two 2 s clips."""
    from tests.training.tasks.test_stages import run_stage

    data = tmp_path_factory.mktemp("clr_data")
    for i, period in enumerate((0.4, 0.5)):
        audio = mf.clicks(np.arange(0.1, 2.0, period), seconds=2.0) + mf.sine(220.0 * (i + 1), seconds=2.0)
        mf.write_media(data / f"clip{i}.mp4", frame_times=np.arange(20) / FPS, audio=audio)
    return run_stage("contrastive", data, tmp_path_factory.mktemp("clr"), steps=1)
