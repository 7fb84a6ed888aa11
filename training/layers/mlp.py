"""Transformer feed-forward block."""

import torch
from torch import nn


class MLP(nn.Module):
    """Linear -> GELU -> Linear, without biases (LLaMA-style blocks, MuVi App. A).

    Args:
        width: Input and output width.
        hidden: Inner width (the DiT uses `mlp_ratio * width`).
    """

    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.fc_in = nn.Linear(width, hidden, bias=False)
        self.act = nn.GELU()
        self.fc_out = nn.Linear(hidden, width, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(..., width) -> (..., width)`."""
        return self.fc_out(self.act(self.fc_in(x)))
