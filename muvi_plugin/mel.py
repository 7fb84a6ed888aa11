"""The log-mel front end, defined once in numpy and shared by the runtime and training.

MuVi Sec. 4.1: 24 kHz audio, hop 300, 160 mel bins -> 80 frames per second. Training builds its torch
module (`training/layers/mel.py`) from the filterbank and window below, so the mel a bundle's VAE encoder
sees at runtime is the mel it was trained on (docs/architecture.md, "Packages": the shared core).

Framing rule (the same here and in training):
    1. Keep `frames = samples // hop_length` and crop the wave to `frames * hop_length` samples, so a
       trailing partial hop is dropped and never changes the last frame.
    2. Reflect-pad `(n_fft - hop_length) // 2` samples on each side (no extra centre padding).
    3. Slide an `n_fft` window by `hop_length`: `(frames * hop + 2 * pad - n_fft) // hop + 1 == frames`.
Frame `k` is then centred on the middle of samples `[k * hop, (k + 1) * hop)`, which is what makes the
vocoder's `frames * hop` output line up with its input mel frame for frame.

This module imports numpy only: it is part of the runtime, which never loads torch or librosa.
"""

from dataclasses import dataclass

import numpy as np

from muvi_plugin.constants import HOP_LENGTH, N_MELS, SAMPLE_RATE


@dataclass(frozen=True)
class MelSpec:
    """Geometry of the log-mel spectrogram.

    Attributes:
        sample_rate: Audio sample rate in Hz.
        n_fft: FFT size in samples.
        win_length: Hann window length in samples (centred in the FFT frame when shorter than `n_fft`).
        hop_length: Samples between frames.
        n_mels: Number of mel bands.
        f_min: Lowest filter edge in Hz.
        f_max: Highest filter edge in Hz (at most Nyquist).
        log_floor: Mel magnitudes are clamped to at least this before the natural log.
    """

    sample_rate: int = SAMPLE_RATE
    n_fft: int = 1200
    win_length: int = 1200
    hop_length: int = HOP_LENGTH
    n_mels: int = N_MELS
    f_min: float = 0.0
    f_max: float = 12000.0
    log_floor: float = 1e-5

    def __post_init__(self) -> None:
        if self.sample_rate <= 0 or self.hop_length <= 0 or self.n_mels <= 0:
            raise ValueError(
                f"MelSpec: sample_rate, hop_length and n_mels must be positive, got "
                f"{self.sample_rate}, {self.hop_length}, {self.n_mels}"
            )
        if not 0 < self.win_length <= self.n_fft:
            raise ValueError(f"MelSpec: need 0 < win_length <= n_fft, got {self.win_length}, {self.n_fft}")
        if self.n_fft < self.hop_length or (self.n_fft - self.hop_length) % 2:
            # An odd difference would pad one sample short and lose a frame at exact multiples of hop.
            raise ValueError(
                f"MelSpec: n_fft - hop_length must be even and >= 0 so that frames == samples // hop, "
                f"got n_fft={self.n_fft}, hop_length={self.hop_length}"
            )
        if not 0.0 <= self.f_min < self.f_max <= self.sample_rate / 2:
            raise ValueError(
                f"MelSpec: need 0 <= f_min < f_max <= sample_rate / 2, got {self.f_min}, {self.f_max}"
            )
        if self.log_floor <= 0.0:
            raise ValueError(f"MelSpec: log_floor must be positive, got {self.log_floor}")

    @property
    def n_freqs(self) -> int:
        """Number of one-sided FFT bins."""
        return self.n_fft // 2 + 1

    @property
    def pad(self) -> int:
        """Reflect padding on each side of the (cropped) wave."""
        return (self.n_fft - self.hop_length) // 2

    @property
    def frame_rate(self) -> float:
        """Mel frames per second."""
        return self.sample_rate / self.hop_length

    @property
    def min_samples(self) -> int:
        """Shortest wave accepted: the cropped wave must be longer than `pad` to reflect-pad it."""
        return (self.pad // self.hop_length + 1) * self.hop_length

    def num_frames(self, samples: int) -> int:
        """Mel frames produced from `samples` samples: `samples // hop_length`."""
        return samples // self.hop_length


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """Slaney's mel scale (librosa's default, `htk=False`): linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    f_sp = 200.0 / 3.0
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    linear = hz / f_sp
    log = min_log_mel + np.log(np.maximum(hz, min_log_hz) / min_log_hz) / logstep
    return np.where(hz >= min_log_hz, log, linear)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    """Inverse of `_hz_to_mel`."""
    mel = np.asarray(mel, dtype=np.float64)
    f_sp = 200.0 / 3.0
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    linear = f_sp * mel
    log = min_log_hz * np.exp(logstep * (np.maximum(mel, min_log_mel) - min_log_mel))
    return np.where(mel >= min_log_mel, log, linear)


def mel_filterbank(spec: MelSpec) -> np.ndarray:
    """Triangular mel filters with Slaney area normalisation (as `librosa.filters.mel` by default).

    Args:
        spec: The mel geometry.

    Returns:
        float32 array `(n_mels, n_fft // 2 + 1)`; row `i` weights the FFT magnitudes of band `i`.
    """
    fft_freqs = np.linspace(0.0, spec.sample_rate / 2, spec.n_freqs)
    mel_points = np.linspace(_hz_to_mel(spec.f_min), _hz_to_mel(spec.f_max), spec.n_mels + 2)
    edges = _mel_to_hz(mel_points)  # (n_mels + 2,) band edges in Hz
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    # Slaney normalisation: every filter has unit area in Hz, so wide high bands are not louder.
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


def hann_window(spec: MelSpec) -> np.ndarray:
    """Periodic Hann window of `win_length`, zero-padded to `n_fft` with the window centred.

    Periodic (not symmetric), as `torch.hann_window` and `scipy.signal.get_window("hann")` give it.

    Returns:
        float32 array `(n_fft,)`.
    """
    n = np.arange(spec.win_length, dtype=np.float64)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / spec.win_length)
    left = (spec.n_fft - spec.win_length) // 2
    padded = np.zeros(spec.n_fft, dtype=np.float64)
    padded[left : left + spec.win_length] = window
    return padded.astype(np.float32)


def mel_spectrogram(wave: np.ndarray, spec: MelSpec) -> np.ndarray:
    """Natural-log mel magnitude spectrogram, `log(max(filterbank @ |STFT|, log_floor))`.

    See the module docstring for the framing rule: `frames == samples // hop_length` exactly, and
    samples past the last whole hop are dropped before framing.

    Args:
        wave: float audio `(..., samples)` at `spec.sample_rate`, nominally in [-1, 1].
        spec: The mel geometry.

    Returns:
        float32 array `(..., n_mels, frames)`.

    Raises:
        ValueError: If the wave is shorter than `spec.min_samples` (600 by default, 25 ms: reflect
            padding needs more than `pad` samples) or not floating point.
    """
    wave = np.asarray(wave)
    if not np.issubdtype(wave.dtype, np.floating):
        raise ValueError(f"mel_spectrogram: expected floating-point audio, got dtype {wave.dtype}")
    samples = wave.shape[-1]
    frames = spec.num_frames(samples)
    if samples < spec.min_samples:
        raise ValueError(
            f"mel_spectrogram: audio of {samples} samples is too short; need at least {spec.min_samples}"
        )
    wave = wave[..., : frames * spec.hop_length].astype(np.float32, copy=False)
    pad_width = [(0, 0)] * (wave.ndim - 1) + [(spec.pad, spec.pad)]
    padded = np.pad(wave, pad_width, mode="reflect")
    # (..., frames, n_fft): a strided view, no copy until the window is applied.
    windows = np.lib.stride_tricks.sliding_window_view(padded, spec.n_fft, axis=-1)
    windows = windows[..., :: spec.hop_length, :]
    magnitude = np.abs(np.fft.rfft(windows * hann_window(spec), axis=-1))  # (..., frames, n_freqs)
    mel = np.einsum("mf,...tf->...mt", mel_filterbank(spec), magnitude.astype(np.float32))
    return np.log(np.maximum(mel, spec.log_floor)).astype(np.float32)
