"""Distances between sets of audio clips, from embeddings or classifier outputs (MuVi Sec. 4.1, App. E).

MuVi computes FAD, FD, KL and IS with the audio evaluation toolkit of Liu et al. 2023 (`audioldm_eval`),
and these functions follow its conventions:
- Fréchet distance between Gaussians fitted to two embedding sets (pytorch-fid's stable form): FAD over
  VGGish embeddings, FD over PANNs CNN14 embeddings.
- KL: the mean over paired clips of KL(reference || generated) between the classifier's class
  distributions, with the generated clip as the approximation of its reference.
- IS: exp(E_x[KL(p(y|x) || p(y))]) over the generated clips (Salimans et al. 2016).

The functions take plain arrays, so they know nothing of the networks; `training.metrics.embeddings`
turns audio into those arrays. Everything is computed in float64.

Shapes: `n` clips (or embeddings), `d` embedding width, `c` classes.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg, special

# Largest imaginary part on the diagonal of sqrtm(sigma1 @ sigma2) accepted as rounding error
# (pytorch-fid's tolerance); a larger one means the covariances are not valid.
_IMAGINARY_TOLERANCE = 1e-3


def gaussian_statistics(embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of an embedding set.

    Args:
        embeddings: ``(n, d)`` with n >= 2.

    Returns:
        ``mu (d,)`` and ``sigma (d, d)``.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"need at least 2 embeddings (n, d) to fit a Gaussian, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("embeddings contain NaN or infinity")
    return x.mean(axis=0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def _sqrtm(a: np.ndarray) -> tuple[np.ndarray, bool]:
    """Matrix square root, and whether `a` was singular (SciPy warns) or the root is not finite."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", linalg.LinAlgWarning)
        root = linalg.sqrtm(a)
    singular = any(issubclass(w.category, linalg.LinAlgWarning) for w in caught)
    return root, singular or not np.isfinite(root).all()


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, *, eps: float = 1e-6
) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    ``d^2 = |mu1 - mu2|^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))``. When the product is singular
    (fewer clips than dimensions) its square root is not finite, and ``eps`` is added to both diagonals;
    the tiny imaginary parts that rounding leaves in the root are dropped. The result is clamped at 0,
    which only ever removes rounding error (the exact value is never negative).

    Args:
        mu1: Mean ``(d,)`` of the first set.
        sigma1: Covariance ``(d, d)`` of the first set.
        mu2: Mean ``(d,)`` of the second set.
        sigma2: Covariance ``(d, d)`` of the second set.
        eps: Diagonal offset used when the product is singular.

    Raises:
        ValueError: Mismatched shapes, or covariances whose product has a genuinely complex root.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(
            f"shapes do not match: mu {mu1.shape} / {mu2.shape}, sigma {sigma1.shape} / {sigma2.shape}"
        )
    diff = mu1 - mu2
    covmean, singular = _sqrtm(sigma1 @ sigma2)
    if singular:
        offset = np.eye(d) * eps
        covmean, _ = _sqrtm((sigma1 + offset) @ (sigma2 + offset))
        if not np.isfinite(covmean).all():
            raise ValueError("covariances are too ill-conditioned for a Fréchet distance")
    if np.iscomplexobj(covmean):
        worst = np.abs(np.diagonal(covmean).imag).max()
        if worst > _IMAGINARY_TOLERANCE:
            raise ValueError(f"covariance product has a complex square root (imaginary part {worst:.3g})")
        covmean = covmean.real
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean)
    return max(float(value), 0.0)


def embedding_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two embedding sets ``(n_a, d)`` and ``(n_b, d)``."""
    return frechet_distance(*gaussian_statistics(a), *gaussian_statistics(b))


def _distributions(p: np.ndarray, name: str) -> np.ndarray:
    """Rows as probability distributions: checked non-negative and finite, scaled to sum to 1."""
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] == 0:
        raise ValueError(f"{name} must be (n, classes) with n >= 1, got shape {p.shape}")
    if not np.isfinite(p).all() or (p < 0).any():
        raise ValueError(f"{name} must be finite and non-negative")
    total = p.sum(axis=1, keepdims=True)
    if (total <= 0).any():
        raise ValueError(f"{name} has a row that sums to 0")
    return p / total


def kl_divergence(reference: np.ndarray, generated: np.ndarray) -> float:
    """Mean over paired rows of KL(reference_i || generated_i), in nats.

    Args:
        reference: ``(n, c)`` class distributions of the reference clips (rows are scaled to sum to 1).
        generated: ``(n, c)`` class distributions of the generated clips, row i paired with reference i.

    Returns:
        The mean divergence; infinite if a generated row gives 0 to a class its reference does not.
    """
    p = _distributions(reference, "reference")
    q = _distributions(generated, "generated")
    if p.shape != q.shape:
        raise ValueError(f"reference {p.shape} and generated {q.shape} must pair row by row")
    with np.errstate(divide="ignore"):
        per_clip = (special.xlogy(p, p) - special.xlogy(p, q)).sum(axis=1)
    return float(per_clip.mean())


def softmax_kl(reference_logits: np.ndarray, generated_logits: np.ndarray) -> float:
    """KL of `kl_divergence` between the softmax distributions of classifier logits ``(n, c)``.

    This is `audioldm_eval`'s "KL" (its ``kullback_leibler_divergence_softmax``), computed from
    log-softmax differences: exact and never infinite. (The toolkit adds 1e-6 to the generated
    probabilities inside the log, which changes the result by less than ``c * 1e-6``.)
    """
    r = np.asarray(reference_logits, dtype=np.float64)
    g = np.asarray(generated_logits, dtype=np.float64)
    if r.ndim != 2 or r.shape != g.shape or r.shape[0] == 0:
        raise ValueError(f"logits must be two equal (n, classes) arrays, got {r.shape} and {g.shape}")
    log_p = special.log_softmax(r, axis=1)
    log_q = special.log_softmax(g, axis=1)
    return float((np.exp(log_p) * (log_p - log_q)).sum(axis=1).mean())


def sigmoid_kl(reference_logits: np.ndarray, generated_logits: np.ndarray, *, eps: float = 1e-6) -> float:
    """`audioldm_eval`'s "KL_sigmoid": ``mean_i sum_c p log(p / (q + eps))`` with p, q the sigmoid outputs.

    PANNs is a multi-label tagger, so its sigmoid outputs do not sum to 1 and this sum is not a divergence
    between distributions (it can be negative). It is given for comparison with papers that report the
    toolkit's sigmoid variant; `softmax_kl` is the proper divergence.
    """
    r = np.asarray(reference_logits, dtype=np.float64)
    g = np.asarray(generated_logits, dtype=np.float64)
    if r.ndim != 2 or r.shape != g.shape or r.shape[0] == 0:
        raise ValueError(f"logits must be two equal (n, classes) arrays, got {r.shape} and {g.shape}")
    p, q = special.expit(r), special.expit(g)
    return float((special.xlogy(p, p) - p * np.log(q + eps)).sum(axis=1).mean())


def inception_score(probabilities: np.ndarray, *, splits: int = 1) -> float:
    """Inception score ``exp(E_x[KL(p(y|x) || p(y))])`` of the generated clips.

    1 when every clip gets the same prediction; ``c`` when the clips are confidently and evenly spread
    over ``c`` classes.

    Args:
        probabilities: ``(n, c)`` class distributions, one row per generated clip (scaled to sum to 1).
        splits: Score consecutive chunks separately and average the scores (`audioldm_eval` uses 10
            shuffled chunks; 1, the default, uses every clip for the marginal ``p(y)``).
    """
    p = _distributions(probabilities, "probabilities")
    if not 1 <= splits <= p.shape[0]:
        raise ValueError(f"splits must be in [1, {p.shape[0]}] (the number of clips), got {splits}")
    scores = []
    for chunk in np.array_split(p, splits):
        marginal = chunk.mean(axis=0, keepdims=True)
        kl = (special.xlogy(chunk, chunk) - special.xlogy(chunk, marginal)).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores))
