"""The latent bounds' reshaping and pooling (benchmarks/latent_bounds.py)."""

import numpy as np

from benchmarks.latent_bounds import blocks, pooled, unblocks


def test_blocks_are_one_row_per_10fps_frame_and_come_back_exactly():
    mel = np.random.default_rng(0).normal(size=(160, 24))
    rows = blocks(mel)
    assert rows.shape == (3, 160 * 8)
    assert np.array_equal(rows[1].reshape(160, 8), mel[:, 8:16])  # row 1 is the second 10 fps frame
    assert np.array_equal(unblocks(rows, 160), mel)


def test_pooling_averages_magnitudes_over_runs_of_frames():
    mel = np.log(np.array([[1.0, 3.0, 2.0, 2.0]]))
    assert np.allclose(np.exp(pooled(mel, 2)), [[2.0, 2.0, 2.0, 2.0]])
    assert np.allclose(pooled(mel, 1), mel)
