"""The numpy clip cutting follows training's torch functions exactly (MuVi App. C)."""

import numpy as np
import pytest

from muvi_plugin.clips import clip_starts, split_index, split_into_clips, stitch_clips, stitch_index
from tests.hosts import require

torch = require("torch", extra="train")
visual_encoder = require("training.models.visual_encoder", extra="train")

LENGTHS = [1, 5, 15, 16, 17, 31, 32, 33, 40, 105]


def test_training_cuts_with_the_runtime_index_arithmetic():
    # One definition of where clips start: training's torch functions gather with the runtime's indices.
    assert visual_encoder.clip_starts is clip_starts


@pytest.mark.parametrize("t", LENGTHS)
@pytest.mark.parametrize("clip", [1, 4, 16])
def test_split_index_covers_every_frame_and_stitch_index_undoes_it(t, clip):
    split = split_index(t, clip)
    assert len(split) == len(clip_starts(t, clip)) * clip and sorted(set(split)) == list(range(t))
    assert [split[i] for i in stitch_index(t, clip)] == list(range(t))


@pytest.mark.parametrize("t", LENGTHS)
def test_split_and_stitch_match_training(t):
    clip = 16
    frames = np.random.default_rng(t).standard_normal((t, 3, 2, 2)).astype(np.float32)
    clips = split_into_clips(frames, clip)
    expected = visual_encoder.split_into_clips(torch.from_numpy(frames)[None], clip).numpy()
    np.testing.assert_array_equal(clips, expected)
    # Features that differ per clip position show which clip each stitched frame came from.
    features = clips * 10 + np.arange(len(clips), dtype=np.float32)[:, None, None, None, None]
    stitched = stitch_clips(features, t=t, clip=clip)
    reference = visual_encoder.stitch_clips(torch.from_numpy(features), batch=1, t=t, clip=clip)[0].numpy()
    np.testing.assert_array_equal(stitched, reference)
    assert stitched.shape == frames.shape


def test_remainder_reuses_the_last_real_frames():
    frames = np.arange(20, dtype=np.float32)
    clips = split_into_clips(frames, 16)
    assert clip_starts(20, 16) == [0, 4]
    np.testing.assert_array_equal(clips[1], np.arange(4, 20))  # the last 16 frames, not padding
    np.testing.assert_array_equal(stitch_clips(clips, t=20, clip=16), frames)  # only the new tail kept


def test_short_video_repeats_its_last_frame():
    clips = split_into_clips(np.arange(5, dtype=np.float32), 16)
    np.testing.assert_array_equal(clips[0], [0, 1, 2, 3, 4] + [4] * 11)
    np.testing.assert_array_equal(stitch_clips(clips, t=5, clip=16), np.arange(5))


def test_stitch_rejects_a_wrong_clip_count():
    with pytest.raises(ValueError, match="clip features"):
        stitch_clips(np.zeros((1, 16)), t=20, clip=16)
