"""Rotary position embedding with real cos/sin tables (RoFormer, Su et al. 2023; MuVi App. A).

Shapes: `n` positions, `h` heads, `e` head width (even).

Real-valued on purpose: complex dtypes do not export to ONNX, and the tables are computed from the
sequence length at call time, so any length works, including lengths never seen in training.
"""

import torch
from torch import nn


class RotaryEmbedding(nn.Module):
    """Builds the cos/sin tables for `n` positions.

    Uses the "rotate half" layout (GPT-NeoX / LLaMA in transformers): channel `i` of the first half is
    rotated together with channel `i` of the second half.

    Args:
        head_dim: Width of one attention head; must be even.
        theta: Base of the geometric frequency ladder.
    """

    def __init__(self, head_dim: int, *, theta: float = 10000.0) -> None:
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"RoPE needs an even head width, got {head_dim}")
        inv_freq = theta ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        # Not persistent: derived from the config, so checkpoints need not carry it.
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Tables for the sequence axis of `x`.

        Args:
            x: Any tensor `(b, n, ...)`; only its length `n` (axis 1) and device are used. Taking the
                length from a tensor, not an int, keeps the time axis dynamic in a traced ONNX graph.

        Returns:
            `(cos, sin)`, each `(n, e)` float32.
        """
        positions = torch.arange(x.shape[1], device=x.device, dtype=torch.float32)
        angles = positions[:, None] * self.inv_freq[None, :]
        angles = torch.cat([angles, angles], dim=-1)
        return angles.cos(), angles.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """`(x1, x2) -> (-x2, x1)` over the two halves of the last axis."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotates queries or keys `x` `(b, h, n, e)` by the tables `(n, e)`; computed in fp32, cast back."""
    x32 = x.float()
    return (x32 * cos + rotate_half(x32) * sin).to(x.dtype)
