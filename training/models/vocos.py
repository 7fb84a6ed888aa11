"""Vocos-style vocoder: log-mel -> STFT magnitude and phase -> inverse STFT (Siuzdak 2023, arXiv:2306.00814).

Shapes: `b` batch, `m` mel bands, `t` mel frames, `d` width, `h` ConvNeXt hidden width, `f` one-sided
FFT bins (`n_fft / 2 + 1`), `s` samples (`t * hop`).

Why it is here (issue 14, "a vocoder that keeps pitch"): HiFi-GAN upsamples by learned transposed convs;
trained for a CPU budget its output is a comb on the multiples of the mel frame rate (80 Hz). This network
never upsamples: it stays at the frame rate (ConvNeXt blocks over mel frames), predicts one STFT frame per
mel frame (magnitude and phase), and a *fixed* inverse STFT (windowed inverse DFT + overlap-add, normalised
by the summed squared window) makes the wave. The inverse STFT is a `conv_transpose1d` with a constant
basis, so the whole vocoder exports to one ONNX graph with the same contract as HiFi-GAN's
(`mel (b, m, t) -> wave (b, t * hop)`) and the torch-free runtime needs no change.

Alignment: mel frame `k` is centred on the middle of samples `[k * hop, (k + 1) * hop)`
(`muvi_plugin.mel`); synthesis frame `k` is placed with the same centre, and `(n_fft - hop) / 2` samples are
trimmed from each end, so `t` frames give exactly `t * hop` samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from muvi_plugin.constants import HOP_LENGTH, N_MELS
from muvi_plugin.mel import MelSpec, hann_window, mel_filterbank
from training.layers.mel import windowed_dft_basis

# Largest log-magnitude the head may emit before exp(). Vocos clips at 1e2, but this DFT is unnormalised:
# a sine of amplitude a peaks at a * 300 (the Hann window's sum / 2), so 1e3 leaves room for full scale.
_MAX_LOG_MAGNITUDE = math.log(1e3)
# Fast Griffin-Lim's momentum (Perraudin et al. 2013 recommend 0.99).
_FGLA_MOMENTUM = 0.99
_EPS = 1e-8
PHASES = ("learned", "griffin-lim")
# Magnitudes are floored here before the log, in the prior and the magnitude loss (the mel's own floor).
LOG_FLOOR = 1e-5
# Frames of the fixed starting-phase field before it repeats (12.8 s): the iterations change it anyway.
PHASE_PERIOD = 1024


@dataclass(frozen=True)
class VocosConfig:
    """Sizes of the Vocos-style vocoder.

    Attributes:
        kind: Always "vocos": tells a stored vocoder config from a HiFi-GAN one.
        n_mels: Mel bands in.
        width: Channels of the ConvNeXt backbone.
        hidden: Hidden width of each block's pointwise MLP.
        num_layers: ConvNeXt blocks.
        kernel_size: Depthwise conv kernel (odd), over mel frames.
        n_fft: Synthesis FFT size; one STFT frame per mel frame.
        hop_length: Samples per mel frame (the mel hop, 300).
        discriminator_width_divisor: Width divisor of the HiFi-GAN MPD/MSD used in the adversarial phase.
        phase_iterations: Fast Griffin-Lim iterations (Perraudin et al. 2013) that refine the starting
            phase towards a consistent STFT, keeping the predicted magnitude, at inference (eval mode, and
            so in the exported graph); training sees the predicted phase as is (2-3x cheaper a step on
            CPU). 0: the starting phase as is.
        magnitude_prior: Predict the log-magnitude as a correction to the mel's own estimate (the mel
            filterbank's pseudo-inverse applied to the mel magnitudes), the correction starting at zero: the
            untrained network is already the Griffin-Lim vocoder, and training only sharpens it.
        phase: "learned": the head predicts the phase (Vocos), trained through the wave losses;
            "griffin-lim": the head predicts the magnitude only, trained directly against the STFT
            magnitude of the audio (no wave, no discriminator: a fraction of a step's cost), and the phase
            starts from a fixed pseudo-random field and is made consistent by `phase_iterations`.
    """

    kind: str = "vocos"
    n_mels: int = N_MELS
    width: int = 256
    hidden: int = 768
    num_layers: int = 8
    kernel_size: int = 7
    n_fft: int = 1200
    hop_length: int = HOP_LENGTH
    discriminator_width_divisor: int = 8
    phase_iterations: int = 0
    magnitude_prior: bool = False
    phase: str = "learned"

    def __post_init__(self) -> None:
        if self.kind != "vocos":
            raise ValueError(f"VocosConfig: kind must be 'vocos', got {self.kind!r}")
        if min(self.n_mels, self.width, self.hidden, self.num_layers) < 1:
            raise ValueError(f"VocosConfig: sizes must be positive, got {self}")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"VocosConfig: kernel_size must be odd, got {self.kernel_size}")
        if self.hop_length != HOP_LENGTH:
            raise ValueError(f"VocosConfig: one mel frame is {HOP_LENGTH} samples, got hop {self.hop_length}")
        if self.n_fft < self.hop_length or (self.n_fft - self.hop_length) % 2 or self.n_fft % 2:
            raise ValueError(
                f"VocosConfig: n_fft {self.n_fft} must be even, >= the hop and differ from it by an even "
                "number (the trim on each side)"
            )
        if not 0 <= self.phase_iterations <= 256:
            raise ValueError(f"VocosConfig: phase_iterations {self.phase_iterations} is not in [0, 256]")
        if self.magnitude_prior and (self.n_fft, self.n_mels) != (MelSpec().n_fft, MelSpec().n_mels):
            raise ValueError(
                "VocosConfig: magnitude_prior inverts the mel's own filterbank: needs its n_fft and n_mels"
            )
        if self.phase not in PHASES:
            raise ValueError(f"VocosConfig: phase must be one of {PHASES}, got {self.phase!r}")
        if self.phase == "griffin-lim" and self.phase_iterations < 1:
            raise ValueError("VocosConfig: phase 'griffin-lim' needs phase_iterations >= 1")
        if self.n_fft < 2 * self.hop_length:
            raise ValueError("VocosConfig: n_fft must be at least twice the hop (overlap-add needs overlap)")

    @property
    def n_freqs(self) -> int:
        """One-sided FFT bins."""
        return self.n_fft // 2 + 1

    def discriminators(self):
        """The HiFi-GAN config whose MPD/MSD judge this vocoder in the adversarial phase."""
        from training.models.vocoder import HiFiGANConfig

        return HiFiGANConfig(n_mels=self.n_mels, discriminator_width_divisor=self.discriminator_width_divisor)


DEBUG = VocosConfig(width=16, hidden=32, num_layers=2, phase_iterations=2)
DEBUG_GL = VocosConfig(
    width=16, hidden=32, num_layers=2, phase_iterations=2, magnitude_prior=True, phase="griffin-lim"
)
# Demo: at a CPU budget the predicted phase stays close to one phase in every frame, and overlap-adding such
# frames repeats every hop (the 80 Hz frame-rate comb HiFi-GAN had); eight fast Griffin-Lim iterations in
# the graph make it consistent. Measured after 3000 steps (docs/benchmarks.md, "Resynthesis",
# `python -m benchmarks.resynthesis`): comb share 0.705 (HiFi-GAN v1) -> 0.115, in tune 0.000 -> 0.663;
# MR-STFT distance and note F1 are still worse than plain Griffin-Lim on the mel (issue 14 stays open).
DEMO_LEARNED = VocosConfig(phase_iterations=8)
# muvi-demo 1.1 (issue 14): Griffin-Lim on the audio's *true* STFT magnitude keeps far more music than on the
# mel's pseudo-inverse (docs/benchmarks.md, "Resynthesis", the `griffin-lim (true magnitude)` row), so the
# network spends its budget on the magnitude and the phase is fast Griffin-Lim's.
DEMO = VocosConfig(phase_iterations=32, magnitude_prior=True, phase="griffin-lim")
PRESETS: dict[str, VocosConfig] = {
    "debug": DEBUG,
    "debug-gl": DEBUG_GL,
    "demo": DEMO,
    "demo-learned": DEMO_LEARNED,
}


def synthesis_window(n_fft: int) -> np.ndarray:
    """Periodic Hann window `(n_fft,)`, float64 (constant-overlap-add at hop n_fft / 4): the mel's own."""
    return hann_window(MelSpec(n_fft=n_fft, win_length=n_fft)).astype(np.float64)


def inverse_dft_basis(n_fft: int) -> np.ndarray:
    """Windowed one-sided inverse DFT as a conv_transpose1d weight `(2f, 1, n_fft)`, float64.

    Row `k` maps the real part of bin `k` to a windowed frame, row `f + k` the imaginary part:
    `frame[n] = w[n] / N * sum_k c_k (Re X_k cos(2 pi k n / N) - Im X_k sin(2 pi k n / N))`, `c_k` = 1 for
    DC and Nyquist, 2 otherwise (the one-sided spectrum of a real signal).
    """
    f = n_fft // 2 + 1
    n = np.arange(n_fft, dtype=np.float64)
    k = np.arange(f, dtype=np.float64)
    phase = 2.0 * np.pi * np.outer(k, n) / n_fft  # (f, n_fft)
    scale = np.full(f, 2.0)
    scale[0] = scale[-1] = 1.0
    window = synthesis_window(n_fft)
    real = scale[:, None] * np.cos(phase) * window / n_fft
    imag = -scale[:, None] * np.sin(phase) * window / n_fft
    return np.concatenate([real, imag], axis=0)[:, None, :]


class InverseSTFT(nn.Module):
    """One-sided spectrum `(b, 2f, t)` (real parts, then imaginary) -> wave `(b, t * hop)`.

    Windowed inverse DFT of every frame, overlap-added at the hop and divided by the summed squared window
    (the least-squares inverse of a Hann-windowed STFT). Frame `k` is centred on `k * hop + hop / 2`.
    """

    def __init__(self, n_fft: int, hop_length: int) -> None:
        super().__init__()
        self.n_fft, self.hop_length = n_fft, hop_length
        self.trim = (n_fft - hop_length) // 2
        basis = torch.from_numpy(inverse_dft_basis(n_fft).astype(np.float32))
        squared = torch.from_numpy((synthesis_window(n_fft) ** 2).astype(np.float32))[None, None, :]
        # Derived from n_fft, so not part of state dicts.
        self.register_buffer("basis", basis, persistent=False)
        self.register_buffer("window_sq", squared, persistent=False)

    def forward(self, spectrum: torch.Tensor) -> torch.Tensor:
        frames = spectrum.shape[-1]
        wave = F.conv_transpose1d(spectrum, self.basis, stride=self.hop_length)  # (b, 1, (t-1) hop + n_fft)
        ones = torch.ones_like(spectrum[:1, :1, :])  # (1, 1, t): the envelope follows t in the graph
        envelope = F.conv_transpose1d(ones, self.window_sq, stride=self.hop_length)
        end = self.trim + frames * self.hop_length
        wave = wave[:, 0, self.trim : end] / envelope[:, 0, self.trim : end].clamp(min=1e-8)
        return wave  # (b, t * hop)


class ForwardSTFT(nn.Module):
    """Wave `(b, t * hop)` -> one-sided spectrum `(b, 2f, t)`: the mel's frames (Hann window, hop, frame
    `k` centred on `k * hop + hop / 2`) as real parts then imaginary parts, the analysis `InverseSTFT`
    undoes. The ends are zero-padded rather than reflected (as the mel is), so that any length works,
    one frame included: only the edge frames differ."""

    def __init__(self, n_fft: int, hop_length: int) -> None:
        super().__init__()
        self.hop_length, self.pad = hop_length, (n_fft - hop_length) // 2
        basis = windowed_dft_basis(synthesis_window(n_fft))
        self.register_buffer(
            "basis", torch.from_numpy(basis.astype(np.float32))[:, None, :], persistent=False
        )

    def forward(self, wave: torch.Tensor, *, reflect: bool = False) -> torch.Tensor:
        """`reflect`: pad the ends as the mel does (the training targets); else with zeros."""
        x = F.pad(wave[:, None, :], (self.pad, self.pad), mode="reflect" if reflect else "constant")
        return F.conv1d(x, self.basis, stride=self.hop_length)


def griffin_lim(
    spectrum: torch.Tensor, istft: InverseSTFT, stft: ForwardSTFT, iterations: int
) -> torch.Tensor:
    """Fast Griffin-Lim from `spectrum` `(b, 2f, t)`: keep its magnitude, make its phase consistent.

    Each iteration synthesises, re-analyses, extrapolates the re-analysis with momentum and puts the
    original magnitude back on its phase. Differentiable, real-valued, exportable.
    """
    real, imag = spectrum.chunk(2, dim=1)
    magnitude = torch.sqrt(real.square() + imag.square() + _EPS)
    previous = None
    for _ in range(iterations):
        projected = stft(istft(spectrum))
        target = projected if previous is None else projected + _FGLA_MOMENTUM * (projected - previous)
        previous = projected
        t_real, t_imag = target.chunk(2, dim=1)
        scale = magnitude / torch.sqrt(t_real.square() + t_imag.square() + _EPS)
        spectrum = torch.cat([t_real * scale, t_imag * scale], dim=1)
    return spectrum


class ConvNeXtBlock(nn.Module):
    """Depthwise conv -> LayerNorm -> pointwise MLP (GELU) -> layer scale, added to the input (Vocos)."""

    def __init__(self, width: int, hidden: int, kernel_size: int, layer_scale: float) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(width, width, kernel_size, padding=kernel_size // 2, groups=width)
        self.norm = nn.LayerNorm(width, eps=1e-6)
        self.pw1 = nn.Linear(width, hidden)
        self.pw2 = nn.Linear(hidden, width)
        self.gamma = nn.Parameter(torch.full((width,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(b, d, t) -> (b, d, t)`."""
        y = self.dwconv(x).transpose(1, 2)  # (b, t, d)
        y = self.pw2(F.gelu(self.pw1(self.norm(y))))
        return x + (self.gamma * y).transpose(1, 2)


class VocosGenerator(nn.Module):
    """Log-mel `(b, m, t)` -> waveform `(b, 1, t * 300)`.

    The head predicts, per frame and bin, a log-magnitude and a phase angle; the complex spectrum
    `exp(log_mag) * (cos p, sin p)` goes through the fixed inverse STFT.
    """

    def __init__(self, config: VocosConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Conv1d(
            config.n_mels, config.width, config.kernel_size, padding=config.kernel_size // 2
        )
        self.norm_in = nn.LayerNorm(config.width, eps=1e-6)
        scale = 1.0 / config.num_layers  # Vocos' layer-scale init
        self.blocks = nn.ModuleList(
            ConvNeXtBlock(config.width, config.hidden, config.kernel_size, scale)
            for _ in range(config.num_layers)
        )
        self.norm_out = nn.LayerNorm(config.width, eps=1e-6)
        learned = config.phase == "learned"
        self.head = nn.Linear(config.width, (2 if learned else 1) * config.n_freqs)
        self.istft = InverseSTFT(config.n_fft, config.hop_length)
        self.stft = ForwardSTFT(config.n_fft, config.hop_length)
        if config.magnitude_prior:
            with torch.no_grad():  # the correction starts at zero: the prior alone
                self.head.weight[: config.n_freqs].zero_()
                self.head.bias[: config.n_freqs].zero_()
            prior = np.linalg.pinv(mel_filterbank(MelSpec()).astype(np.float64)).astype(np.float32)
            self.register_buffer("prior", torch.from_numpy(prior), persistent=False)  # (f, m)
        if not learned:
            start = np.random.default_rng(0).uniform(-np.pi, np.pi, (config.n_freqs, PHASE_PERIOD))
            self.register_buffer(
                "start_phase", torch.from_numpy(start.astype(np.float32)), persistent=False
            )  # (f, PHASE_PERIOD)

    def _head(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`(b, m, t)` -> log-magnitude `(b, f, t)` and the learned phase `(b, f, t)`, or None."""
        x = self.embed(mel)
        x = self.norm_in(x.transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            x = block(x)
        x = self.head(self.norm_out(x.transpose(1, 2))).transpose(1, 2)  # (b, 2f or f, t)
        if self.config.phase == "learned":
            log_mag, phase = x.chunk(2, dim=1)
        else:
            log_mag, phase = x, None
        if self.config.magnitude_prior:
            estimate = torch.matmul(self.prior, torch.exp(mel))  # (b, f, t)
            log_mag = log_mag + torch.log(torch.clamp(estimate, min=LOG_FLOOR))
        return torch.clamp(log_mag, max=_MAX_LOG_MAGNITUDE), phase

    def log_magnitude(self, mel: torch.Tensor) -> torch.Tensor:
        """`(b, m, t)` -> predicted natural-log STFT magnitude `(b, f, t)`."""
        return self._head(mel)[0]

    def spectrum(self, mel: torch.Tensor) -> torch.Tensor:
        """`(b, m, t)` -> one-sided complex spectrum as `(b, 2f, t)`: real parts, then imaginary parts."""
        log_mag, phase = self._head(mel)
        if phase is None:  # the fixed starting field, repeated every PHASE_PERIOD frames
            frames = torch.arange(mel.shape[-1], device=mel.device) % PHASE_PERIOD
            phase = self.start_phase.index_select(1, frames)[None]  # (1, f, t)
        magnitude = torch.exp(log_mag)
        return torch.cat([magnitude * torch.cos(phase), magnitude * torch.sin(phase)], dim=1)

    def analysis_magnitude(self, wave: torch.Tensor) -> torch.Tensor:
        """Wave `(b, t * hop)` -> its STFT magnitude `(b, f, t)` on the mel's frames (the training target)."""
        real, imag = self.stft(wave, reflect=True).chunk(2, dim=1)
        return torch.sqrt(real.square() + imag.square())

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """`(b, m, t) -> (b, 1, t * 300)`."""
        spectrum = self.spectrum(mel)
        if self.config.phase_iterations and (not self.training or self.config.phase == "griffin-lim"):
            spectrum = griffin_lim(spectrum, self.istft, self.stft, self.config.phase_iterations)
        return self.istft(spectrum).unsqueeze(1)

    def remove_weight_norm(self) -> None:
        """No weight norm here; present so the exporter treats every vocoder alike."""
