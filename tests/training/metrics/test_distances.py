import math

import numpy as np
import pytest
from scipy import special

from training.metrics.distances import (
    embedding_distance,
    frechet_distance,
    gaussian_statistics,
    inception_score,
    kl_divergence,
    sigmoid_kl,
    softmax_kl,
)


def test_frechet_distance_of_a_set_with_itself_is_zero():
    x = np.random.default_rng(0).standard_normal((200, 16))
    assert embedding_distance(x, x) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_of_diagonal_gaussians_is_the_closed_form():
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.5])
    s1, s2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    # = 7.25 + (4 + 1 + 0) by hand
    assert expected == pytest.approx(12.25)
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, rel=1e-10)


def test_frechet_distance_of_rotated_gaussians_is_the_closed_form():
    """sigma2 = R sigma1 R^T does not commute with sigma1; the trace term still has a closed form in 2-D:
    Tr sqrt(A) = sqrt(Tr A + 2 sqrt(det A)) for a 2x2 matrix A with positive eigenvalues."""
    rotation = np.array([[np.cos(0.7), -np.sin(0.7)], [np.sin(0.7), np.cos(0.7)]])
    sigma1 = np.diag([4.0, 1.0])
    sigma2 = rotation @ sigma1 @ rotation.T
    product = sigma1 @ sigma2
    trace_root = math.sqrt(np.trace(product) + 2 * math.sqrt(np.linalg.det(product)))
    expected = 1.0 + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_root  # |mu1 - mu2|^2 = 1
    assert frechet_distance([0.0, 0.0], sigma1, [1.0, 0.0], sigma2) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_of_samples_approaches_that_of_their_gaussians():
    rng = np.random.default_rng(1)
    a = rng.normal([0.0, 0.0, 0.0], [1.0, 2.0, 0.5], size=(40_000, 3))
    b = rng.normal([1.0, 0.0, 0.0], [1.0, 1.0, 0.5], size=(40_000, 3))
    assert embedding_distance(a, b) == pytest.approx(1.0 + 1.0, abs=0.05)  # |dmu|^2 + (2 - 1)^2


def test_gaussian_statistics_are_the_unbiased_mean_and_covariance():
    x = np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 4.0]])
    mu, sigma = gaussian_statistics(x)
    assert mu == pytest.approx([2.0, 2.0])
    assert sigma == pytest.approx(np.cov(x.T))
    with pytest.raises(ValueError, match="at least 2"):
        gaussian_statistics(x[:1])
    with pytest.raises(ValueError, match="NaN"):
        gaussian_statistics(np.array([[0.0, np.nan], [1.0, 1.0]]))


def test_frechet_distance_with_fewer_clips_than_dimensions_is_finite():
    rng = np.random.default_rng(2)
    value = embedding_distance(rng.standard_normal((5, 32)), rng.standard_normal((5, 32)) + 3.0)
    assert math.isfinite(value) and value > 32 * 9 * 0.5  # dominated by the mean shift of 3 per dimension


def test_frechet_distance_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="shapes"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


def test_kl_of_identical_distributions_is_zero():
    p = np.array([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]])
    assert kl_divergence(p, p) == pytest.approx(0.0, abs=1e-15)


def test_kl_of_a_known_pair():
    reference = np.array([[0.5, 0.5], [1.0, 0.0]])
    generated = np.array([[0.25, 0.75], [0.5, 0.5]])
    by_hand = (0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75) + math.log(1.0 / 0.5)) / 2
    assert kl_divergence(reference, generated) == pytest.approx(by_hand, rel=1e-12)
    # Rows are scaled to sum to 1 first: counts give the same answer.
    assert kl_divergence(reference * 4, generated * 8) == pytest.approx(by_hand, rel=1e-12)


def test_kl_is_infinite_where_the_generated_misses_a_reference_class():
    assert kl_divergence([[0.5, 0.5]], [[1.0, 0.0]]) == math.inf
    assert kl_divergence([[1.0, 0.0]], [[0.5, 0.5]]) == pytest.approx(math.log(2))


def test_softmax_kl_is_kl_of_the_softmax_distributions():
    rng = np.random.default_rng(3)
    r, g = rng.standard_normal((4, 10)), rng.standard_normal((4, 10))
    assert softmax_kl(r, r) == pytest.approx(0.0, abs=1e-12)
    expected = kl_divergence(special.softmax(r, axis=1), special.softmax(g, axis=1))
    assert softmax_kl(r, g) == pytest.approx(expected, rel=1e-10)


def test_sigmoid_kl_of_a_known_pair():
    reference, generated = np.array([[0.0, math.log(3.0)]]), np.array([[0.0, 0.0]])  # sigmoids .5 .75 / .5 .5
    by_hand = 0.5 * math.log(0.5 / (0.5 + 1e-6)) + 0.75 * math.log(0.75 / (0.5 + 1e-6))
    assert sigmoid_kl(reference, generated) == pytest.approx(by_hand, rel=1e-9)


def test_inception_score_of_one_prediction_for_all_is_one():
    assert inception_score(np.full((6, 5), 0.2)) == pytest.approx(1.0)
    assert inception_score(np.tile([0.7, 0.2, 0.1], (4, 1))) == pytest.approx(1.0)


@pytest.mark.parametrize("n", [2, 5, 10])
def test_inception_score_of_n_confident_distinct_classes_is_n(n):
    assert inception_score(np.eye(n)) == pytest.approx(n)
    assert inception_score(np.eye(n)[:, :] * 0.999 + 0.001 / n) < n  # less confident, lower


def test_inception_score_splits_average_the_chunks():
    p = np.vstack([np.eye(2), np.eye(2)])  # each chunk of two has IS 2
    assert inception_score(p, splits=2) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="splits"):
        inception_score(p, splits=5)
