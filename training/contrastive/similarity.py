"""Position-aware music-visual similarity (MuVi Sec. 3.2).

MuVi compares a video and a music clip frame by frame: the cosine similarity of the two embeddings at each
time step, averaged over time. Shifting the music therefore changes the score, which a pooled (global)
similarity could not see.

Shapes: ``b`` videos, ``m`` music clips, ``k`` extra negatives per video, ``n`` frames at VIDEO_FPS,
``d`` embedding width. Masks are ``(b, n)`` / ``(m, n)``, bool or 0/1 float, true on valid frames.
"""

import torch
import torch.nn.functional as F
from torch import Tensor

# Guards the norm of an all-zero embedding (e.g. a padded frame); far below any real embedding norm.
_EPS = 1e-6


def unit_frames(x: Tensor, mask: Tensor | None = None) -> Tensor:
    """Unit-normalises each frame embedding and zeroes masked frames, so sums over time skip them.

    Pass the result with ``normalized=True`` to the similarity functions to normalise a tensor once
    when it takes part in several similarities (the loss does this).

    Args:
        x: Embeddings ``(..., n, d)``.
        mask: Optional valid-frame mask ``(..., n)``.
    """
    x = F.normalize(x, dim=-1, eps=_EPS)
    if mask is not None:
        x = x * mask.unsqueeze(-1).to(x.dtype)
    return x


def _check_pair(v: Tensor, a: Tensor) -> None:
    if v.dim() != 3 or a.dim() != 3:
        raise ValueError(f"expected (batch, frames, width), got {tuple(v.shape)} and {tuple(a.shape)}")
    if v.shape[1:] != a.shape[1:]:
        raise ValueError(f"frames and width must match: {tuple(v.shape)} vs {tuple(a.shape)}")


def position_aware_similarity(v: Tensor, a: Tensor, *, mask: Tensor | None = None) -> Tensor:
    """Cosine similarity per time step, averaged over the valid frames, for aligned pairs.

    Args:
        v: Video embeddings ``(b, n, d)``.
        a: Music embeddings ``(b, n, d)``, row ``i`` paired with video ``i``.
        mask: Optional ``(b, n)`` valid-frame mask shared by each pair.

    Returns:
        ``(b,)`` similarities in ``[-1, 1]``.
    """
    if v.shape != a.shape:
        raise ValueError(f"v and a must have the same shape, got {tuple(v.shape)} and {tuple(a.shape)}")
    _check_pair(v, a)
    cos = (unit_frames(v, mask) * unit_frames(a, mask)).sum(-1)  # (b, n), zero on masked frames
    if mask is None:
        return cos.mean(-1)
    return cos.sum(-1) / mask.to(cos.dtype).sum(-1).clamp(min=1.0)


def similarity_matrix(
    v: Tensor,
    a: Tensor,
    *,
    v_mask: Tensor | None = None,
    a_mask: Tensor | None = None,
    normalized: bool = False,
) -> Tensor:
    """Position-aware similarity of every video against every music clip.

    A pair is averaged over the frames valid in both clips. The embeddings are normalised first and the
    time and width axes are contracted in one einsum, which is a single ``(b, n*d) @ (n*d, m)`` matmul:
    no ``(b, m, n)`` intermediate, so a batch of 160 long clips stays cheap.

    Args:
        v: Video embeddings ``(b, n, d)``.
        a: Music embeddings ``(m, n, d)``.
        v_mask: Optional ``(b, n)`` valid-frame mask of the videos.
        a_mask: Optional ``(m, n)`` valid-frame mask of the music.
        normalized: ``v`` and ``a`` already went through ``unit_frames`` with these masks.

    Returns:
        ``(b, m)`` similarities; entry ``[i, j]`` compares video ``i`` with music ``j``.
    """
    _check_pair(v, a)
    if not normalized:
        v, a = unit_frames(v, v_mask), unit_frames(a, a_mask)
    total = torch.einsum("bnd,mnd->bm", v, a)
    if v_mask is None and a_mask is None:
        return total / v.shape[1]
    vm = v.new_ones(v.shape[:2]) if v_mask is None else v_mask.to(v.dtype)
    am = a.new_ones(a.shape[:2]) if a_mask is None else a_mask.to(a.dtype)
    return total / (vm @ am.transpose(0, 1)).clamp(min=1.0)


def paired_negative_similarity(
    v: Tensor, a_neg: Tensor, *, mask: Tensor | None = None, normalized: bool = False
) -> Tensor:
    """Position-aware similarity of each video with its own extra negatives.

    Args:
        v: Video embeddings ``(b, n, d)``.
        a_neg: Negative music embeddings ``(b, k, n, d)``; row ``i`` belongs to video ``i``.
        mask: Optional ``(b, n)`` valid-frame mask of each video, shared by its negatives (they are built
            from the positive's waveform, so they have its length).
        normalized: ``v`` (with ``mask``) and ``a_neg`` already went through ``unit_frames``.

    Returns:
        ``(b, k)`` similarities.
    """
    if a_neg.dim() != 4 or a_neg.shape[0] != v.shape[0] or a_neg.shape[2:] != v.shape[1:]:
        raise ValueError(f"a_neg must be (b, k, n, d) matching v {tuple(v.shape)}, got {tuple(a_neg.shape)}")
    if not normalized:
        # Masking v alone is enough: the product is zero on v's masked frames whatever a_neg holds.
        v, a_neg = unit_frames(v, mask), unit_frames(a_neg)
    total = torch.einsum("bnd,bknd->bk", v, a_neg)
    if mask is None:
        return total / v.shape[1]
    return total / mask.to(total.dtype).sum(-1, keepdim=True).clamp(min=1.0)
