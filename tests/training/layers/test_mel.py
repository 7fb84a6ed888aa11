"""The torch mel front end equals the runtime's numpy one and is differentiable."""

import dataclasses

import numpy as np
import pytest
import torch

from muvi_plugin.mel import MelSpec, mel_filterbank, mel_spectrogram
from training.layers.mel import MelSpectrogram

# Log-mel parity: the conv1d DFT and numpy's FFT round differently in float32; the log amplifies that
# near the floor (measured max 1.6e-4 there, ~3e-6 on loud bands).
ATOL = 5e-4


def _music_like(samples: int, *, seed: int) -> np.ndarray:
    """Tones, noise and a silent stretch: values from the log floor up to loud bands."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / 24_000
    wave = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 3_100 * t)
    wave += 0.02 * rng.standard_normal(samples)
    wave[samples // 3 : samples // 2] = 0.0
    return wave.astype(np.float32)


@pytest.mark.parametrize("samples", [600, 2_999, 24_000, 24_299])
def test_equals_the_numpy_front_end(samples: int) -> None:
    waves = np.stack([_music_like(samples, seed=0), _music_like(samples, seed=1) * 0.01])
    expected = mel_spectrogram(waves, MelSpec())
    actual = MelSpectrogram()(torch.from_numpy(waves))
    assert actual.shape == (2, 160, samples // 300)
    np.testing.assert_allclose(actual.numpy(), expected, atol=ATOL)


def test_equals_the_numpy_front_end_for_another_spec() -> None:
    spec = MelSpec(n_fft=1024, win_length=800, hop_length=256, n_mels=80, f_min=40.0, f_max=11_000.0)
    wave = _music_like(10_000, seed=2)[None]
    np.testing.assert_allclose(
        MelSpectrogram(spec)(torch.from_numpy(wave)).numpy(), mel_spectrogram(wave, spec), atol=ATOL
    )


def test_uses_the_runtime_filterbank_and_keeps_it_out_of_state_dicts() -> None:
    module = MelSpectrogram()
    np.testing.assert_array_equal(module.filterbank.numpy(), mel_filterbank(MelSpec()))
    assert module.state_dict() == {}


def test_gradients_are_finite_even_through_silence() -> None:
    wave = torch.from_numpy(_music_like(4_800, seed=3))[None].requires_grad_(True)
    with torch.no_grad():
        wave[:, :2_400] = 0.0
    MelSpectrogram()(wave).mean().backward()
    assert wave.grad is not None
    assert torch.isfinite(wave.grad).all() and wave.grad.abs().sum() > 0


def test_spec_is_kept() -> None:
    spec = dataclasses.replace(MelSpec(), log_floor=1e-4)
    out = MelSpectrogram(spec)(torch.zeros(1, 1_200))
    torch.testing.assert_close(out, torch.full((1, 160, 4), float(np.log(1e-4))))
