import math

import numpy as np
import pytest

from tests.training.metrics.test_beats import BEATS, click_track
from training.metrics.audio_stats import audio_stats, loudness, onset_times
from training.metrics.beats import ANALYSIS_RATE

RATE = ANALYSIS_RATE


def _sine(frequency=1000.0, *, seconds=4.0, dbfs=-20.0, rate=RATE):
    t = np.arange(round(seconds * rate)) / rate
    return (10 ** (dbfs / 20) * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


@pytest.fixture(scope="module")
def click_stats():
    return audio_stats(click_track(BEATS, 10.0), RATE)


def test_click_track_tempo_and_onset_rate(click_stats):
    assert click_stats["tempo_bpm"] == pytest.approx(120.0, rel=0.05)
    assert click_stats["tempo_std_bpm"] < 5.0  # a steady click has a steady tempo
    assert click_stats["onset_rate_per_s"] == pytest.approx(len(BEATS) / 10.0, rel=0.1)  # ~2 per second
    assert click_stats["duration_s"] == pytest.approx(10.0)


def test_onsets_land_on_the_clicks():
    onsets = onset_times(click_track(BEATS, 10.0), RATE)
    assert len(onsets) == len(BEATS)
    assert np.max(np.abs(onsets - BEATS)) < 0.05


def test_white_noise_is_much_flatter_than_a_sine():
    noise = np.random.default_rng(0).uniform(-0.5, 0.5, 2 * RATE).astype(np.float32)
    noise_flatness = audio_stats(noise, RATE)["spectral_flatness_mean"]
    sine_flatness = audio_stats(_sine(seconds=2.0), RATE)["spectral_flatness_mean"]
    assert noise_flatness > 0.3
    assert noise_flatness > 100 * sine_flatness


def test_minus_20_dbfs_sine_loudness_and_levels():
    # BS.1770: a full-scale 1 kHz sine in one channel reads -3.01 LUFS, so a -20 dBFS one reads -23.01.
    stats = audio_stats(_sine(dbfs=-20.0, seconds=20.0, rate=48_000), 48_000)
    assert stats["loudness_lufs"] == pytest.approx(-23.01, abs=0.1)
    assert stats["loudness_range_lu"] == pytest.approx(0.0, abs=0.5)  # a steady tone has no range
    assert stats["peak_dbfs"] == pytest.approx(-20.0, abs=0.05)
    assert stats["rms_dbfs"] == pytest.approx(-23.01, abs=0.1)


def test_a_louder_second_half_has_a_loudness_range():
    wave = np.concatenate([_sine(dbfs=-30.0, seconds=6.0), _sine(dbfs=-10.0, seconds=6.0)])
    _, loudness_range = loudness(wave, RATE)
    assert loudness_range > 15.0


def test_silence_gives_no_tempo_and_no_loudness():
    stats = audio_stats(np.zeros(2 * RATE, dtype=np.float32), RATE)
    assert math.isnan(stats["tempo_bpm"]) and math.isnan(stats["loudness_range_lu"])
    assert stats["loudness_lufs"] == -math.inf
    assert stats["onset_rate_per_s"] == 0.0


def test_stereo_input_is_accepted():
    stereo = np.stack([_sine(seconds=1.0), _sine(seconds=1.0)])
    stats = audio_stats(stereo, RATE)
    assert stats["duration_s"] == pytest.approx(1.0)
    assert all(isinstance(value, float) for value in stats.values())
    assert math.isnan(stats["loudness_range_lu"])  # shorter than one 3 s short-term block
