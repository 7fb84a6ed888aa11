"""The MuVi velocity-field estimator: a DiT over the music latent (MuVi Sec. 3.3, App. A).

Shapes: `b` batch, `n` latent frames (10 per second), `C` latent channels, `d` width, `f` sinusoidal time
features.

The network is split like MMAudio's: `condition` runs once per clip, `velocity` once per ODE step. The two
become two ONNX graphs and the Euler loop stays outside them (`training.flow_matching`,
`muvi_plugin.sampler`).
"""

import math
from dataclasses import dataclass

import torch
from torch import nn

from muvi_plugin.constants import LATENT_CHANNELS
from training.layers.attention import SelfAttention
from training.layers.mlp import MLP
from training.layers.norm import RMSNorm
from training.layers.rope import RotaryEmbedding


@dataclass(frozen=True)
class DiTConfig:
    """Size of the DiT.

    Attributes:
        width: Model width `d`; the visual adaptor outputs this width too.
        depth: Number of transformer blocks.
        heads: Attention heads; must divide `width`, with an even head width (RoPE).
        latent_channels: Channels `C` of the music latent (MuVi App. B: 8).
        mlp_ratio: Inner width of the MLP as a multiple of `width`.
        rope_theta: RoPE frequency base.
        time_features: Number `f` of sinusoidal features of the time before its MLP.
        time_scale: Time in [0, 1] is multiplied by this before the sinusoids, so that the usual
            frequency ladder (made for integer diffusion steps) resolves small differences in t.
        norm_eps: RMSNorm epsilon.
    """

    width: int
    depth: int
    heads: int
    latent_channels: int = LATENT_CHANNELS
    mlp_ratio: float = 4.0
    rope_theta: float = 10000.0
    time_features: int = 256
    time_scale: float = 1000.0
    norm_eps: float = 1e-6

    def __post_init__(self) -> None:
        for name in ("width", "depth", "heads", "latent_channels", "time_features"):
            if getattr(self, name) < 1:
                raise ValueError(f"DiTConfig.{name} must be positive, got {getattr(self, name)}")
        if self.width % self.heads:
            raise ValueError(f"DiTConfig.width {self.width} is not divisible by heads {self.heads}")
        if self.head_dim % 2:
            raise ValueError(f"DiTConfig head width {self.head_dim} must be even for RoPE")
        if self.time_features % 2:
            raise ValueError(f"DiTConfig.time_features must be even, got {self.time_features}")
        for name in ("mlp_ratio", "rope_theta", "time_scale", "norm_eps"):
            if getattr(self, name) <= 0:
                raise ValueError(f"DiTConfig.{name} must be positive, got {getattr(self, name)}")

    @property
    def head_dim(self) -> int:
        """Width of one attention head."""
        return self.width // self.heads

    @property
    def mlp_hidden(self) -> int:
        """Inner width of the MLP."""
        return int(round(self.width * self.mlp_ratio))


DEBUG = DiTConfig(width=64, depth=2, heads=4)
DEMO = DiTConfig(width=256, depth=6, heads=4)
# MuVi App. A, Table 6.
SMALL = DiTConfig(width=768, depth=12, heads=16)
BASE = DiTConfig(width=1024, depth=12, heads=16)
LARGE = DiTConfig(width=1280, depth=16, heads=16)
PRESETS: dict[str, DiTConfig] = {"debug": DEBUG, "demo": DEMO, "small": SMALL, "base": BASE, "large": LARGE}


class TimeEmbedding(nn.Module):
    """Per-frame time `(b, n)` -> `(b, n, d)`: sinusoids of `t * time_scale`, then Linear-SiLU-Linear."""

    def __init__(self, config: DiTConfig) -> None:
        super().__init__()
        half = config.time_features // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
        self.register_buffer("freqs", freqs, persistent=False)
        self.time_scale = config.time_scale
        self.mlp = nn.Sequential(
            nn.Linear(config.time_features, config.width),
            nn.SiLU(),
            nn.Linear(config.width, config.width),
        )

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        angles = (t.float() * self.time_scale)[..., None] * self.freqs  # (b, n, f/2)
        return self.mlp(torch.cat([angles.cos(), angles.sin()], dim=-1))


class DiTBlock(nn.Module):
    """Pre-norm block: x + attn(norm(x)), then x + mlp(norm(x)); the residual stream stays fp32."""

    def __init__(self, config: DiTConfig) -> None:
        super().__init__()
        self.attn_norm = RMSNorm(config.width, eps=config.norm_eps)
        self.attn = SelfAttention(config.width, config.heads)
        self.mlp_norm = RMSNorm(config.width, eps=config.norm_eps)
        self.mlp = MLP(config.width, config.mlp_hidden)

    def forward(
        self, h: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        # MuVi App. A: residual additions in fp32 even when the branches run in bf16 under autocast.
        h = h + self.attn(self.attn_norm(h), cos, sin, mask).float()
        return h + self.mlp(self.mlp_norm(h)).float()


class DiT(nn.Module):
    """Velocity field `v(x_t, t, c)` over the music latent (MuVi Sec. 3.3).

    Args:
        config: The size; kept as `self.config` so checkpoints can store `dataclasses.asdict(config)`.
    """

    def __init__(self, config: DiTConfig) -> None:
        super().__init__()
        self.config = config
        d = config.width
        self.cond_proj = nn.Linear(d, d)
        # MuVi Sec. 3.3: a learnable embedding, repeated over time, stands in for the visual condition in
        # the unconditional model and for classifier-free guidance.
        self.uncond = nn.Parameter(torch.zeros(d))
        self.latent_proj = nn.Linear(config.latent_channels, d)
        self.time_embed = TimeEmbedding(config)
        self.rope = RotaryEmbedding(config.head_dim, theta=config.rope_theta)
        self.blocks = nn.ModuleList(DiTBlock(config) for _ in range(config.depth))
        self.final_norm = RMSNorm(d, eps=config.norm_eps)
        self.out_proj = nn.Linear(d, config.latent_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """GPT-2-style init; the output projection starts at zero so the initial velocity is zero."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        # Residual branch outputs scaled down with depth (GPT-2), so the fp32 stream does not grow with it.
        for block in self.blocks:
            for linear in (block.attn.out, block.mlp.fc_out):
                nn.init.normal_(linear.weight, std=0.02 / math.sqrt(2 * self.config.depth))
        nn.init.normal_(self.uncond, std=0.02)
        nn.init.zeros_(self.out_proj.weight)
        nn.init.zeros_(self.out_proj.bias)

    def condition(
        self,
        cond: torch.Tensor | None,
        *,
        n_frames: int | None = None,
        batch: int = 1,
        drop: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Condition path, computed once per clip.

        Args:
            cond: Visual adaptor output `(b, n, d)`, or None for the unconditional model.
            n_frames: Length `n` when `cond` is None.
            batch: Batch size `b` when `cond` is None.
            drop: Optional bool mask, True where the learnable unconditional embedding replaces the
                condition: `(b,)` per item (classifier-free guidance training drops with p = 0.2, MuVi
                App. B; the caller draws it) or `(b, n)` per frame (e.g. in-context frames, which need no
                condition, MuVi Sec. 4.3).

        Returns:
            `c` `(b, n, d)`.
        """
        if cond is None:
            if n_frames is None:
                raise ValueError("condition(None) needs n_frames")
            return self.uncond.expand(batch, n_frames, -1)
        c = self.cond_proj(cond)
        if drop is None:
            return c
        if drop.dim() == 1:
            drop = drop[:, None]
        return torch.where(drop[..., None], self.uncond.to(c.dtype), c)

    def velocity(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        c: torch.Tensor,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Velocity path, run once per ODE step.

        Args:
            x_t: Noisy latent `(b, n, C)`.
            t: Time per frame `(b, n)` in [0, 1] (in-context frames carry t = 1); `(b,)` is broadcast over
                the frames.
            c: Output of `condition`, `(b, n, d)`.
            mask: Optional key padding mask `(b, n)` bool, True for valid frames.

        Returns:
            Velocity `(b, n, C)` in float32.
        """
        if t.dim() == 1:
            t = t[:, None].expand(-1, x_t.shape[1])
        # MuVi Sec. 3.3: condition, latent and time projected to the width and summed element-wise, so
        # frame i of the video lines up with frame i of the music.
        h = self.latent_proj(x_t).float() + self.time_embed(t).float() + c.float()
        cos, sin = self.rope(x_t)
        for block in self.blocks:
            h = block(h, cos, sin, mask)
        return self.out_proj(self.final_norm(h)).float()

    def forward(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        cond: torch.Tensor | None,
        *,
        drop: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """`velocity(x_t, t, condition(cond, drop=drop), mask)`; with `cond` None, the unconditional model."""
        c = self.condition(cond, n_frames=x_t.shape[1], batch=x_t.shape[0], drop=drop)
        return self.velocity(x_t, t, c, mask)


def parameter_count(config: DiTConfig) -> int:
    """Number of parameters of `DiT(config)`, counted on the meta device (nothing is allocated)."""
    with torch.device("meta"):
        model = DiT(config)
    return sum(p.numel() for p in model.parameters())


__all__ = [
    "BASE",
    "DEBUG",
    "DEMO",
    "LARGE",
    "PRESETS",
    "SMALL",
    "DiT",
    "DiTBlock",
    "DiTConfig",
    "TimeEmbedding",
    "parameter_count",
]
