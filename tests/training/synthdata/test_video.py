import dataclasses

import numpy as np
import pytest

from muvi_plugin.media import probe, read_audio, read_video_frames
from tests.training.synthdata.factory import events
from training.synthdata.encode import write_clip
from training.synthdata.video import VideoConfig, plan_cuts, render_frames

STILL = VideoConfig(impacts=0.0, camera=0.0, min_shot=1.0, downbeat_cut=0.0)  # only cuts change much


def render(clip_events, config, seed):
    rng = np.random.default_rng(seed)
    cuts = plan_cuts(clip_events, config=config, rng=rng)
    return cuts, np.stack(list(render_frames(clip_events, cuts, config=config, rng=rng)))


def test_cuts_at_boundaries_and_long_shots_split_on_downbeats():
    config = VideoConfig(min_shot=1.0, max_shot=8.0, downbeat_cut=0.0)
    # A boundary at 4.03 s is first shown by frame 81 (4.05 s); one at 0.5 s would make a too-short shot.
    assert plan_cuts(events(boundaries=(0.5, 2.0, 4.03)), config=config, rng=np.random.default_rng(0)) == [
        40,
        81,
    ]
    long = events(duration=30.0, boundaries=())
    cuts = plan_cuts(long, config=config, rng=np.random.default_rng(0))
    edges = [0, *cuts, 600]
    assert max(np.diff(edges)) <= 8 * 20 and min(np.diff(edges)) >= 20
    assert set(cuts) <= {round(t * 20) for t in long.downbeats}


def test_hard_cuts_decode_back_at_exactly_the_planned_frames(tmp_path):
    clip_events = events()
    for seed in range(3):
        cuts, frames = render(clip_events, STILL, seed)
        assert cuts == [40, 81] and frames.shape == (120, 128, 128, 3) and frames.dtype == np.uint8
        path = tmp_path / f"{seed}.mkv"
        write_clip(
            path,
            frames,
            audio=np.zeros(6 * 24_000, np.int16),
            sample_rate=24_000,
            fps=20,
            width=128,
            height=128,
        )
        decoded = read_video_frames(path, start=0.0, end=6.0, fps=20, size=(128, 128)).astype(np.int16)
        change = np.abs(np.diff(decoded, axis=0)).mean(axis=(1, 2, 3))  # change[i]: frame i to i + 1
        assert sorted(np.nonzero(change > 18)[0] + 1) == cuts


def test_drum_hits_flash_the_picture():
    hits = [(3.0, "crash", 49, 120), (4.5, "snare", 38, 120)]
    clip_events = events(boundaries=(), drums=hits)
    flashing = dataclasses.replace(STILL, impacts=1.0)
    _, plain = render(clip_events, STILL, 5)
    _, flashed = render(clip_events, flashing, 5)
    gain = flashed.astype(np.float64).mean(axis=(1, 2, 3)) - plain.astype(np.float64).mean(axis=(1, 2, 3))
    assert gain[60] > 20 and gain[:60].max() < 1.0  # the crash at 3.0 s is on frame 60, not before
    assert gain[61] < gain[60]  # and fades


def test_loudness_drives_brightness():
    quiet_to_loud = dataclasses.replace(events(boundaries=()), loudness_db=tuple(np.linspace(-45, -10, 120)))
    _, frames = render(quiet_to_loud, STILL, 6)
    brightness = frames.astype(np.float64).mean(axis=(1, 2, 3))
    assert brightness[-10:].mean() > brightness[:10].mean() + 15


def test_soundtrack_decodes_exactly_and_the_file_is_reproducible(tmp_path):
    rng = np.random.default_rng(0)
    audio = (rng.normal(0, 3000, 6 * 24_000)).astype(np.int16)
    _, frames = render(events(), VideoConfig(), 1)
    paths = [tmp_path / "a.mkv", tmp_path / "b.mkv"]
    for path in paths:
        write_clip(path, frames, audio=audio, sample_rate=24_000, fps=20, width=128, height=128)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    info = probe(paths[0])
    assert info.fps == 20 and info.sample_rate == 24_000 and info.channels == 1
    assert info.video_end == pytest.approx(6.0) and info.audio_end == pytest.approx(6.0)
    decoded = read_audio(paths[0], start=0.0, end=6.0, sample_rate=24_000)
    np.testing.assert_array_equal(decoded, audio.astype(np.float32) / 32768)
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_a_failed_write_leaves_nothing(tmp_path):
    frames = [np.zeros((128, 128, 3), np.uint8), np.zeros((64, 64, 3), np.uint8)]
    with pytest.raises(ValueError, match="frame 1"):
        write_clip(
            tmp_path / "x.mkv",
            frames,
            audio=np.zeros(2400, np.int16),
            sample_rate=24_000,
            fps=20,
            width=128,
            height=128,
        )
    assert list(tmp_path.iterdir()) == []
