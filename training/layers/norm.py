"""RMS normalisation computed in fp32 (MuVi App. A, after LLaMA)."""

import torch
from torch import nn


class RMSNorm(nn.Module):
    """Root-mean-square layer norm with a learnable gain and no bias (Zhang & Sennrich, 2019).

    MuVi App. A: under bf16 mixed precision, normalisation runs in fp32; the result is cast back to the
    input's dtype, so an fp32 residual stream stays fp32 and a bf16 input stays bf16.

    Args:
        dim: Size of the last axis, the one normalised.
        eps: Added to the mean square before the square root.
    """

    def __init__(self, dim: int, *, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise `x` `(..., dim)` over its last axis; same shape and dtype out."""
        x32 = x.float()
        y = x32 * torch.rsqrt(x32.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return (y * self.weight.float()).to(x.dtype)
