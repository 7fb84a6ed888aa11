import math

import numpy as np
import pytest

from muvi_plugin.constants import LATENT_RATE
from training.data.segments import Source, draw_segment, find_media, latent_frames


def test_segments_are_whole_latent_frames_inside_the_source():
    source = Source(path="x.mp4", start=1.3, end=41.3)
    rng = np.random.default_rng(0)
    lengths = []
    for _ in range(500):
        start, duration = draw_segment(source, min_seconds=4.0, max_seconds=30.0, rng=rng)
        frames = duration * LATENT_RATE
        assert frames == pytest.approx(round(frames), abs=1e-9)
        assert 4.0 - 1e-9 <= duration <= 30.0 + 1e-9
        assert source.start <= start and start + duration <= source.end + 1e-9
        lengths.append(latent_frames(duration))
    # Uniform over 40..300 latent frames: both ends are reached in 500 draws, the middle is populated.
    assert min(lengths) < 60 and max(lengths) > 280
    assert 140 < np.median(lengths) < 200


def test_short_sources_give_their_whole_length_floored_to_a_frame():
    source = Source(path="x.mp4", start=0.0, end=2.37)
    start, duration = draw_segment(source, min_seconds=4.0, max_seconds=30.0, rng=np.random.default_rng(1))
    assert latent_frames(duration) == 23 and math.isclose(duration, 2.3)
    assert 0.0 <= start <= 0.07 + 1e-9


def test_the_same_generator_state_gives_the_same_segment():
    source = Source(path="x.mp4", start=0.0, end=100.0)
    first = draw_segment(source, min_seconds=4.0, max_seconds=30.0, rng=np.random.default_rng([7, 3, 11]))
    again = draw_segment(source, min_seconds=4.0, max_seconds=30.0, rng=np.random.default_rng([7, 3, 11]))
    other = draw_segment(source, min_seconds=4.0, max_seconds=30.0, rng=np.random.default_rng([7, 3, 12]))
    assert first == again and first != other


def test_find_media_is_recursive_sorted_and_case_blind(tmp_path):
    (tmp_path / "b").mkdir()
    for name in ["b/one.MP4", "a.mov", "notes.txt", "b/two.wav"]:
        (tmp_path / name).write_bytes(b"")
    found = find_media(tmp_path, {".mp4", ".mov"})
    assert [path.relative_to(tmp_path).as_posix() for path in found] == ["a.mov", "b/one.MP4"]
    with pytest.raises(FileNotFoundError):
        find_media(tmp_path / "missing", {".mp4"})
