"""1D mel VAE: Stable Diffusion's KL autoencoder made one-dimensional (MuVi App. A/B).

Shapes: `b` batch, `m` mel bands, `t` mel frames, `c` latent channels, `n` latent frames (`t / 8`),
`d` conv width.

MuVi App. A: "we use 1D convolution layers instead of 2D and drop the attention layers to support
arbitrary-length input"; channels 256 x [1, 2, 4, 8], 8 latent channels. App. B: temporal compression 8
(three stride-2 downsamplings), KL penalty. 160 mel bands at 80 frames/s -> 8 channels at 10 frames/s.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from muvi_plugin.constants import LATENT_CHANNELS, LATENT_DOWNSAMPLE, N_MELS


@dataclass(frozen=True)
class VAEConfig:
    """Sizes of the 1D VAE.

    Attributes:
        n_mels: Mel bands in and out.
        latent_channels: Channels of the latent (MuVi App. B: 8).
        base_channels: Width of the first level (MuVi App. A: 256).
        channel_mult: Width multiplier per level; a stride-2 downsampling between consecutive levels.
        num_res_blocks: Residual blocks per encoder level (the decoder has one more, as in SD).
        norm_groups: GroupNorm groups; must divide every level's width.
        dropout: Dropout inside residual blocks.
    """

    n_mels: int = N_MELS
    latent_channels: int = LATENT_CHANNELS
    base_channels: int = 256
    channel_mult: tuple[int, ...] = (1, 2, 4, 8)
    num_res_blocks: int = 2
    norm_groups: int = 32
    dropout: float = 0.0

    def __post_init__(self) -> None:
        # Checkpoints store asdict(config); JSON turns tuples into lists.
        object.__setattr__(self, "channel_mult", tuple(int(m) for m in self.channel_mult))
        if min(self.n_mels, self.latent_channels, self.base_channels, self.num_res_blocks) < 1:
            raise ValueError(f"VAEConfig: sizes must be positive, got {self}")
        if not self.channel_mult or min(self.channel_mult) < 1:
            raise ValueError(f"VAEConfig: channel_mult must be positive integers, got {self.channel_mult}")
        if self.downsample > LATENT_DOWNSAMPLE:
            # Training segments are whole 10 fps frames (LATENT_DOWNSAMPLE mel frames each); a latent frame
            # must not straddle two. Finer latents (downsample 4: 20 frames/s) train and export as VAEs, but
            # the DiT stages take 10 fps latents only (their condition is one video frame per latent frame).
            raise ValueError(
                f"VAEConfig: {len(self.channel_mult)} levels downsample by {self.downsample}, more than the "
                f"{LATENT_DOWNSAMPLE} mel frames of one 10 fps frame; use at most "
                f"{LATENT_DOWNSAMPLE.bit_length()} levels"
            )
        bad = [w for w in self.widths if w % self.norm_groups]
        if self.norm_groups < 1 or bad:
            raise ValueError(f"VAEConfig: norm_groups={self.norm_groups} must divide every width, not {bad}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"VAEConfig: dropout must be in [0, 1), got {self.dropout}")

    @property
    def widths(self) -> tuple[int, ...]:
        """Conv width of each level."""
        return tuple(self.base_channels * m for m in self.channel_mult)

    @property
    def downsample(self) -> int:
        """Mel frames per latent frame."""
        return 2 ** (len(self.channel_mult) - 1)


DEBUG = VAEConfig(base_channels=8, channel_mult=(1, 2, 4, 8), num_res_blocks=1, norm_groups=4)
DEMO = VAEConfig(base_channels=32, channel_mult=(1, 2, 4, 8), num_res_blocks=1, norm_groups=16)
# MuVi App. A gives one VAE (256 x [1, 2, 4, 8]); the small/base/large model sizes differ in the DiT only.
SMALL = VAEConfig()
BASE = VAEConfig()
LARGE = VAEConfig()
PRESETS: dict[str, VAEConfig] = {"debug": DEBUG, "demo": DEMO, "small": SMALL, "base": BASE, "large": LARGE}


class DiagonalGaussian:
    """The encoder's posterior `N(mean, exp(logvar))`, independent per channel and frame.

    Args:
        moments: `(b, 2c, n)`: the mean, then the log-variance, along the channel axis.
    """

    def __init__(self, moments: torch.Tensor) -> None:
        mean, logvar = moments.chunk(2, dim=1)
        self.mean = mean  # (b, c, n)
        # As in SD's DiagonalGaussianDistribution: keeps exp() finite early in training.
        self.logvar = torch.clamp(logvar, -30.0, 20.0)  # (b, c, n)

    @property
    def std(self) -> torch.Tensor:
        """Standard deviation `(b, c, n)`."""
        return torch.exp(0.5 * self.logvar)

    def sample(self, generator: torch.Generator) -> torch.Tensor:
        """Draw `z = mean + std * eps` (reparameterised, so gradients reach the encoder).

        The noise is drawn on the generator's device and moved to the mean's, so a CPU generator also
        serves a CUDA model, with the same draws for the same seed.
        """
        noise = torch.randn(self.mean.shape, generator=generator, device=generator.device)
        return self.mean + self.std * noise.to(self.mean)

    def mode(self) -> torch.Tensor:
        """The most likely latent, the mean `(b, c, n)`."""
        return self.mean

    def kl(self) -> torch.Tensor:
        """KL divergence to `N(0, 1)`, summed over channels and frames: `(b,)`."""
        return 0.5 * (self.mean.square() + self.logvar.exp() - 1.0 - self.logvar).sum(dim=(1, 2))


class ResBlock(nn.Module):
    """GroupNorm -> SiLU -> conv3, twice, plus a (1x1 when widths differ) skip, as in SD's ResnetBlock."""

    def __init__(self, in_channels: int, out_channels: int, config: VAEConfig) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(config.norm_groups, in_channels, eps=1e-6)
        self.conv1 = nn.Conv1d(in_channels, out_channels, 3, padding=1)
        self.norm2 = nn.GroupNorm(config.norm_groups, out_channels, eps=1e-6)
        self.dropout = nn.Dropout(config.dropout)
        self.conv2 = nn.Conv1d(out_channels, out_channels, 3, padding=1)
        self.skip = nn.Conv1d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(b, d_in, t) -> (b, d_out, t)`."""
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class Downsample(nn.Module):
    """Stride-2 conv3 with SD's asymmetric padding (one sample at the end): `t -> t / 2` for even `t`."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(b, d, t) -> (b, d, t / 2)`."""
        return self.conv(F.pad(x, (0, 1)))


class Upsample(nn.Module):
    """Nearest-neighbour x2 then conv3, as in SD (avoids transposed-conv checkerboard artefacts)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(b, d, n) -> (b, d, 2n)`."""
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Encoder(nn.Module):
    """Mel `(b, m, t)` -> posterior moments `(b, 2c, t / 8)`; `t` must be a multiple of 8."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        widths = config.widths
        self.conv_in = nn.Conv1d(config.n_mels, widths[0], 3, padding=1)
        blocks: list[nn.Module] = []
        width = widths[0]
        for level, out_width in enumerate(widths):
            for _ in range(config.num_res_blocks):
                blocks.append(ResBlock(width, out_width, config))
                width = out_width
            if level < len(widths) - 1:
                blocks.append(Downsample(width))
        # SD's middle is ResBlock-Attention-ResBlock; MuVi App. A drops attention for arbitrary lengths.
        blocks += [ResBlock(width, width, config), ResBlock(width, width, config)]
        self.blocks = nn.Sequential(*blocks)
        self.norm_out = nn.GroupNorm(config.norm_groups, width, eps=1e-6)
        self.conv_out = nn.Conv1d(width, 2 * config.latent_channels, 3, padding=1)
        self.quant_conv = nn.Conv1d(2 * config.latent_channels, 2 * config.latent_channels, 1)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """`(b, m, t) -> (b, 2c, t / 8)`."""
        h = self.blocks(self.conv_in(mel))
        return self.quant_conv(self.conv_out(F.silu(self.norm_out(h))))


class Decoder(nn.Module):
    """Latent `(b, c, n)` -> mel `(b, m, 8n)`."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        widths = config.widths
        self.post_quant_conv = nn.Conv1d(config.latent_channels, config.latent_channels, 1)
        self.conv_in = nn.Conv1d(config.latent_channels, widths[-1], 3, padding=1)
        width = widths[-1]
        blocks: list[nn.Module] = [ResBlock(width, width, config), ResBlock(width, width, config)]
        for level in reversed(range(len(widths))):
            for _ in range(config.num_res_blocks + 1):
                blocks.append(ResBlock(width, widths[level], config))
                width = widths[level]
            if level > 0:
                blocks.append(Upsample(width))
        self.blocks = nn.Sequential(*blocks)
        self.norm_out = nn.GroupNorm(config.norm_groups, width, eps=1e-6)
        self.conv_out = nn.Conv1d(width, config.n_mels, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """`(b, c, n) -> (b, m, 8n)`."""
        h = self.blocks(self.conv_in(self.post_quant_conv(z)))
        return self.conv_out(F.silu(self.norm_out(h)))


class MelVAE(nn.Module):
    """The 1D KL autoencoder between log-mels and the DiT's latent.

    Lengths: a mel of `t` frames is padded at the end (replicating its last frame) to the next multiple
    of 8, so the latent has `ceil(t / 8)` frames; `decode` returns `8n` frames and `forward` crops the
    reconstruction back to `t`.

    Latent normalisation: `latent_mean` / `latent_std` (per channel, saved with the weights, 0 / 1 until
    `set_latent_stats`) map VAE latents to the roughly unit-variance space the DiT is trained in.

    Args:
        config: The VAE's sizes.
    """

    latent_mean: torch.Tensor  # buffers, registered in __init__ (typed here for the type checker)
    latent_std: torch.Tensor

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.register_buffer("latent_mean", torch.zeros(config.latent_channels))
        self.register_buffer("latent_std", torch.ones(config.latent_channels))

    def encode(self, mel: torch.Tensor) -> DiagonalGaussian:
        """Encode a log-mel `(b, m, t)` into the posterior over latents `(b, c, ceil(t / 8))`."""
        pad = (-mel.shape[-1]) % self.config.downsample
        mel = F.pad(mel, (0, pad), mode="replicate")
        return DiagonalGaussian(self.encoder(mel))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decode (unnormalised) latents `(b, c, n)` into a log-mel `(b, m, 8n)`."""
        return self.decoder(z)

    def forward(
        self, mel: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, DiagonalGaussian]:
        """Reconstruct a log-mel through a sampled latent.

        Args:
            mel: Log-mel `(b, m, t)`, any `t >= 1`.
            generator: Draws the latent sample; `None` decodes the posterior mean (deterministic, for
                validation).

        Returns:
            The reconstruction `(b, m, t)` and the posterior.
        """
        posterior = self.encode(mel)
        z = posterior.mode() if generator is None else posterior.sample(generator)
        return self.decode(z)[..., : mel.shape[-1]], posterior

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        """VAE latent `(b, c, n)` -> DiT latent: `(z - latent_mean) / latent_std` per channel."""
        return (z - self.latent_mean[:, None]) / self.latent_std[:, None]

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        """DiT latent `(b, c, n)` -> VAE latent: the inverse of `normalize`."""
        return z * self.latent_std[:, None] + self.latent_mean[:, None]

    @torch.no_grad()
    def set_latent_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Store per-channel latent statistics, measured over the training set's latents.

        Args:
            mean: `(c,)` mean of each latent channel.
            std: `(c,)` standard deviation of each latent channel, all positive.

        Raises:
            ValueError: On a wrong shape or a non-positive or non-finite value.
        """
        mean = torch.as_tensor(mean, dtype=torch.float32).flatten()
        std = torch.as_tensor(std, dtype=torch.float32).flatten()
        c = self.config.latent_channels
        if mean.numel() != c or std.numel() != c:
            raise ValueError(f"set_latent_stats: need {c} values each, got {mean.numel()} and {std.numel()}")
        if not (torch.isfinite(mean).all() and torch.isfinite(std).all() and (std > 0).all()):
            raise ValueError("set_latent_stats: mean must be finite and std finite and positive")
        self.latent_mean.copy_(mean)
        self.latent_std.copy_(std)


def vae_loss(
    recon: torch.Tensor, mel: torch.Tensor, posterior: DiagonalGaussian, *, kl_weight: float
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """L1 reconstruction plus a weighted KL penalty (MuVi App. B, after Rombach et al. 2022).

    Both terms are divided by the number of mel values in the batch. SD sums both over the sample and
    weighs the KL sum by 1e-6; dividing both by the same count keeps that weight's meaning here.

    Args:
        recon: Reconstruction `(b, m, t)`.
        mel: Target log-mel `(b, m, t)`.
        posterior: The encoder's posterior for `mel`.
        kl_weight: Weight of the KL term (SD: 1e-6).

    Returns:
        The total loss and its detached parts `{"l1", "kl"}` (unweighted, as they enter the total).
    """
    if recon.shape != mel.shape:
        raise ValueError(f"vae_loss: recon {tuple(recon.shape)} and mel {tuple(mel.shape)} differ")
    l1 = (recon - mel).abs().mean()
    kl = posterior.kl().sum() / mel.numel()
    total = l1 + kl_weight * kl
    return total, {"l1": l1.detach(), "kl": kl.detach()}
