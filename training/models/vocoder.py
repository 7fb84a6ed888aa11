"""HiFi-GAN vocoder: log-mel -> 24 kHz waveform (MuVi App. A; Kong et al. 2020), with MPD + MSD.

Shapes: `b` batch, `m` mel bands, `t` mel frames, `s` samples (`t * 300`), `d` conv width,
`p` discriminator period.

MuVi App. A: upsample rates (5, 5, 4, 3) -> stride 300 (the mel hop), upsample kernels (16, 8, 8, 4),
first upsampling width 1200, multi-period and multi-scale discriminators. The rest follows HiFi-GAN V1:
multi-receptive-field fusion of residual blocks with kernels (3, 7, 11) and dilations (1, 3, 5).
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm, weight_norm

from muvi_plugin.constants import HOP_LENGTH, N_MELS
from training.layers.mel import MelSpectrogram

LRELU_SLOPE = 0.1  # HiFi-GAN's leaky-ReLU slope inside the generator and the discriminators


@dataclass(frozen=True)
class HiFiGANConfig:
    """Sizes of the HiFi-GAN generator and its discriminators.

    Attributes:
        n_mels: Mel bands in.
        upsample_rates: Stride of each transposed conv; their product must equal the mel hop (300).
        upsample_kernel_sizes: Kernel of each transposed conv (>= its rate).
        upsample_initial_channel: Width before the first upsampling; halves at every upsampling.
        resblock_kernel_sizes: Kernels of the parallel residual blocks (odd).
        resblock_dilations: Dilations inside each of those residual blocks.
        mpd_periods: Periods of the multi-period discriminator.
        msd_scales: Number of scales of the multi-scale discriminator.
        discriminator_width_divisor: Divides every discriminator width (1 = HiFi-GAN's; 1, 2, 4 or 8).
    """

    n_mels: int = N_MELS
    upsample_rates: tuple[int, ...] = (5, 5, 4, 3)
    upsample_kernel_sizes: tuple[int, ...] = (16, 8, 8, 4)
    upsample_initial_channel: int = 1200
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilations: tuple[tuple[int, ...], ...] = ((1, 3, 5),) * 3
    mpd_periods: tuple[int, ...] = (2, 3, 5, 7, 11)
    msd_scales: int = 3
    discriminator_width_divisor: int = 1

    def __post_init__(self) -> None:
        # Checkpoints store asdict(config); JSON turns tuples into lists.
        for name in ("upsample_rates", "upsample_kernel_sizes", "resblock_kernel_sizes", "mpd_periods"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        object.__setattr__(
            self, "resblock_dilations", tuple(tuple(int(v) for v in d) for d in self.resblock_dilations)
        )
        if math.prod(self.upsample_rates) != HOP_LENGTH:
            raise ValueError(
                f"HiFiGANConfig: upsample_rates {self.upsample_rates} multiply to "
                f"{math.prod(self.upsample_rates)}, but one mel frame is {HOP_LENGTH} samples"
            )
        if len(self.upsample_kernel_sizes) != len(self.upsample_rates):
            raise ValueError("HiFiGANConfig: one upsample kernel size per upsample rate is needed")
        if any(k < u for k, u in zip(self.upsample_kernel_sizes, self.upsample_rates, strict=True)):
            raise ValueError(
                f"HiFiGANConfig: upsample kernels {self.upsample_kernel_sizes} must be >= their rates "
                f"{self.upsample_rates}"
            )
        if self.upsample_initial_channel % 2 ** len(self.upsample_rates):
            raise ValueError(
                f"HiFiGANConfig: upsample_initial_channel {self.upsample_initial_channel} must be divisible "
                f"by {2 ** len(self.upsample_rates)} (it halves at each upsampling)"
            )
        if not self.resblock_kernel_sizes or any(k % 2 == 0 for k in self.resblock_kernel_sizes):
            raise ValueError(f"HiFiGANConfig: resblock kernels must be odd, got {self.resblock_kernel_sizes}")
        if len(self.resblock_dilations) != len(self.resblock_kernel_sizes):
            raise ValueError("HiFiGANConfig: one dilation tuple per resblock kernel size is needed")
        if not self.mpd_periods or min(self.mpd_periods) < 2 or self.msd_scales < 1:
            raise ValueError("HiFiGANConfig: need periods >= 2 and at least one MSD scale")
        if self.discriminator_width_divisor not in (1, 2, 4, 8):
            # MSD's grouped convs (16 groups) need every width to stay divisible by its groups.
            raise ValueError(
                f"HiFiGANConfig: discriminator_width_divisor must be 1, 2, 4 or 8, "
                f"got {self.discriminator_width_divisor}"
            )

    @property
    def hop_length(self) -> int:
        """Samples per mel frame (the product of the upsample rates)."""
        return math.prod(self.upsample_rates)


DEBUG = HiFiGANConfig(
    upsample_initial_channel=32,
    resblock_kernel_sizes=(3, 5),
    resblock_dilations=((1, 3),) * 2,
    discriminator_width_divisor=8,
)
# Demo: the MSD dominates a CPU GAN step even when narrow (it runs at the full sample rate); at width / 8
# a demo GAN step costs ~4x a generator-only one, at / 4 ~7x.
DEMO = HiFiGANConfig(upsample_initial_channel=128, discriminator_width_divisor=8)
SMALL = HiFiGANConfig()  # MuVi App. A: one vocoder, width 1200, whatever the DiT's size
BASE = HiFiGANConfig()
LARGE = HiFiGANConfig()
PRESETS: dict[str, HiFiGANConfig] = {
    "debug": DEBUG,
    "demo": DEMO,
    "small": SMALL,
    "base": BASE,
    "large": LARGE,
}


def _resblock_conv(channels: int, kernel_size: int, dilation: int) -> nn.Module:
    """A weight-normed, length-preserving dilated conv, initialised as HiFi-GAN's init_weights intends."""
    conv = nn.Conv1d(
        channels, channels, kernel_size, dilation=dilation, padding=dilation * (kernel_size - 1) // 2
    )
    # N(0, 0.01) before weight norm, so the norm's g and v start from it (HiFi-GAN set it after, a no-op).
    nn.init.normal_(conv.weight, 0.0, 0.01)
    return weight_norm(conv)


class ResBlock(nn.Module):
    """HiFi-GAN's ResBlock1: per dilation, lrelu -> dilated conv -> lrelu -> conv, added to the input."""

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...]) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(_resblock_conv(channels, kernel_size, d) for d in dilations)
        self.convs2 = nn.ModuleList(_resblock_conv(channels, kernel_size, 1) for _ in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(b, d, s) -> (b, d, s)`."""
        for conv1, conv2 in zip(self.convs1, self.convs2, strict=True):
            x = x + conv2(F.leaky_relu(conv1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
        return x


class HiFiGANGenerator(nn.Module):
    """Log-mel `(b, m, t)` -> waveform `(b, 1, t * 300)` in [-1, 1].

    Args:
        config: The vocoder's sizes.
    """

    def __init__(self, config: HiFiGANConfig) -> None:
        super().__init__()
        self.config = config
        width = config.upsample_initial_channel
        self.conv_pre = weight_norm(nn.Conv1d(config.n_mels, width, 7, padding=3))
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        for rate, kernel in zip(config.upsample_rates, config.upsample_kernel_sizes, strict=True):
            # out = (in - 1) * rate - 2 * pad + kernel + output_padding; this pad/output_padding pair
            # gives exactly in * rate for odd kernel - rate too (MuVi's kernels 16, 8, 4 at rates 5, 5, 3).
            pad, out_pad = (kernel - rate + 1) // 2, (kernel - rate) % 2
            up = nn.ConvTranspose1d(width, width // 2, kernel, rate, padding=pad, output_padding=out_pad)
            nn.init.normal_(up.weight, 0.0, 0.01)  # HiFi-GAN's init_weights, before weight norm
            self.ups.append(weight_norm(up))
            width //= 2
            self.resblocks.append(
                nn.ModuleList(
                    ResBlock(width, k, d)
                    for k, d in zip(config.resblock_kernel_sizes, config.resblock_dilations, strict=True)
                )
            )
        self.conv_post = weight_norm(nn.Conv1d(width, 1, 7, padding=3))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """`(b, m, t) -> (b, 1, t * 300)`."""
        x = self.conv_pre(mel)
        for up, blocks in zip(self.ups, self.resblocks, strict=True):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            # Multi-receptive-field fusion: the mean of parallel residual blocks of different kernels.
            x = sum(block(x) for block in blocks) / len(blocks)
        # HiFi-GAN uses leaky_relu's default slope (0.01) here, not LRELU_SLOPE.
        return torch.tanh(self.conv_post(F.leaky_relu(x)))

    def remove_weight_norm(self) -> None:
        """Fold every weight-norm parametrisation into a plain weight (for export; output unchanged)."""
        # Under no_grad, remove_parametrizations would leave plain tensors instead of Parameters.
        with torch.enable_grad():
            for module in self.modules():
                if parametrize.is_parametrized(module, "weight"):
                    parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)


def _width(config: HiFiGANConfig, channels: int) -> int:
    """A discriminator width scaled by the config's divisor; the wave and the score stay one channel."""
    return channels if channels == 1 else channels // config.discriminator_width_divisor


def _conv2d(config: HiFiGANConfig, c_in: int, c_out: int, kernel: int, stride: int) -> nn.Module:
    c_in, c_out = _width(config, c_in), _width(config, c_out)
    return weight_norm(nn.Conv2d(c_in, c_out, (kernel, 1), (stride, 1), padding=((kernel - 1) // 2, 0)))


class PeriodDiscriminator(nn.Module):
    """HiFi-GAN's DiscriminatorP: the wave folded into `(s / p, p)` and judged by (k, 1) 2D convs."""

    def __init__(self, config: HiFiGANConfig, period: int) -> None:
        super().__init__()
        self.period = period
        widths = (1, 32, 128, 512, 1024)
        self.convs = nn.ModuleList(
            _conv2d(config, a, b, 5, 3) for a, b in zip(widths[:-1], widths[1:], strict=True)
        )
        self.convs.append(_conv2d(config, 1024, 1024, 5, 1))
        self.conv_post = _conv2d(config, 1024, 1, 3, 1)

    def forward(self, wave: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """`(b, 1, s)` -> scores `(b, -1)` and the feature maps of every layer."""
        b, c, s = wave.shape
        x = F.pad(wave, (0, (-s) % self.period), mode="reflect")
        x = x.view(b, c, -1, self.period)  # (b, 1, s / p, p)
        fmaps = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            fmaps.append(x)
        x = self.conv_post(x)
        fmaps.append(x)
        return x.flatten(1), fmaps


class ScaleDiscriminator(nn.Module):
    """HiFi-GAN's DiscriminatorS (after MelGAN): strided, grouped 1D convs over the raw wave."""

    # (in, out, kernel, stride, groups) per conv, at full width.
    LAYERS = (
        (1, 128, 15, 1, 1),
        (128, 128, 41, 2, 4),
        (128, 256, 41, 2, 16),
        (256, 512, 41, 4, 16),
        (512, 1024, 41, 4, 16),
        (1024, 1024, 41, 1, 16),
        (1024, 1024, 5, 1, 1),
    )

    def __init__(self, config: HiFiGANConfig, *, use_spectral_norm: bool = False) -> None:
        super().__init__()
        norm = spectral_norm if use_spectral_norm else weight_norm
        self.convs = nn.ModuleList(
            norm(nn.Conv1d(_width(config, c_in), _width(config, c_out), k, s, groups=g, padding=(k - 1) // 2))
            for c_in, c_out, k, s, g in self.LAYERS
        )  # fmt: skip
        self.conv_post = norm(nn.Conv1d(_width(config, 1024), 1, 3, padding=1))

    def forward(self, wave: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """`(b, 1, s)` -> scores `(b, -1)` and the feature maps of every layer."""
        x = wave
        fmaps = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            fmaps.append(x)
        x = self.conv_post(x)
        fmaps.append(x)
        return x.flatten(1), fmaps


class MultiPeriodDiscriminator(nn.Module):
    """One `PeriodDiscriminator` per period (HiFi-GAN: 2, 3, 5, 7, 11)."""

    def __init__(self, config: HiFiGANConfig) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(PeriodDiscriminator(config, p) for p in config.mpd_periods)

    def forward(self, wave: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        """`(b, 1, s)` -> one score tensor and one feature-map list per discriminator."""
        outputs = [d(wave) for d in self.discriminators]
        return [score for score, _ in outputs], [fmaps for _, fmaps in outputs]


class MultiScaleDiscriminator(nn.Module):
    """`ScaleDiscriminator`s on the wave, then on it average-pooled by 2, 4, ... (HiFi-GAN: 3 scales).

    The first, full-rate one uses spectral norm, as in HiFi-GAN.
    """

    def __init__(self, config: HiFiGANConfig) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(
            ScaleDiscriminator(config, use_spectral_norm=i == 0) for i in range(config.msd_scales)
        )
        self.pool = nn.AvgPool1d(4, 2, padding=2)

    def forward(self, wave: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        """`(b, 1, s)` -> one score tensor and one feature-map list per scale."""
        scores, fmaps = [], []
        for i, discriminator in enumerate(self.discriminators):
            if i > 0:
                wave = self.pool(wave)
            score, fmap = discriminator(wave)
            scores.append(score)
            fmaps.append(fmap)
        return scores, fmaps


def vocoder_config_from_dict(d: dict):
    """A stored vocoder config (`asdict` of either family) -> its dataclass: Vocos when `kind == "vocos"`."""
    from training.models.vocos import VocosConfig

    return VocosConfig(**d) if d.get("kind") == "vocos" else HiFiGANConfig(**d)


def build_vocoder(config) -> nn.Module:
    """The generator of either family: `HiFiGANGenerator` or `training.models.vocos.VocosGenerator`."""
    from training.models.vocos import VocosConfig, VocosGenerator

    return VocosGenerator(config) if isinstance(config, VocosConfig) else HiFiGANGenerator(config)


def discriminator_config(config) -> HiFiGANConfig:
    """The config the MPD/MSD of a vocoder's adversarial phase are built from (HiFi-GAN's own, or Vocos')."""
    return config if isinstance(config, HiFiGANConfig) else config.discriminators()


# HiFi-GAN's loss weights: L_G = L_adv + FEATURE_MATCHING_WEIGHT * L_fm + MEL_WEIGHT * L_mel.
FEATURE_MATCHING_WEIGHT = 2.0
MEL_WEIGHT = 45.0
# (n_fft, hop, window) per resolution: Parallel WaveGAN's set for 24 kHz (Yamamoto et al. 2020).
STFT_RESOLUTIONS: tuple[tuple[int, int, int], ...] = ((1024, 120, 600), (2048, 240, 1200), (512, 50, 240))


def discriminator_loss(real_scores: list[torch.Tensor], fake_scores: list[torch.Tensor]) -> torch.Tensor:
    """Least-squares GAN loss of the discriminators: real -> 1, fake -> 0, summed over discriminators.

    Args:
        real_scores: Scores of real audio, one tensor per discriminator.
        fake_scores: Scores of generated audio (detached from the generator), in the same order.
    """
    return sum(
        ((1.0 - real) ** 2).mean() + (fake**2).mean()
        for real, fake in zip(real_scores, fake_scores, strict=True)
    )


def generator_adversarial_loss(fake_scores: list[torch.Tensor]) -> torch.Tensor:
    """Least-squares GAN loss of the generator: its audio should score 1, summed over discriminators."""
    return sum(((1.0 - fake) ** 2).mean() for fake in fake_scores)


def feature_matching_loss(
    real_fmaps: list[list[torch.Tensor]], fake_fmaps: list[list[torch.Tensor]]
) -> torch.Tensor:
    """L1 between the discriminators' feature maps of real and generated audio, summed over layers.

    Unweighted; HiFi-GAN weighs it by `FEATURE_MATCHING_WEIGHT`. Real features are detached: this loss
    trains the generator only.
    """
    return sum(
        (real.detach() - fake).abs().mean()
        for reals, fakes in zip(real_fmaps, fake_fmaps, strict=True)
        for real, fake in zip(reals, fakes, strict=True)
    )


def mel_reconstruction_loss(
    fake_wave: torch.Tensor, real_wave: torch.Tensor, mel: MelSpectrogram
) -> torch.Tensor:
    """L1 between the log-mels of generated and real audio (unweighted; HiFi-GAN uses `MEL_WEIGHT`).

    Args:
        fake_wave: Generated audio `(b, 1, s)` or `(b, s)`.
        real_wave: Real audio, same shape.
        mel: The shared front end, `training.layers.mel.MelSpectrogram`.
    """
    return F.l1_loss(mel(fake_wave.flatten(1)), mel(real_wave.flatten(1)))


def _stft_magnitude(wave: torch.Tensor, n_fft: int, hop: int, win: int) -> torch.Tensor:
    window = torch.hann_window(win, device=wave.device, dtype=wave.dtype)
    spec = torch.stft(wave, n_fft, hop, win, window, return_complex=True)  # (b, f, frames)
    # Floor the power so the log and the square root's gradient stay finite on silence.
    return torch.sqrt(torch.clamp(spec.real.square() + spec.imag.square(), min=1e-7))


def multi_resolution_stft_loss(
    fake_wave: torch.Tensor,
    real_wave: torch.Tensor,
    resolutions: tuple[tuple[int, int, int], ...] = STFT_RESOLUTIONS,
) -> torch.Tensor:
    """Spectral convergence plus log-magnitude L1, averaged over STFT resolutions (Parallel WaveGAN).

    Training only (uses complex `torch.stft`). training/README.md, "Budget": an STFT-only first phase,
    before adversarial training, converges much faster on CPU.

    Args:
        fake_wave: Generated audio `(b, 1, s)` or `(b, s)`, `s` > half the largest `n_fft`.
        real_wave: Real audio, same shape.
        resolutions: `(n_fft, hop, window)` per resolution.
    """
    fake, real = fake_wave.flatten(1), real_wave.flatten(1)
    total = fake.new_zeros(())
    for n_fft, hop, win in resolutions:
        fake_mag, real_mag = _stft_magnitude(fake, n_fft, hop, win), _stft_magnitude(real, n_fft, hop, win)
        convergence = torch.linalg.norm(real_mag - fake_mag) / torch.linalg.norm(real_mag)
        log_magnitude = F.l1_loss(torch.log(fake_mag), torch.log(real_mag))
        total = total + convergence + log_magnitude
    return total / len(resolutions)
