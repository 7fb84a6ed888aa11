"""The numpy mel front end: framing rule, librosa's filterbank, and where a sine's energy lands."""

import dataclasses

import librosa
import numpy as np
import pytest

from muvi_plugin.mel import MelSpec, hann_window, mel_filterbank, mel_spectrogram

SPEC = MelSpec()


def _noise(*shape: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * 0.1).astype(np.float32)


def test_defaults_follow_the_paper() -> None:
    assert (SPEC.sample_rate, SPEC.hop_length, SPEC.n_mels) == (24_000, 300, 160)
    assert SPEC.frame_rate == 80.0
    assert SPEC.n_freqs == 601 and SPEC.pad == 450


@pytest.mark.parametrize("samples", [600, 601, 899, 900, 2999, 24_000, 24_299])
def test_frame_count_is_samples_floor_hop(samples: int) -> None:
    mel = mel_spectrogram(_noise(samples), SPEC)
    assert mel.shape == (SPEC.n_mels, samples // SPEC.hop_length)
    assert mel.dtype == np.float32


def test_samples_past_the_last_whole_hop_are_dropped() -> None:
    wave = _noise(24_299)
    np.testing.assert_array_equal(mel_spectrogram(wave, SPEC), mel_spectrogram(wave[:24_000], SPEC))


def test_filterbank_equals_librosa() -> None:
    expected = librosa.filters.mel(
        sr=SPEC.sample_rate, n_fft=SPEC.n_fft, n_mels=SPEC.n_mels, fmin=SPEC.f_min, fmax=SPEC.f_max
    )
    fb = mel_filterbank(SPEC)
    assert fb.shape == (160, 601) and fb.dtype == np.float32
    np.testing.assert_allclose(fb, expected, rtol=1e-5, atol=1e-8)


def test_filterbank_equals_librosa_for_another_geometry() -> None:
    spec = MelSpec(sample_rate=16_000, n_fft=1024, win_length=800, hop_length=256, n_mels=64, f_max=7600.0)
    expected = librosa.filters.mel(sr=16_000, n_fft=1024, n_mels=64, fmin=0.0, fmax=7600.0)
    np.testing.assert_allclose(mel_filterbank(spec), expected, rtol=1e-5, atol=1e-8)


def test_window_is_a_periodic_hann_centred_in_the_frame() -> None:
    np.testing.assert_allclose(hann_window(SPEC), librosa.filters.get_window("hann", 1200), atol=1e-6)
    short = hann_window(dataclasses.replace(SPEC, win_length=800))
    assert short.shape == (1200,)
    assert np.all(short[:200] == 0) and np.all(short[1000:] == 0)
    np.testing.assert_allclose(short[200:1000], librosa.filters.get_window("hann", 800), atol=1e-6)


def test_equals_librosa_stft_on_the_padded_wave() -> None:
    wave = _noise(7_345)
    frames = 7_345 // 300
    padded = np.pad(wave[: frames * 300], SPEC.pad, mode="reflect")
    power1 = librosa.feature.melspectrogram(
        y=padded, sr=24_000, n_fft=1200, hop_length=300, win_length=1200, window="hann",
        center=False, power=1.0, n_mels=160, fmin=0.0, fmax=12_000.0,
    )  # fmt: skip
    expected = np.log(np.maximum(power1, SPEC.log_floor))
    np.testing.assert_allclose(mel_spectrogram(wave, SPEC), expected, atol=1e-4)


def test_batch_axes_are_independent() -> None:
    waves = _noise(2, 3, 4_800)
    batched = mel_spectrogram(waves, SPEC)
    assert batched.shape == (2, 3, 160, 16)
    np.testing.assert_allclose(batched[1, 2], mel_spectrogram(waves[1, 2], SPEC), atol=1e-5)


@pytest.mark.parametrize("freq", [220.0, 1_000.0, 5_000.0])
def test_a_sine_lands_in_the_band_centred_nearest_its_frequency(freq: float) -> None:
    t = np.arange(24_000) / SPEC.sample_rate
    # The first and last frames see the reflect padding's phase jump (broadband), so look inside.
    mel = mel_spectrogram((0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32), SPEC)[:, 2:-2]
    centres = librosa.mel_frequencies(n_mels=SPEC.n_mels + 2, fmin=SPEC.f_min, fmax=SPEC.f_max)[1:-1]
    loudest = mel.mean(axis=1).argmax()
    assert abs(loudest - np.argmin(np.abs(centres - freq))) <= 1
    assert np.all(mel.argmax(axis=0) == loudest)
    # Bands far from the tone hold nothing above the floor.
    far = np.abs(np.arange(SPEC.n_mels) - loudest) > 20
    np.testing.assert_allclose(mel[far], np.log(SPEC.log_floor), atol=1e-3)
    assert mel[loudest].min() > np.log(SPEC.log_floor) + 10.0


def test_silence_sits_at_the_log_floor() -> None:
    mel = mel_spectrogram(np.zeros(2_400, dtype=np.float32), SPEC)
    np.testing.assert_allclose(mel, np.log(SPEC.log_floor))


def test_too_short_or_non_float_audio_is_refused() -> None:
    assert SPEC.min_samples == 600
    with pytest.raises(ValueError, match="too short"):
        mel_spectrogram(_noise(599), SPEC)
    with pytest.raises(ValueError, match="floating-point"):
        mel_spectrogram(np.zeros(2_400, dtype=np.int16), SPEC)


@pytest.mark.parametrize(
    "changes",
    [
        {"win_length": 1300},
        {"n_fft": 1201},
        {"f_max": 13_000.0},
        {"f_min": 12_000.0},
        {"log_floor": 0.0},
        {"hop_length": 0},
    ],
)
def test_invalid_specs_are_refused(changes: dict) -> None:
    with pytest.raises(ValueError, match="MelSpec"):
        MelSpec(**changes)


def test_spec_round_trips_through_a_dict() -> None:
    assert MelSpec(**dataclasses.asdict(SPEC)) == SPEC
