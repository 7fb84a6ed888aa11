"""Mastering with the real pedalboard and pyloudnorm: DC, loudness target, true-peak ceiling, edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from muvi_plugin.mastering import Mastering, integrated_loudness, master, true_peak

SR = 24_000  # the embedded bundle's rate


def _music(seconds: float = 6.0, seed: int = 0) -> np.ndarray:
    """A chord with a tremolo and a little noise: music-like crest factor (about 12 dB)."""
    t = np.arange(round(seconds * SR)) / SR
    rng = np.random.default_rng(seed)
    x = sum(a * np.sin(2 * np.pi * f * t + p) for f, a, p in ((110, 0.5, 0), (220, 0.3, 1), (330, 0.2, 2)))
    x = x * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t)) + 0.05 * rng.standard_normal(t.size)
    return x


def _at(x: np.ndarray, lufs: float) -> np.ndarray:
    return x * 10 ** ((lufs - integrated_loudness(x, SR)) / 20)


def _quiet() -> np.ndarray:
    return _at(_music(), -40.0)


def _loud() -> np.ndarray:  # -6 LUFS with its peaks clipped at full scale
    x = np.clip(_at(_music(), -4.0), -1.0, 1.0)
    assert integrated_loudness(x, SR) == pytest.approx(-6.0, abs=1.0) and np.mean(np.abs(x) >= 1.0) > 0.01
    return x


def _peaky() -> np.ndarray:  # sparse full-scale clicks over a quiet pad
    x = _at(_music(), -40.0)
    x[::SR] = 0.95
    x[SR // 2 :: SR] = -0.95
    return x


@pytest.mark.parametrize("target", [-16.0, -23.0, -14.0])
@pytest.mark.parametrize("make", [_quiet, _loud, _peaky], ids=["quiet", "loud", "peaky"])
def test_target_and_ceiling_are_both_met(make, target):
    x = make().astype(np.float32)
    out, record = master(x, SR, Mastering(loudness_lufs=target, ceiling_dbtp=-1.0))
    assert out.dtype == np.float32 and out.shape == x.shape
    loudness, peak = integrated_loudness(out, SR), true_peak(out)
    assert abs(loudness - target) <= 0.5, (loudness, record)
    assert peak <= -1.0, (peak, record)
    # The record says what the audio is, measured independently.
    assert record.loudness_lufs == pytest.approx(loudness, abs=1e-6)
    assert record.true_peak_dbtp == pytest.approx(peak, abs=1e-6)
    assert record.target_lufs == target and record.input_loudness_lufs == pytest.approx(
        integrated_loudness(x, SR), abs=0.05
    )


def test_dc_offset_is_removed():
    x = (_at(_music(), -20.0) - 0.08).astype(np.float32)
    assert np.mean(x) == pytest.approx(-0.08, abs=1e-3)
    out, record = master(x, SR, Mastering(loudness_lufs=-16.0))
    assert abs(float(np.mean(out))) < 0.005
    assert abs(record.dc_offset) < 0.005 and record.input_dc_offset == pytest.approx(-0.08, abs=1e-3)
    # No click where the take starts on the offset: the first 10 ms are no louder than the rest.
    assert np.max(np.abs(out[: SR // 100])) <= np.max(np.abs(out[SR:])) + 1e-6


def test_rumble_is_removed_and_the_music_kept():
    t = np.arange(4 * SR) / SR
    rumble, music = 0.3 * np.sin(2 * np.pi * 8 * t), 0.3 * np.sin(2 * np.pi * 440 * t)
    out, _ = master((rumble + music).astype(np.float32), SR, Mastering(loudness_lufs=-20.0))
    spectrum = np.abs(np.fft.rfft(out[SR:]))  # 3 s after the filter settled: 1/3 Hz bins
    low, high = spectrum[round(8 * 3)], spectrum[round(440 * 3)]
    assert low / high < 10 ** (-20 / 20), "8 Hz rumble must be at least 20 dB below the music"


def test_inter_sample_peaks_are_measured_and_held():
    # A sine at fs/4 with phase pi/4: every sample is at 0.707 of the waveform's peak (-3 dB).
    n = np.arange(2 * SR)
    x = np.sin(np.pi / 2 * n + np.pi / 4)
    ramp = np.sin(np.linspace(0, np.pi / 2, SR // 10)) ** 2  # faded: an abrupt start rings over the peak
    x[: ramp.size] *= ramp
    x[-ramp.size :] *= ramp[::-1]
    x = x.astype(np.float32)
    sample_peak = 20 * math.log10(float(np.max(np.abs(x))))
    assert sample_peak == pytest.approx(-3.01, abs=0.01)
    assert true_peak(x) == pytest.approx(0.0, abs=0.05), "BS.1770 Annex 2: the peak between the samples"
    loudness = integrated_loudness(x, SR)
    out, record = master(x, SR, Mastering(loudness_lufs=loudness, ceiling_dbtp=-1.0))
    assert true_peak(out) <= -1.0  # sample peak alone (-3 dBFS) would have passed a -1 dBFS check
    assert record.input_true_peak_dbtp == pytest.approx(0.0, abs=0.05)


def test_silence_stays_silence():
    out, record = master(np.zeros(3 * SR, np.float32), SR, Mastering(loudness_lufs=-16.0))
    assert not np.any(out)
    assert (record.loudness_lufs, record.true_peak_dbtp, record.gain_db) == (None, None, 0.0)


def test_short_audio_gets_the_ceiling_not_the_loudness():
    x = 1.5 * np.sin(2 * np.pi * 440 * np.arange(SR // 5) / SR).astype(np.float32)  # 200 ms, over full scale
    out, record = master(x, SR, Mastering(loudness_lufs=-16.0))
    assert np.all(np.isfinite(out)) and out.shape == x.shape
    assert record.loudness_lufs is None and record.input_loudness_lufs is None  # undefined under 400 ms
    assert true_peak(out) <= -1.0 and record.true_peak_dbtp <= -1.0


def test_off_leaves_the_audio_untouched():
    x = (_loud() - 0.05).astype(np.float32)
    out, record = master(x, SR, Mastering(loudness_lufs=None))
    assert np.array_equal(out, x)
    assert record.target_lufs is None and record.gain_db == 0.0
    assert record.loudness_lufs == pytest.approx(integrated_loudness(x, SR), abs=1e-6)  # still measured


def test_deterministic():
    x = _peaky().astype(np.float32)
    a, ra = master(x, SR, Mastering(loudness_lufs=-14.0))
    b, rb = master(x, SR, Mastering(loudness_lufs=-14.0))
    assert np.array_equal(a, b) and ra == rb
