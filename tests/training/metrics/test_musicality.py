"""The musicality measures on constructed audio with a known answer (training/metrics/musicality.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training.metrics import musicality as mu

SR = 24_000


def _tone(
    hz: float, seconds: float, *, harmonics: int = 1, amp: float = 0.3, decay: float = 0.0
) -> np.ndarray:
    """A harmonic tone (partials at 1/k amplitude) with a 10 ms attack and an exponential decay."""
    t = np.arange(round(seconds * SR)) / SR
    envelope = np.minimum(1.0, t / 0.01) * np.exp(-decay * t)
    partials = sum(amp / k * np.sin(2 * np.pi * hz * k * t) for k in range(1, harmonics + 1))
    return (envelope * partials).astype(np.float32)


def _midi_hz(pitch: float) -> float:
    return 440.0 * 2 ** ((pitch - 69) / 12)


def _progression(chords: list[tuple[int, ...]], *, transpose: int = 0) -> np.ndarray:
    """One second per chord of decaying harmonic tones."""
    return np.concatenate(
        [sum(_tone(_midi_hz(p + transpose), 1.0, harmonics=6, amp=0.2, decay=3.0) for p in c) for c in chords]
    )


def _clicks(times: list[float] | np.ndarray, seconds: float) -> np.ndarray:
    wave = np.zeros(round(seconds * SR), dtype=np.float32)
    for time in times:
        i = round(time * SR)
        wave[i : i + 48] += 0.8 * np.hanning(48)
    return wave


C_MAJOR = [(48, 60, 64, 67), (53, 60, 65, 69), (55, 59, 62, 67), (48, 60, 64, 67)] * 2  # I IV V I
A_MINOR = [(45, 57, 60, 64), (50, 57, 62, 65), (52, 56, 59, 64), (45, 57, 60, 64)] * 2  # i iv V i


# --- comb share -------------------------------------------------------------------------------------


def test_a_click_train_at_the_mel_frame_rate_is_all_comb():
    clicks = np.zeros(3 * SR, dtype=np.float32)
    clicks[::300] = 1.0  # one click per mel hop: harmonics at every multiple of 80 Hz
    assert mu.comb_share(clicks, SR) > 0.9


def test_a_harmonic_tone_off_the_comb_and_noise_are_near_chance():
    # 110 Hz (A2) with 20 partials: only every 8th partial (880 Hz = 11 * 80) lands on a tooth.
    assert mu.comb_share(_tone(110.0, 3.0, harmonics=20), SR) < 0.1
    noise = np.random.default_rng(0).standard_normal(5 * SR).astype(np.float32)
    assert mu.comb_share(noise, SR) == pytest.approx(2 * 2.0 / 80.0, abs=0.015)  # chance: 2 tol / base


def test_comb_share_follows_its_base():
    tone = _tone(110.0, 3.0, harmonics=20)
    assert mu.comb_share(tone, SR, base_hz=110.0) > 0.9


def test_comb_share_of_silence_is_nan_and_short_audio_is_refused():
    assert math.isnan(mu.comb_share(np.zeros(2 * SR, dtype=np.float32), SR))
    with pytest.raises(ValueError, match="need at least 1.00 s"):
        mu.comb_share(np.ones(SR // 2, dtype=np.float32), SR)
    with pytest.raises(ValueError, match="mono float audio"):
        mu.comb_share(np.zeros((2, SR), dtype=np.float32), SR)


# --- in tune ----------------------------------------------------------------------------------------


def test_a_sine_at_a440_is_in_tune_and_40_cents_sharp_is_not():
    in_tune = mu.in_tune_share(_tone(440.0, 2.0, harmonics=3), SR)
    sharp = mu.in_tune_share(_tone(440.0 * 2 ** (40 / 1200), 2.0, harmonics=3), SR)
    assert in_tune.voiced_share > 0.9 and sharp.voiced_share > 0.9
    assert in_tune.share > 0.95
    assert sharp.share < 0.05
    assert sharp.tuning_cents == pytest.approx(40.0, abs=5.0)  # librosa's estimate sees the offset ...
    assert abs(in_tune.tuning_cents) < 5.0  # ... which the share never corrects for


def test_silence_is_unvoiced():
    result = mu.in_tune_share(np.zeros(SR, dtype=np.float32), SR)
    assert result.voiced_share == 0.0 and result.frames > 0
    assert math.isnan(result.share) and math.isnan(result.tuning_cents)


# --- key --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chords", "transpose", "key"),
    [
        (C_MAJOR, 0, "C major"),
        (C_MAJOR, 7, "G major"),
        (C_MAJOR, 3, "Eb major"),
        (A_MINOR, 0, "A minor"),
        (A_MINOR, -3, "F# minor"),
    ],
)
def test_a_chord_progression_estimates_to_its_key(chords, transpose, key):
    estimate = mu.estimate_key(_progression(chords, transpose=transpose), SR)
    assert estimate.name == key
    assert estimate.correlation > 0.7 and estimate.clarity > 0.0


def test_the_key_of_silence_is_none():
    estimate = mu.estimate_key(np.zeros(SR, dtype=np.float32), SR)
    assert estimate.name is None and math.isnan(estimate.clarity)


# --- tempo ------------------------------------------------------------------------------------------


def test_a_steady_click_track_has_its_tempo_and_no_spread():
    result = mu.tempo_stability(_clicks(np.arange(0.0, 30.0, 0.5), 30.0), SR, window_s=15.0)
    assert result.tempo == pytest.approx(120.0, rel=0.02)
    assert len(result.window_tempi) == 2
    assert all(t == pytest.approx(120.0, rel=0.02) for t in result.window_tempi)
    assert result.spread < 0.02


def test_a_tempo_change_shows_a_large_spread():
    times = [*np.arange(0.0, 15.0, 60 / 90), *np.arange(15.0, 30.0, 60 / 140)]
    result = mu.tempo_stability(_clicks(times, 30.0), SR, window_s=15.0)
    assert result.window_tempi[0] == pytest.approx(90.0, rel=0.03)
    assert result.window_tempi[1] == pytest.approx(140.0, rel=0.03)
    assert result.spread > 0.15


def test_an_octave_apart_is_no_spread():
    assert mu._folded_deviation(240.0, 120.0) == pytest.approx(0.0)
    assert mu._folded_deviation(60.0, 120.0) == pytest.approx(0.0)
    assert mu._folded_deviation(132.0, 120.0) == pytest.approx(0.1)


# --- notes ------------------------------------------------------------------------------------------

PITCHES = (60, 64, 67, 72, 62, 65, 69, 57)
ONSETS = tuple(0.25 + 0.6 * i for i in range(len(PITCHES)))


@pytest.fixture(scope="module")
def piano() -> np.ndarray:
    """Eight piano notes rendered by FluidSynth (installed by the test command: a failure if missing)."""
    from training.synthdata.midi import Note, Track, midi_bytes, seconds_to_ticks
    from training.synthdata.render import render_midi

    bpm = 120.0
    notes = tuple(
        Note(seconds_to_ticks(t, bpm), seconds_to_ticks(0.45, bpm), p, 90)
        for t, p in zip(ONSETS, PITCHES, strict=True)
    )
    midi = midi_bytes([Track("piano", 0, 0, notes)], bpm=bpm, end_tick=seconds_to_ticks(5.5, bpm))
    return render_midi(midi, samples=round(5.5 * SR), sample_rate=SR, reverb=False, chorus=False)


def _reference() -> mu.Notes:
    intervals = np.array([[t, t + 0.45] for t in ONSETS])
    return intervals, np.array([_midi_hz(p) for p in PITCHES])


def test_basic_pitch_recovers_rendered_notes(piano):
    intervals, pitches = mu.transcribe(piano, SR)
    assert intervals.shape == (len(pitches), 2) and np.all(np.diff(intervals[:, 0]) >= 0)
    assert mu.note_f1(_reference(), (intervals, pitches)) >= 0.8
    transposed = (intervals, pitches * 2 ** (2 / 12))
    late = (intervals + 0.2, pitches)
    assert mu.note_f1(_reference(), transposed) < 0.2
    assert mu.note_f1(_reference(), late) < 0.2


def test_note_f1_of_empty_transcriptions():
    empty = (np.zeros((0, 2)), np.zeros(0))
    assert mu.note_f1(empty, empty) == 1.0
    assert mu.note_f1(_reference(), empty) == 0.0
    assert mu.note_f1(empty, _reference()) == 0.0


def test_musicality_bundles_every_measure(piano):
    result = mu.musicality(piano, SR, reference=piano, max_seconds=4.0)  # both cut to the same 4 s
    assert result["seconds"] == pytest.approx(4.0)
    assert result["note_f1"] == 1.0
    assert result["notes"] == result["reference_notes"] > 0
    assert result["comb_share"] == mu.comb_share(piano[: 4 * SR], SR)
    # FluidR3's piano samples sit up to 30 cents sharp on some notes (its organ: every frame in tune).
    assert result["voiced_share"] > 0.8 and result["in_tune_share"] > 0.5
    expected = {
        "seconds", "comb_share", "in_tune_share", "voiced_share", "tuning_cents", "key", "key_correlation",
        "key_clarity", "tempo", "tempo_spread", "window_tempi", "note_f1", "notes", "reference_notes",
    }  # fmt: skip
    assert set(result) == expected
    assert "note_f1" not in mu.musicality(piano, SR, max_seconds=2.0)


def test_musicality_takes_a_transcription_as_its_reference(piano):
    reference = mu.transcribe(piano, SR)
    result = mu.musicality(piano, SR, reference=reference)
    assert result["note_f1"] == 1.0 and result["reference_notes"] == len(reference[1])
    shifted = mu.musicality(piano, SR, reference=(reference[0] + 0.2, reference[1]))
    assert shifted["note_f1"] < 0.2
