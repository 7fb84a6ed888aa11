import pytest
import torch

from training.contrastive.similarity import (
    paired_negative_similarity,
    position_aware_similarity,
    similarity_matrix,
)


def _randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_identical_sequences_have_similarity_one() -> None:
    v = _randn(3, 7, 5)
    torch.testing.assert_close(position_aware_similarity(v, v), torch.ones(3))
    # Scaling a frame does not change its cosine.
    torch.testing.assert_close(position_aware_similarity(v, 2.5 * v), torch.ones(3))


def test_opposite_sequences_have_similarity_minus_one() -> None:
    v = _randn(2, 4, 6)
    torch.testing.assert_close(position_aware_similarity(v, -v), -torch.ones(2))


def test_similarity_is_the_time_average_of_frame_cosines() -> None:
    v, a = _randn(2, 5, 4, seed=1), _randn(2, 5, 4, seed=2)
    expected = torch.nn.functional.cosine_similarity(v, a, dim=-1).mean(-1)
    torch.testing.assert_close(position_aware_similarity(v, a), expected)


def test_similarity_is_position_aware() -> None:
    # The same set of frames in another order is a different sequence: a global pooling would call them
    # equal, the position-aware similarity must not.
    v = _randn(1, 8, 16)
    shifted = torch.roll(v, shifts=3, dims=1)
    assert position_aware_similarity(v, shifted).item() < 0.5


def test_mask_ignores_padded_frames() -> None:
    v, a = _randn(2, 6, 4, seed=3), _randn(2, 6, 4, seed=4)
    mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    garbage = a.clone()
    garbage[0, 4:] = 1e3 * _randn(2, 4, seed=5)
    sims = position_aware_similarity(v, garbage, mask=mask)
    torch.testing.assert_close(sims[0], position_aware_similarity(v[:1, :4], a[:1, :4])[0])
    torch.testing.assert_close(sims[1], position_aware_similarity(v[1:], garbage[1:])[0])


def test_matrix_matches_pairwise_similarity() -> None:
    v, a = _randn(3, 5, 4, seed=6), _randn(4, 5, 4, seed=7)
    matrix = similarity_matrix(v, a)
    assert matrix.shape == (3, 4)
    for i in range(3):
        for j in range(4):
            torch.testing.assert_close(matrix[i, j], position_aware_similarity(v[i : i + 1], a[j : j + 1])[0])


def test_matrix_with_masks_averages_over_frames_valid_in_both() -> None:
    v, a = _randn(2, 6, 4, seed=8), _randn(3, 6, 4, seed=9)
    v_mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]], dtype=torch.bool)
    a_mask = torch.tensor([[1, 1, 1, 1, 1, 0], [1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    matrix = similarity_matrix(v, a, v_mask=v_mask, a_mask=a_mask)
    for i in range(2):
        for j in range(3):
            both = v_mask[i] & a_mask[j]
            expected = position_aware_similarity(v[i : i + 1, both], a[j : j + 1, both])[0]
            torch.testing.assert_close(matrix[i, j], expected)


def test_paired_negative_similarity_matches_per_negative_similarity() -> None:
    v, a_neg = _randn(3, 5, 4, seed=10), _randn(3, 2, 5, 4, seed=11)
    mask = torch.ones(3, 5, dtype=torch.bool)
    mask[1, 3:] = False
    sims = paired_negative_similarity(v, a_neg, mask=mask)
    assert sims.shape == (3, 2)
    for k in range(2):
        torch.testing.assert_close(sims[:, k], position_aware_similarity(v, a_neg[:, k], mask=mask))


def test_mismatched_shapes_raise() -> None:
    with pytest.raises(ValueError, match="same shape"):
        position_aware_similarity(_randn(2, 5, 4), _randn(2, 6, 4))
    with pytest.raises(ValueError, match="frames and width"):
        similarity_matrix(_randn(2, 5, 4), _randn(3, 5, 8))
    with pytest.raises(ValueError, match="a_neg"):
        paired_negative_similarity(_randn(2, 5, 4), _randn(3, 1, 5, 4))
