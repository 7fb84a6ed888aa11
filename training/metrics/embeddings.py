"""The evaluation networks, VGGish (FAD) and PANNs CNN14 (FD, KL, IS), with weights from local files only.

MuVi (App. E) takes these metrics from the audio evaluation toolkit of Liu et al. 2023 (`audioldm_eval`):
FAD over VGGish embeddings, FD over PANNs CNN14 embeddings, KL and IS over CNN14's AudioSet classes. The
architectures are written here in PyTorch with the tensor names of the published checkpoints, so those
files load with `weights.load_exactly` and nothing else; nothing is downloaded (`weights.py`).

**VGGish** (Hershey et al. 2017; names as in the torchvggish port, `vggish-10086976.pth`:
``features.{0,3,6,8,11,13}``, ``embeddings.{0,2,4}``). Front end as the original `vggish_input`: mono at
16 kHz, 25 ms periodic-Hann frames every 10 ms, 512-point FFT magnitude, 64 mel bands over 125-7500 Hz,
``log(mel + 0.01)``, cut into non-overlapping 0.96 s examples of 96 x 64. The mel bands are VGGish's
own: HTK mel scale (librosa's ``hz_to_mel(htk=True)``), triangles linear *in mel*, unnormalised, and the
DC bin left out. (``librosa.filters.mel`` draws its triangles linear in Hz, which is not what the network
was trained on.) Four conv groups (64, 128, 256x2, 512x2, each 3x3 + ReLU, 2x2 max-pool after each
group) take an example to 512 x 6 x 4, flattened in TensorFlow's (height, width, channel) order, then
4096 -> 4096 -> 128. As in the FAD toolkit (`use_activation=False`, `use_pca=False`), the embedding is
taken before the last ReLU and without torchvggish's PCA post-processor (whose ``pproc.*`` tensors a
file may hold; they are ignored).

**PANNs CNN14** (Kong et al. 2020; names as in their `models.py`, `Cnn14_mAP=0.431.pth`: ``bn0``,
``conv_block{1-6}.{conv1,conv2,bn1,bn2}``, ``fc1``, ``fc_audioset``). Front end: 32 kHz mono (16 kHz
for the `Cnn14_16k` weights), centred reflect-padded STFT (window 1024, hop 320), power, librosa's
Slaney mel filterbank (64 bands, 50-14000 Hz; torchlibrosa's ``melW`` is exactly
``librosa.filters.mel(...).T``), ``10 log10(max(x, 1e-10))``. Then ``bn0`` over the mel axis, six
blocks of two 3x3 conv + BN + ReLU with 2x2 average pooling after the first five, mean over frequency,
max + mean over time, ``fc1`` + ReLU -> the 2048-d embedding, ``fc_audioset`` -> 527 AudioSet logits
(``clipwise`` = their sigmoid). The checkpoint's frozen front-end tensors (``spectrogram_extractor.*``,
``logmel_extractor.*``) are not network weights: the mel matrix, when present, is checked against the
one computed here and picks the 32 kHz or 16 kHz configuration.

Shapes: ``n`` examples or clips, ``s`` samples, ``t`` spectrogram frames, ``m`` mel bands.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from training.metrics.weights import WeightsMissing, load_exactly, read_weights

# VGGish front end (the original vggish_params).
VGGISH_RATE = 16_000
_VGGISH_WINDOW = 400  # 25 ms
_VGGISH_HOP = 160  # 10 ms
_VGGISH_FFT = 512  # the next power of two above the window
_VGGISH_MELS = 64
_VGGISH_FMIN, _VGGISH_FMAX = 125.0, 7500.0
_VGGISH_LOG_OFFSET = 0.01
EXAMPLE_FRAMES = 96  # 0.96 s per example, examples do not overlap
_VGGISH_POOLED = (6, 4)  # 96 x 64 after four 2x2 max-pools

_PANNS_FRONT_END = ("spectrogram_extractor.", "logmel_extractor.")
_PANNS_AMIN = 1e-10
_PANNS_POOLS = 5  # 2x2 average pools: the spectrogram needs 2**5 frames


@dataclass(frozen=True)
class VGGishConfig:
    """VGGish's widths (the published network: the defaults).

    Args:
        channels: Output channels of the four conv groups (the last two groups have two convs each).
        hidden: Width of the two hidden fully connected layers.
        embedding_dim: Embedding width.
        final_relu: Apply the last ReLU (torchvggish does; the FAD toolkit removes it).
    """

    channels: tuple[int, int, int, int] = (64, 128, 256, 512)
    hidden: int = 4096
    embedding_dim: int = 128
    final_relu: bool = False

    def __post_init__(self) -> None:
        if len(self.channels) != 4 or min(self.channels) < 1 or min(self.hidden, self.embedding_dim) < 1:
            raise ValueError(f"need 4 positive channel counts and positive widths, got {self}")


@dataclass(frozen=True)
class Cnn14Config:
    """CNN14's front end and widths (defaults: the published 32 kHz network).

    Args:
        sample_rate: Input rate in Hz.
        window_size: STFT window and FFT size.
        hop_size: STFT hop.
        mel_bins: Mel bands (also ``bn0``'s width).
        fmin: Lowest mel frequency.
        fmax: Highest mel frequency.
        classes: Output classes (AudioSet: 527).
        base_width: Channels of the first block; block k has ``base_width * 2**(k-1)``, the embedding
            ``32 * base_width`` (2048).
    """

    sample_rate: int = 32_000
    window_size: int = 1024
    hop_size: int = 320
    mel_bins: int = 64
    fmin: float = 50.0
    fmax: float = 14_000.0
    classes: int = 527
    base_width: int = 64

    def __post_init__(self) -> None:
        if not 0 <= self.fmin < self.fmax <= self.sample_rate / 2:
            raise ValueError(f"need 0 <= fmin < fmax <= {self.sample_rate / 2}, got {self.fmin}, {self.fmax}")
        if min(self.window_size, self.hop_size, self.mel_bins, self.classes, self.base_width) < 1:
            raise ValueError(f"sizes must be positive, got {self}")

    @property
    def embedding_dim(self) -> int:
        return 32 * self.base_width

    @property
    def min_samples(self) -> int:
        """Shortest input: 32 frames survive the five poolings, and reflect padding needs half a window."""
        return max((2**_PANNS_POOLS - 1) * self.hop_size + 1, self.window_size // 2 + 1)


VGGISH = VGGishConfig()
CNN14_32K = Cnn14Config()  # Cnn14_mAP=0.431.pth
CNN14_16K = Cnn14Config(
    sample_rate=16_000, window_size=512, hop_size=160, fmax=8_000.0
)  # Cnn14_16k_mAP=0.438
CNN14_PRESETS = (CNN14_32K, CNN14_16K)


class PannsOutput(NamedTuple):
    """CNN14 outputs for ``n`` clips: `embedding` (n, 2048), `logits` (n, 527), `clipwise` = sigmoid."""

    embedding: torch.Tensor
    logits: torch.Tensor
    clipwise: torch.Tensor


# ---------------------------------------------------------------------------------------------- VGGish


@functools.cache
def vggish_mel_matrix() -> np.ndarray:
    """VGGish's (257, 64) mel weights: HTK mel scale, triangles linear in mel, no DC (module docstring)."""
    import librosa

    bins = librosa.hz_to_mel(np.linspace(0.0, VGGISH_RATE / 2, _VGGISH_FFT // 2 + 1), htk=True)
    low, high = librosa.hz_to_mel(np.array([_VGGISH_FMIN, _VGGISH_FMAX]), htk=True)
    edges = np.linspace(low, high, _VGGISH_MELS + 2)
    rising = (bins[:, None] - edges[None, :-2]) / (edges[1:-1] - edges[:-2])
    falling = (edges[None, 2:] - bins[:, None]) / (edges[2:] - edges[1:-1])
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights[0] = 0.0  # HTK leaves the DC bin out
    return weights


def vggish_examples(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """VGGish's input: log-mel examples ``(n, 96, 64)`` float32, one per whole 0.96 s of `wave`.

    Args:
        wave: Audio ``(s,)`` or ``(channels, s)`` (channels are averaged).
        sample_rate: Its rate (resampled to 16 kHz).

    Returns:
        ``n = 0`` examples for audio shorter than 0.96 s (plus one window).
    """
    import librosa

    wave = np.asarray(wave, dtype=np.float64)
    wave = wave.mean(axis=0) if wave.ndim == 2 else wave
    if sample_rate != VGGISH_RATE:
        wave = librosa.resample(wave, orig_sr=sample_rate, target_sr=VGGISH_RATE)
    if wave.shape[0] < _VGGISH_WINDOW:
        return np.zeros((0, EXAMPLE_FRAMES, _VGGISH_MELS), dtype=np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(wave, _VGGISH_WINDOW)[::_VGGISH_HOP]
    periodic_hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(_VGGISH_WINDOW) / _VGGISH_WINDOW)
    magnitude = np.abs(np.fft.rfft(frames * periodic_hann, _VGGISH_FFT))
    log_mel = np.log(magnitude @ vggish_mel_matrix() + _VGGISH_LOG_OFFSET)
    n = log_mel.shape[0] // EXAMPLE_FRAMES
    examples = log_mel[: n * EXAMPLE_FRAMES].reshape(n, EXAMPLE_FRAMES, _VGGISH_MELS)
    return examples.astype(np.float32)


class VGGish(nn.Module):
    """VGGish: log-mel examples ``(n, 96, 64)`` -> embeddings ``(n, 128)``."""

    def __init__(self, config: VGGishConfig = VGGISH) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        width = 1
        # Indices of the convs in this Sequential (0, 3, 6, 8, 11, 13) are the published tensor names.
        for group, channels in enumerate(config.channels):
            for _ in range(1 if group < 2 else 2):
                layers += [nn.Conv2d(width, channels, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                width = channels
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        self.features = nn.Sequential(*layers)
        flat = width * _VGGISH_POOLED[0] * _VGGISH_POOLED[1]
        head: list[nn.Module] = [
            nn.Linear(flat, config.hidden),
            nn.ReLU(inplace=True),
            nn.Linear(config.hidden, config.hidden),
            nn.ReLU(inplace=True),
            nn.Linear(config.hidden, config.embedding_dim),
        ]
        if config.final_relu:
            head.append(nn.ReLU(inplace=True))
        self.embeddings = nn.Sequential(*head)

    def forward(self, examples: torch.Tensor) -> torch.Tensor:
        if examples.dim() == 3:
            examples = examples.unsqueeze(1)
        if examples.dim() != 4 or tuple(examples.shape[1:]) != (1, EXAMPLE_FRAMES, _VGGISH_MELS):
            raise ValueError(f"expected examples (n, 96, 64), got {tuple(examples.shape)}")
        x = self.features(examples)  # (n, c, 6, 4)
        # TensorFlow flattened (height, width, channel); the published dense weights expect that order.
        x = x.permute(0, 2, 3, 1).flatten(1)
        return self.embeddings(x)


@torch.no_grad()
def vggish_embeddings(model: VGGish, wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """Embeddings ``(n, 128)`` float64 of every 0.96 s example of `wave` (``n = 0`` when shorter)."""
    examples = torch.from_numpy(vggish_examples(wave, sample_rate))
    if examples.shape[0] == 0:
        return np.zeros((0, model.config.embedding_dim))
    return model(examples).double().numpy()


# ---------------------------------------------------------------------------------------------- CNN14


@functools.cache
def cnn14_mel_matrix(config: Cnn14Config) -> np.ndarray:
    """torchlibrosa's ``melW`` for `config`: ``librosa.filters.mel(...).T``, (window // 2 + 1, mel_bins)."""
    import librosa

    return librosa.filters.mel(
        sr=config.sample_rate,
        n_fft=config.window_size,
        n_mels=config.mel_bins,
        fmin=config.fmin,
        fmax=config.fmax,
    ).T


def cnn14_log_mel(wave: torch.Tensor, config: Cnn14Config) -> torch.Tensor:
    """CNN14's front end: waveform ``(n, s)`` at ``config.sample_rate`` -> log-mel ``(n, 1, t, m)``."""
    window = torch.hann_window(config.window_size, periodic=True, dtype=wave.dtype, device=wave.device)
    spectrum = torch.stft(
        wave,
        n_fft=config.window_size,
        hop_length=config.hop_size,
        window=window,
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )
    power = spectrum.abs().square().transpose(1, 2)  # (n, t, freq)
    mel = power @ torch.from_numpy(cnn14_mel_matrix(config)).to(power)
    return (10.0 * torch.log10(mel.clamp(min=_PANNS_AMIN))).unsqueeze(1)


class _ConvBlock(nn.Module):
    """Two 3x3 conv + BN + ReLU, then average pooling (PANNs' ConvBlock; pool 1 means none)."""

    def __init__(self, in_channels: int, out_channels: int, *, pool: int) -> None:
        super().__init__()
        self.pool = pool
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return F.avg_pool2d(x, kernel_size=self.pool) if self.pool > 1 else x


class Cnn14(nn.Module):
    """PANNs CNN14: waveform ``(n, s)`` at ``config.sample_rate`` -> `PannsOutput`.

    Inputs shorter than ``config.min_samples`` are zero-padded to it. Use in eval mode (batch norm).
    """

    def __init__(self, config: Cnn14Config = CNN14_32K) -> None:
        super().__init__()
        self.config = config
        self.bn0 = nn.BatchNorm2d(config.mel_bins)
        widths = [1] + [config.base_width * 2**k for k in range(6)]
        for k in range(6):
            block = _ConvBlock(widths[k], widths[k + 1], pool=2 if k < _PANNS_POOLS else 1)
            self.add_module(f"conv_block{k + 1}", block)
        self.fc1 = nn.Linear(config.embedding_dim, config.embedding_dim)
        self.fc_audioset = nn.Linear(config.embedding_dim, config.classes)

    def forward(self, wave: torch.Tensor) -> PannsOutput:
        if wave.dim() != 2:
            raise ValueError(f"expected a waveform (n, samples), got {tuple(wave.shape)}")
        wave = F.pad(wave, (0, max(0, self.config.min_samples - wave.shape[1])))
        x = cnn14_log_mel(wave, self.config)  # (n, 1, t, m)
        x = self.bn0(x.transpose(1, 3)).transpose(1, 3)  # normalised per mel band
        for k in range(6):
            x = getattr(self, f"conv_block{k + 1}")(x)
        x = x.mean(dim=3)  # over frequency: (n, c, t')
        x = x.amax(dim=2) + x.mean(dim=2)
        embedding = F.relu(self.fc1(x))
        logits = self.fc_audioset(embedding)
        return PannsOutput(embedding, logits, torch.sigmoid(logits))


@torch.no_grad()
def panns_outputs(model: Cnn14, wave: np.ndarray, sample_rate: int) -> PannsOutput:
    """CNN14 outputs for one clip (mono mix, resampled to the model's rate), each with a batch axis of 1."""
    import librosa

    wave = np.asarray(wave, dtype=np.float32)
    wave = wave.mean(axis=0) if wave.ndim == 2 else wave
    if sample_rate != model.config.sample_rate:
        wave = librosa.resample(wave, orig_sr=sample_rate, target_sr=model.config.sample_rate)
    return model(torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))[None])


# -------------------------------------------------------------------------------------------- loading


def _empty(module: type[nn.Module], config) -> nn.Module:
    """The network with uninitialised storage: no point initialising ~80M weights about to be overwritten."""
    with torch.device("meta"):
        model = module(config)
    return model.to_empty(device="cpu")


def load_vggish(path: str | os.PathLike | None, *, config: VGGishConfig = VGGISH) -> VGGish:
    """VGGish in eval mode with the weights of a local torchvggish-layout file.

    Raises:
        WeightsMissing: `path` is None.
        FileNotFoundError: `path` is not a file.
        ValueError: The file is unreadable or its tensors do not fit `config` (the message names it).
    """
    if path is None:
        raise WeightsMissing("FAD", "VGGish")
    path = Path(path).expanduser()
    state = {k: v for k, v in read_weights(path).items() if not k.startswith("pproc.")}
    model = _empty(VGGish, config)
    load_exactly(model, state, path=path, layout="VGGish weights in the torchvggish layout")
    return model.eval()


def load_panns(path: str | os.PathLike | None, *, config: Cnn14Config | None = None) -> Cnn14:
    """PANNs CNN14 in eval mode with the weights of a local file in the PANNs layout.

    Args:
        path: The checkpoint (`Cnn14_mAP=0.431.pth`, or the 16 kHz `Cnn14_16k_mAP=0.438.pth`).
        config: The configuration; None picks `CNN14_32K` or `CNN14_16K` from the file's mel matrix
            (32 kHz when the file has none).

    Raises:
        WeightsMissing: `path` is None.
        FileNotFoundError: `path` is not a file.
        ValueError: The file is unreadable, its front end matches no configuration, or its tensors do not
            fit the configuration (the message names the file).
    """
    if path is None:
        raise WeightsMissing("FD, KL and IS", "PANNs CNN14")
    path = Path(path).expanduser()
    state = read_weights(path)
    mel = state.get("logmel_extractor.melW")
    if config is None:
        shapes = {preset: cnn14_mel_matrix(preset).shape for preset in CNN14_PRESETS}
        found = [p for p, shape in shapes.items() if mel is None or tuple(mel.shape) == shape]
        if not found:
            raise ValueError(
                f"{path}: mel matrix {tuple(mel.shape)} fits neither the 32 kHz nor the 16 kHz CNN14"
            )
        config = found[0]
    if mel is not None:
        expected = cnn14_mel_matrix(config)
        if tuple(mel.shape) != expected.shape or not np.allclose(mel.double().numpy(), expected, atol=1e-5):
            raise ValueError(f"{path}: its mel front end is not CNN14's at {config.sample_rate} Hz")
    state = {k: v for k, v in state.items() if not k.startswith(_PANNS_FRONT_END)}
    model = _empty(Cnn14, config)
    load_exactly(model, state, path=path, layout="PANNs CNN14 weights in the PANNs layout")
    return model.eval()
