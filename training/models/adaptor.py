"""Visual adaptor: per-frame patch grids -> one condition vector per latent frame (MuVi Sec. 3.1, App. A).

A 2D convolution with stride 2 halves the patch grid (14x14 -> 7x7) and maps it to the DiT width, a
compressor reduces each frame to one vector, a linear layer outputs it, and linear resampling along time
gives the latent length (MuVi App. F). Compressors: gated aggregation with a Softmax or normalised Sigmoid
gate, attention pooling with the CLS token as query, mean pooling, CLS pooling.

Shapes: `b` batch, `t` frames, `h w` patch grid, `c` encoder width, `d` adaptor width, `g` gate groups,
`p` pooled patches (h/2 * w/2), `n` output length.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from training.models import visual_encoder
from training.models.visual_encoder import PatchFeatures, VisualEncoder, VisualEncoderConfig

MODES = ("softmax", "sigmoid", "attention", "mean", "cls")
_CLS_MODES = ("attention", "cls")


@dataclass(frozen=True)
class AdaptorConfig:
    """Visual adaptor geometry.

    Args:
        in_dim: Encoder feature width `c`.
        grid: Encoder patch grid (h, w); both even, since the first convolution has stride 2.
        width: Adaptor width `d`; MuVi App. A: every hidden size of the adaptor equals the DiT width.
        mode: Compressor: "softmax", "sigmoid" (gated aggregation), "attention", "mean" or "cls".
        groups: Gate filters = weight groups of gated aggregation (MuVi App. A: 4).
        heads: Heads of attention pooling (MuVi App. A: 4).
        gate_kernel: Kernel of the gating convolution (MuVi App. A: 3).
    """

    in_dim: int
    grid: tuple[int, int]
    width: int
    mode: str = "softmax"
    groups: int = 4
    heads: int = 4
    gate_kernel: int = 3

    def __post_init__(self):
        object.__setattr__(self, "grid", tuple(int(v) for v in self.grid))
        if self.mode not in MODES:
            raise ValueError(f"unknown adaptor mode {self.mode!r}; expected one of {MODES}")
        if len(self.grid) != 2 or min(self.grid) < 2 or self.grid[0] % 2 or self.grid[1] % 2:
            raise ValueError(
                f"the patch grid must be two even sizes >= 2 (stride-2 downsampling), got {self.grid}"
            )
        if min(self.in_dim, self.width, self.groups, self.heads) < 1:
            raise ValueError("in_dim, width, groups and heads must be positive")
        if self.mode == "attention" and self.width % self.heads:
            raise ValueError(f"width {self.width} is not divisible by {self.heads} heads")
        if self.gate_kernel % 2 == 0:
            raise ValueError(f"gate_kernel must be odd, got {self.gate_kernel}")

    @property
    def needs_cls(self) -> bool:
        return self.mode in _CLS_MODES

    @property
    def pooled_grid(self) -> tuple[int, int]:
        """Grid after the stride-2 convolution."""
        return (self.grid[0] // 2, self.grid[1] // 2)


def adaptor_config_for(
    encoder: VisualEncoder | VisualEncoderConfig, *, width: int, mode: str = "softmax"
) -> AdaptorConfig:
    """An adaptor config matching `encoder`'s feature width and grid.

    Raises:
        ValueError: If `mode` needs a CLS token and the encoder has none.
    """
    if mode in _CLS_MODES and not encoder.has_cls:
        kind = encoder.kind if isinstance(encoder, VisualEncoderConfig) else encoder.config.kind
        raise ValueError(f"adaptor mode {mode!r} needs a CLS token, and the {kind!r} encoder has none")
    return AdaptorConfig(in_dim=encoder.feature_dim, grid=encoder.grid, width=width, mode=mode)


# Widths follow the DiT presets (MuVi Table 6: small 768, base 1024, large 1280).
DEBUG = adaptor_config_for(visual_encoder.DEBUG, width=64)
DEMO = adaptor_config_for(visual_encoder.DEMO, width=256)
SMALL = adaptor_config_for(visual_encoder.SMALL, width=768)
BASE = adaptor_config_for(visual_encoder.BASE, width=1024)
LARGE = adaptor_config_for(visual_encoder.LARGE, width=1280)
PRESETS: dict[str, AdaptorConfig] = {
    "debug": DEBUG,
    "demo": DEMO,
    "small": SMALL,
    "base": BASE,
    "large": LARGE,
}


def resample_time(x: torch.Tensor, n_out: int | torch.Tensor) -> torch.Tensor:
    """Linearly resample along time: (b, n, d) -> (b, n_out, d) (MuVi App. F).

    Equal to `F.interpolate(mode="linear", align_corners=False)`, but written as a gather and a lerp on
    tensors so an ONNX export keeps both lengths dynamic: `n_out` may be a 0-d int64 tensor (a graph input).
    """
    n_out = torch.as_tensor(n_out, device=x.device)
    # The input length as a tensor (not a Python int, which tracing would freeze into the graph).
    n_in = torch.ones_like(x[0, :, 0]).sum()
    dst = torch.arange(n_out, device=x.device).to(x.dtype)
    src = ((dst + 0.5) * (n_in / n_out.to(x.dtype)) - 0.5).clamp(min=0)
    lower = src.floor()
    frac = (src - lower).unsqueeze(-1)
    last = (n_in - 1).long()
    i0 = torch.minimum(lower.long(), last)
    i1 = torch.minimum(i0 + 1, last)
    return x[:, i0] * (1 - frac) + x[:, i1] * frac


class VisualAdaptor(nn.Module):
    """Compress PatchFeatures (b, t, h, w, c) to a condition sequence (b, n, d)."""

    def __init__(self, config: AdaptorConfig):
        super().__init__()
        self.config = config
        d = config.width
        if config.mode != "cls":  # CLS pooling feeds the CLS token straight to the output layer
            self.down = nn.Conv2d(config.in_dim, d, kernel_size=2, stride=2)
        if config.mode in ("softmax", "sigmoid"):
            self.gate = nn.Conv2d(d, config.groups, config.gate_kernel, padding=config.gate_kernel // 2)
        if config.mode == "attention":
            self.query = nn.Linear(config.in_dim, d)
            self.key = nn.Linear(d, d)
            self.value = nn.Linear(d, d)
        self.out = nn.Linear(config.in_dim if config.mode == "cls" else d, d)

    def _check(self, features: PatchFeatures) -> None:
        patches, (h, w) = features.patches, self.config.grid
        if patches.dim() != 5 or tuple(patches.shape[2:]) != (h, w, self.config.in_dim):
            raise ValueError(
                f"expected patches (b, t, {h}, {w}, {self.config.in_dim}), got {tuple(patches.shape)}"
            )
        if self.config.needs_cls and features.cls is None:
            raise ValueError(f"adaptor mode {self.config.mode!r} needs the encoder's CLS token, got cls=None")

    def _downsample(self, patches: torch.Tensor) -> torch.Tensor:
        """(b, t, h, w, c) -> (b * t, d, h/2, w/2)."""
        return self.down(patches.flatten(0, 1).permute(0, 3, 1, 2))

    def _gate(self, x: torch.Tensor) -> torch.Tensor:
        """Gate weights (b * t, g, p) from the downsampled grid; each group sums to 1 over the patches."""
        logits = self.gate(x).flatten(2)
        if self.config.mode == "softmax":
            return logits.softmax(dim=-1)
        # MuVi App. A: Sigmoid weights are divided by their sum so each group's weights sum to 1.
        weights = logits.sigmoid()
        return weights / weights.sum(dim=-1, keepdim=True)

    def gate_weights(self, features: PatchFeatures) -> torch.Tensor:
        """The gated-aggregation weights (b, t, g, p), for inspection (MuVi Fig. 2)."""
        if self.config.mode not in ("softmax", "sigmoid"):
            raise ValueError(f"adaptor mode {self.config.mode!r} has no gate")
        self._check(features)
        b, t = features.patches.shape[:2]
        weights = self._gate(self._downsample(features.patches))
        return weights.reshape(b, t, *weights.shape[1:])

    def _compress(self, features: PatchFeatures) -> torch.Tensor:
        """One vector per frame: (b * t, d), or (b * t, c) for CLS pooling."""
        mode = self.config.mode
        if mode == "cls":
            return features.cls.flatten(0, 1)
        x = self._downsample(features.patches)
        values = x.flatten(2)  # (b * t, d, p)
        if mode == "mean":
            return values.mean(dim=-1)
        if mode == "attention":
            return self._attention_pool(features.cls.flatten(0, 1), values.transpose(1, 2))
        # Gated aggregation: one weighted average per group, then the mean of the groups.
        weights = self._gate(x)  # (b * t, g, p)
        return torch.einsum("ndp,ngp->nd", values, weights) / self.config.groups

    def _attention_pool(self, cls: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """The CLS token (b * t, c) queries the downsampled patches (b * t, p, d) with `heads` heads."""
        n, p, d = tokens.shape
        heads = self.config.heads
        q = self.query(cls).reshape(n, heads, 1, d // heads)
        k = self.key(tokens).reshape(n, p, heads, d // heads).transpose(1, 2)
        v = self.value(tokens).reshape(n, p, heads, d // heads).transpose(1, 2)
        return F.scaled_dot_product_attention(q, k, v).reshape(n, d)

    def forward(self, features: PatchFeatures, *, n_out: int | torch.Tensor | None = None) -> torch.Tensor:
        """Compress every frame and resample to `n_out` frames.

        Args:
            features: Encoder output with `t` frames.
            n_out: Output length (the latent length); None keeps `t`. An int or a 0-d int64 tensor.

        Returns:
            (b, n_out, d) condition sequence.
        """
        self._check(features)
        b, t = features.patches.shape[:2]
        y = self.out(self._compress(features)).reshape(b, t, self.config.width)
        return y if n_out is None else resample_time(y, n_out)


def build_adaptor(config: AdaptorConfig) -> VisualAdaptor:
    """Build a randomly initialised adaptor."""
    return VisualAdaptor(config)
