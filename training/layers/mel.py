"""The log-mel front end in torch, built from the runtime's numpy definition (`muvi_plugin.mel`).

Shapes: `b` batch, `s` samples, `m` mel bands, `f` one-sided FFT bins, `t` mel frames.

The filterbank and window come from `muvi_plugin.mel`, and the framing rule is the same (crop to whole hops,
reflect-pad `(n_fft - hop) // 2`, slide by hop), so training and the runtime compute the same mel. The STFT
is a strided conv1d with a windowed DFT basis rather than `torch.stft`: real-valued, differentiable and
exportable to ONNX (no complex tensors).
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from muvi_plugin.mel import MelSpec, hann_window, mel_filterbank

# Power below which the magnitude's square root is clamped: keeps the gradient finite at exact zeros and
# changes magnitudes by at most 1e-9, far under the mel's log floor.
_POWER_FLOOR = 1e-18


def windowed_dft_basis(window: np.ndarray) -> np.ndarray:
    """Real and imaginary one-sided DFT rows with `window` folded in, `(2f, n_fft)` float64: a strided
    conv1d with it (one output channel per row) computes the windowed STFT, real parts then imaginary."""
    n_fft = len(window)
    n = np.arange(n_fft, dtype=np.float64)
    k = np.arange(n_fft // 2 + 1, dtype=np.float64)
    phase = 2.0 * np.pi * np.outer(k, n) / n_fft  # (f, n_fft)
    return np.concatenate([np.cos(phase), -np.sin(phase)], axis=0) * np.asarray(window, np.float64)


class MelSpectrogram(nn.Module):
    """Natural-log mel magnitude spectrogram, equal to `muvi_plugin.mel.mel_spectrogram`.

    Args:
        spec: The mel geometry (defaults to the project's 24 kHz / hop 300 / 160 bands).
    """

    def __init__(self, spec: MelSpec | None = None) -> None:
        super().__init__()
        self.spec = spec if spec is not None else MelSpec()
        basis = windowed_dft_basis(hann_window(self.spec))  # (2f, n_fft)
        # Derived from `spec`, so not saved in state dicts (persistent=False): a checkpoint carries the spec.
        self.register_buffer(
            "dft_basis", torch.from_numpy(basis.astype(np.float32))[:, None, :], persistent=False
        )
        self.register_buffer("filterbank", torch.from_numpy(mel_filterbank(self.spec)), persistent=False)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """Compute the log-mel of `wave`.

        Args:
            wave: Audio `(b, s)`, `s >= spec.min_samples`; samples past the last whole hop are dropped.

        Returns:
            Log-mel `(b, m, s // hop_length)`, float32.
        """
        hop = self.spec.hop_length
        frames = wave.shape[-1] // hop
        x = wave[:, : frames * hop].float().unsqueeze(1)  # (b, 1, s')
        x = F.pad(x, (self.spec.pad, self.spec.pad), mode="reflect")
        stft = F.conv1d(x, self.dft_basis, stride=hop)  # (b, 2f, t)
        real, imag = stft.chunk(2, dim=1)
        magnitude = torch.sqrt(torch.clamp(real.square() + imag.square(), min=_POWER_FLOOR))  # (b, f, t)
        mel = torch.matmul(self.filterbank, magnitude)  # (b, m, t)
        return torch.log(torch.clamp(mel, min=self.spec.log_floor))
