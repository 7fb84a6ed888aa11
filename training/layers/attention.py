"""Multi-head self-attention with rotary positions.

Shapes: `b` batch, `n` frames, `d` width, `h` heads, `e` head width (`d = h * e`).
"""

import torch
import torch.nn.functional as F
from torch import nn

from training.layers.rope import apply_rope


class SelfAttention(nn.Module):
    """Bidirectional self-attention through `F.scaled_dot_product_attention`.

    SDPA picks a flash / memory-efficient kernel where one exists (MuVi App. A uses flash attention) and
    exports to ONNX as plain MatMul/Softmax. Q, K and V come from one fused projection.

    Args:
        width: Model width `d`.
        heads: Number of heads `h`; must divide `width`.
    """

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not divisible by heads {heads}")
        self.heads = heads
        self.head_dim = width // heads
        self.qkv = nn.Linear(width, 3 * width, bias=False)
        self.out = nn.Linear(width, width, bias=False)

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Attends over the frames of `x`.

        Args:
            x: `(b, n, d)`.
            cos: RoPE table `(n, e)` from `RotaryEmbedding`.
            sin: RoPE table `(n, e)`.
            mask: Optional key padding mask `(b, n)` bool, True for valid frames. Padded frames are never
                attended to, so they cannot change the valid frames' output. Every item needs at least
                one valid frame (an all-False row gives NaN).

        Returns:
            `(b, n, d)`.
        """
        # unflatten/flatten instead of reshape(b, n, ...): no Python ints from shapes, so the traced ONNX
        # graph keeps batch and time dynamic.
        qkv = self.qkv(x).unflatten(-1, (3, self.heads, self.head_dim))  # (b, n, 3, h, e)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (b, h, n, e)
        q = apply_rope(q, cos, sin)
        k = apply_rope(k, cos, sin)
        attn_mask = None if mask is None else mask[:, None, None, :]  # (b, 1, 1, n): broadcast over queries
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)  # (b, h, n, e)
        return self.out(y.transpose(1, 2).flatten(2))
