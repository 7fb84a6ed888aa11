"""The frame-source extension point: any object with `name`, `duration` and `frames()` can be scored."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from muvi_plugin import media
from muvi_plugin.api import MediaError, ScoreRequest, load_bundle
from muvi_plugin.frames import FileFrames, as_frame_source, is_frame_source
from tests import media_factory as mf


@dataclass(frozen=True)
class Recorded:
    """A file's frames served from memory, recording every request."""

    path: Path
    calls: list

    @property
    def name(self) -> str:
        return "recorded"

    @property
    def duration(self) -> float:
        return media.probe(self.path).duration

    def frames(self, start: float, end: float, *, fps: float, size: tuple[int, int]) -> np.ndarray:
        self.calls.append((start, end, fps, size))
        return media.read_video_frames(self.path, start=start, end=end, fps=fps, size=size)


@pytest.fixture(scope="module")
def scorer(debug_bundle):
    return load_bundle(debug_bundle, device="cpu", threads=1)


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return mf.make_video(tmp_path_factory.mktemp("media") / "v.mp4", seconds=3.0, audio=None)


def test_a_path_is_a_file_source():
    assert isinstance(as_frame_source("x.mp4"), FileFrames)
    recorded = Recorded(Path("x"), [])
    assert is_frame_source(recorded) and as_frame_source(recorded) is recorded  # `duration` not evaluated
    assert not is_frame_source("x.mp4") and not is_frame_source(Path("x.mp4"))


def test_a_frame_source_scores_exactly_like_the_file(scorer, video):
    recorded = Recorded(video, [])
    from_file = scorer.score(ScoreRequest(video, start=0.5, end=2.5, seed=1, steps=2))
    from_source = scorer.score(ScoreRequest(recorded, start=0.5, end=2.5, seed=1, steps=2))
    wrapped = scorer.score(ScoreRequest(FileFrames(video), start=0.5, end=2.5, seed=1, steps=2))
    np.testing.assert_array_equal(from_source.audio, from_file.audio)
    np.testing.assert_array_equal(wrapped.audio, from_file.audio)
    size = scorer.bundle.manifest.video.image_size
    assert recorded.calls == [(0.5, 2.5, scorer.bundle.manifest.video.fps, (size, size))]
    assert from_source.report.video == "recorded"


def test_a_range_outside_the_source_is_refused(scorer, video):
    with pytest.raises(MediaError, match="outside the media"):
        scorer.settings(ScoreRequest(Recorded(video, []), start=1.0, end=9.0))
