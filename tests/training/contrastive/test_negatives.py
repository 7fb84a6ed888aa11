import math
from typing import Any

import numpy as np
import pytest
import torch

from muvi_plugin.constants import SAMPLE_RATE, VIDEO_FPS
from training.contrastive.negatives import (
    REPLACEMENT_SLOT,
    SHIFT_SLOT,
    NegativeKind,
    NegativesConfig,
    allowed_shifts,
    build_negatives,
    draw_negatives,
    equal_power_fade,
    minimal_beat_period,
    random_replacement,
    temporal_shift,
)

SAMPLES_PER_FRAME = SAMPLE_RATE // VIDEO_FPS
TEMPI = (75.0, 90.0, 100.0, 120.0, 140.0)
# The tracker's tempo comes from onset-envelope lags (hop 256 = 10.7 ms); its period may be off by a few
# hundredths of a frame, which adds up over the many beats a long shift spans.
TRACKER_SLACK_FRAMES = 0.25


def click_track(bpm: float, *, seconds: float = 4.0, phase: float = 0.1) -> np.ndarray:
    """Decaying 1 kHz clicks every beat: a signal whose beat period is known exactly."""
    wave = np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)
    t = np.arange(int(0.02 * SAMPLE_RATE)) / SAMPLE_RATE
    click = (np.sin(2 * np.pi * 1000 * t) * np.exp(-200 * t)).astype(np.float32)
    onset = phase
    while int(onset * SAMPLE_RATE) + click.size <= wave.size:
        start = int(onset * SAMPLE_RATE)
        wave[start : start + click.size] += click
        onset += 60.0 / bpm
    return wave


def noise(samples: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(samples).astype(np.float32)


def replaced(wave: np.ndarray, other: np.ndarray, **kwargs: Any) -> tuple[np.ndarray, tuple[int, int]]:
    result = random_replacement(wave, other, **kwargs)
    assert result is not None
    return result


def distance_to_half_beats(shift: int, period: float) -> float:
    half = period / 2
    return abs(shift - round(shift / half) * half)


@pytest.mark.parametrize("bpm", TEMPI)
def test_tracker_finds_the_click_track_period(bpm: float) -> None:
    period = minimal_beat_period(click_track(bpm), sample_rate=SAMPLE_RATE, fps=VIDEO_FPS)
    assert period == pytest.approx(60 * VIDEO_FPS / bpm, rel=0.02)


def test_tracker_finds_no_beat_in_silence_or_tiny_clips() -> None:
    assert minimal_beat_period(np.zeros(2 * SAMPLE_RATE, dtype=np.float32)) is None
    assert minimal_beat_period(noise(1000, seed=0)) is None


def test_allowed_shifts_skip_beats_and_half_beats() -> None:
    # 120 BPM at 10 FPS: a beat every 5 frames, half beats at 2.5: only shifts 1 frame away survive.
    shifts = allowed_shifts(20, 5.0, tolerance=1.0)
    assert shifts == [-19, -16, -14, -11, -9, -6, -4, -1, 1, 4, 6, 9, 11, 14, 16, 19]
    # 100 BPM: a beat every 6 frames, half beats at 3.
    assert [s for s in allowed_shifts(13, 6.0, tolerance=1.0) if s > 0] == [1, 2, 4, 5, 7, 8, 10, 11]
    # A stricter tolerance leaves only the middle between beat and half beat.
    assert [s for s in allowed_shifts(13, 6.0, tolerance=1.5) if s > 0] == []
    wide = [s for s in allowed_shifts(25, 10.0, tolerance=2.0) if s > 0]
    assert wide == [2, 3, 7, 8, 12, 13, 17, 18, 22, 23]


def test_allowed_shifts_are_empty_without_beat_short_clips_or_fast_tempo() -> None:
    assert allowed_shifts(40, None) == []
    assert allowed_shifts(1, 5.0) == []
    # 200 BPM: every frame is within 1 frame of a beat or half beat (1.5-frame grid).
    assert allowed_shifts(40, 3.0, tolerance=1.0) == []
    with pytest.raises(ValueError, match="period"):
        allowed_shifts(10, 0.0)


def test_temporal_shift_rolls_by_whole_frames() -> None:
    wave = np.zeros(10 * SAMPLES_PER_FRAME, dtype=np.float32)
    wave[100] = 1.0
    shifted = temporal_shift(wave, 2)
    assert np.flatnonzero(shifted).tolist() == [100 + 2 * SAMPLES_PER_FRAME]
    wrapped = temporal_shift(wave, -1)
    assert np.flatnonzero(wrapped).tolist() == [wave.size - SAMPLES_PER_FRAME + 100]


@pytest.mark.parametrize("bpm", TEMPI)
def test_shift_negatives_never_land_on_a_beat_or_half_beat(bpm: float) -> None:
    waves = np.stack([click_track(bpm, phase=0.1), click_track(bpm, phase=0.37)])
    true_period = 60 * VIDEO_FPS / bpm
    rng = np.random.default_rng(int(bpm))
    # The first draw runs the beat tracker; the rest reuse its periods, as the data workers would.
    first = draw_negatives(waves, generator=rng)
    periods = [minimal_beat_period(w) for w in waves]
    drawn = set()
    for draw in range(150):
        negatives = first if draw == 0 else draw_negatives(waves, generator=rng, periods=periods)
        assert (negatives.kinds[:, SHIFT_SLOT] == NegativeKind.SHIFT).all()
        for i, shift in enumerate(negatives.shifts.tolist()):
            assert 0 < abs(shift) < waves.shape[1] // SAMPLES_PER_FRAME
            # Never a whole-beat multiple nor a half beat of the *true* tempo.
            assert distance_to_half_beats(shift, true_period) >= 1.0 - TRACKER_SLACK_FRAMES
            np.testing.assert_array_equal(negatives.waves[i, SHIFT_SLOT], temporal_shift(waves[i], shift))
            drawn.add(shift)
    assert len(drawn) > 1
    assert min(drawn) < 0 < max(drawn)


def test_equal_power_fade_keeps_power() -> None:
    fade_out, fade_in = equal_power_fade(1200)
    np.testing.assert_allclose(fade_out**2 + fade_in**2, 1.0, atol=1e-12)
    assert (np.diff(fade_out) < 0).all() and (np.diff(fade_in) > 0).all()
    assert 0 < fade_in[0] < 0.01 and 0.99 < fade_in[-1] < 1


def test_replacement_changes_only_the_segment_and_keeps_the_margins() -> None:
    length = 4 * SAMPLE_RATE
    wave, other = noise(length, seed=1), noise(length, seed=2)
    fade = round(0.05 * SAMPLE_RATE)
    keep = math.ceil(0.05 * length)
    rng = np.random.default_rng(0)
    for _ in range(50):
        out, (start, end) = replaced(wave, other, generator=rng, crossfade_seconds=0.05)
        assert keep <= start < end <= length - keep
        assert 0.1 * length - 1 <= end - start <= 0.5 * length + 1
        np.testing.assert_array_equal(out[:start], wave[:start])
        np.testing.assert_array_equal(out[end:], wave[end:])
        np.testing.assert_array_equal(out[start + fade : end - fade], other[start + fade : end - fade])
        # Inside the crossfades both signals are present: the output is neither of them.
        assert not np.allclose(out[start : start + fade], wave[start : start + fade])
        assert not np.allclose(out[start : start + fade], other[start : start + fade])


def test_replacement_crossfades_are_equal_power() -> None:
    # The replacement is linear in (wave, other) for a fixed draw: feeding ones/zeros exposes the gains.
    length = 2 * SAMPLE_RATE
    ones, zeros = np.ones(length), np.zeros(length)
    kept, (start, end) = replaced(ones, zeros, generator=np.random.default_rng(3))
    added, segment = replaced(zeros, ones, generator=np.random.default_rng(3))
    assert segment == (start, end)
    fade = round(0.05 * SAMPLE_RATE)
    np.testing.assert_allclose(kept**2 + added**2, 1.0, atol=1e-12)
    assert (np.diff(added[start : start + fade]) > 0).all()
    assert (np.diff(added[end - fade : end]) < 0).all()
    np.testing.assert_array_equal(added[start + fade : end - fade], 1.0)
    np.testing.assert_array_equal(kept[:start], 1.0)
    np.testing.assert_array_equal(kept[end:], 1.0)


def test_replacement_stays_inside_a_shorter_other_clip() -> None:
    wave, other = noise(4 * SAMPLE_RATE, seed=4), noise(2 * SAMPLE_RATE, seed=5)
    rng = np.random.default_rng(1)
    for _ in range(20):
        _, (start, end) = replaced(wave, other, generator=rng)
        assert end <= other.size


def test_replacement_gives_up_when_no_segment_fits() -> None:
    # A 0.1 s clip: even its longest segment (50%, 1200 samples) cannot hold two 50 ms crossfades.
    short = noise(SAMPLE_RATE // 10, seed=6)
    assert random_replacement(short, noise(SAMPLE_RATE, seed=7), generator=np.random.default_rng(0)) is None


def test_silence_fallbacks() -> None:
    rng = np.random.default_rng(0)
    beat, silent = click_track(120.0), np.zeros(4 * SAMPLE_RATE, dtype=np.float32)
    # One clip: the shift exists, but no other clip to borrow music from.
    alone = draw_negatives(beat[None], generator=rng)
    assert alone.kinds[0].tolist() == [NegativeKind.SHIFT, NegativeKind.SILENCE]
    assert not alone.waves[0, REPLACEMENT_SLOT].any()
    assert alone.segments[0].tolist() == [-1, -1]
    # No beat in the silent clip: its shift slot is silence, its replacement borrows from the click track.
    pair = draw_negatives(np.stack([silent, beat]), generator=rng)
    assert pair.kinds.tolist() == [
        [NegativeKind.SILENCE, NegativeKind.REPLACEMENT],
        [NegativeKind.SHIFT, NegativeKind.REPLACEMENT],
    ]
    assert not pair.waves[0, SHIFT_SLOT].any() and pair.shifts[0] == 0
    start, end = pair.segments[0]
    np.testing.assert_array_equal(pair.waves[0, REPLACEMENT_SLOT, :start], 0.0)
    assert pair.waves[0, REPLACEMENT_SLOT, start:end].any()
    # A clip of one video frame: no shift and no room for a replacement.
    tiny = draw_negatives(noise(2 * SAMPLES_PER_FRAME, seed=8).reshape(2, -1), generator=rng)
    assert (tiny.kinds == NegativeKind.SILENCE).all()
    assert not tiny.waves.any()


def test_padded_clips_keep_silent_padding() -> None:
    rng = np.random.default_rng(5)
    long, short = click_track(100.0, seconds=4.0), click_track(120.0, seconds=3.0)
    waves = np.zeros((2, long.size), dtype=np.float32)
    waves[0], waves[1, : short.size] = long, short
    negatives = draw_negatives(waves, generator=rng, lengths=[long.size, short.size])
    assert (negatives.kinds == [[NegativeKind.SHIFT, NegativeKind.REPLACEMENT]] * 2).all()
    assert not negatives.waves[1, :, short.size :].any()
    np.testing.assert_array_equal(
        negatives.waves[1, SHIFT_SLOT, : short.size], temporal_shift(short, int(negatives.shifts[1]))
    )
    # The long clip's replacement must come from where the short clip has music.
    assert negatives.segments[0, 1] <= short.size


def test_negatives_are_reproducible_and_accept_tensors() -> None:
    waves = np.stack([noise(2 * SAMPLE_RATE, seed=9), noise(2 * SAMPLE_RATE, seed=10)])
    periods = [6.0, 5.0]
    a = draw_negatives(waves, generator=np.random.default_rng(42), periods=periods)
    b, kinds = build_negatives(torch.from_numpy(waves), generator=np.random.default_rng(42), periods=periods)
    c = draw_negatives(waves, generator=np.random.default_rng(43), periods=periods)
    np.testing.assert_array_equal(a.waves, b)
    np.testing.assert_array_equal(a.kinds, kinds)
    assert b.dtype == np.float32 and b.shape == (2, 2, 2 * SAMPLE_RATE)
    assert not np.array_equal(a.waves, c.waves)


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="min_fraction"):
        NegativesConfig(min_fraction=0.6, max_fraction=0.5)
    with pytest.raises(ValueError, match="min_fraction"):
        NegativesConfig(max_fraction=0.95)  # would eat into the 5% margins
    with pytest.raises(ValueError, match="margin"):
        NegativesConfig(margin=0.5)
    with pytest.raises(ValueError):
        waves = np.zeros((2, 100), dtype=np.float32)
        build_negatives(waves, generator=np.random.default_rng(0), periods=[None])
