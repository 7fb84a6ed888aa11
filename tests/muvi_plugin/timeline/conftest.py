"""Timelines built with OTIO's API over media the tests render (tests/media_factory.py).

Each media file is a pattern video whose frame k codes `offset + k` (`media_factory.frame_index`), so a
decoded picture tells which file and which source frame it is. Offsets keep the files apart: 1, 81, 161.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest

from tests import media_factory as mf

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
FRAMES = 80  # per media file
OFFSETS = {"a": 1, "b": 81, "c": 161}
RATES = {25: 25.0, 23.976: 24000 / 1001}


def render(folder: Path, name: str, *, rate: float) -> Path:
    """`FRAMES` frames of pattern `OFFSETS[name] + k` at `rate`, as `folder/name.mp4`."""
    exact = Fraction(24000, 1001) if abs(rate - 24000 / 1001) < 1e-6 else Fraction(rate).limit_denominator()
    offset = OFFSETS[name]
    return mf.write_media(
        folder / f"{name}.mp4",
        frame_times=np.arange(FRAMES) / rate,
        rate=exact,
        frame=lambda k: mf.pattern_frame(offset + k),
    )


@pytest.fixture(scope="session", params=[25, 23.976], ids=["25fps", "23.976fps"])
def media_set(request, tmp_path_factory):
    """(rate, folder) with a.mp4, b.mp4, c.mp4 rendered at that rate."""
    rate = RATES[request.param]
    folder = tmp_path_factory.mktemp(f"media{request.param}")
    for name in OFFSETS:
        render(folder, name, rate=rate)
    return rate, folder


def clip(name: str, start: int, duration: int, rate: float, *, url: str | None = None) -> otio.schema.Clip:
    """A clip of media `name` showing source frames `[start, start + duration)`."""
    return otio.schema.Clip(
        name=f"{name}{start}",
        media_reference=otio.schema.ExternalReference(
            target_url=url if url is not None else f"{name}.mp4",
            available_range=TR(RT(0, rate), RT(FRAMES, rate)),
        ),
        source_range=TR(RT(start, rate), RT(duration, rate)),
    )


def gap(duration: int, rate: float) -> otio.schema.Gap:
    return otio.schema.Gap(source_range=TR(RT(0, rate), RT(duration, rate)))


def expected_index(name: str, source_frame: int) -> int:
    """The pattern index decoded from source frame `source_frame` of media `name`."""
    return OFFSETS[name] + source_frame


def write(timeline: otio.schema.Timeline, path: Path) -> Path:
    otio.adapters.write_to_file(timeline, str(path))
    return path
