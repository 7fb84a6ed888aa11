import math

import mir_eval
import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from training.metrics.beats import (
    ANALYSIS_RATE,
    MAX_BPM,
    MIN_BPM,
    beat_scores,
    match_beats,
    onset_envelope,
    tempo_curve,
    track_beats,
)

BEATS = np.arange(0.5, 10.0, 0.5)  # 19 beats at 120 BPM


def click_track(times, seconds, sample_rate=ANALYSIS_RATE):
    """Short 1 kHz Hann-windowed bursts at `times`: sharp onsets a beat tracker locks onto."""
    wave = np.zeros(round(seconds * sample_rate), dtype=np.float32)
    width = round(0.01 * sample_rate)
    burst = 0.9 * np.hanning(width) * np.sin(2 * np.pi * 1000 * np.arange(width) / sample_rate)
    for time in times:
        at = round(time * sample_rate)
        wave[at : at + width] += burst[: len(wave) - at]
    return wave


def _max_matching_size(generated, reference, tolerance):
    """Reference answer: assignment that first maximises the number of pairs within the tolerance."""
    if len(generated) == 0 or len(reference) == 0:
        return 0
    distance = np.abs(np.subtract.outer(np.asarray(generated), np.asarray(reference)))
    allowed = distance <= tolerance
    rows, cols = linear_sum_assignment(np.where(allowed, -1.0, 0.0))
    return int(allowed[rows, cols].sum())


def test_identical_lists_score_perfectly():
    scores = beat_scores(BEATS, BEATS)
    assert (scores.bcs, scores.bhs) == (100.0, 100.0)
    assert (scores.precision, scores.recall, scores.f_measure) == (1.0, 1.0, 1.0)
    assert scores.matched == len(BEATS)


@pytest.mark.parametrize(("shift", "expected"), [(0.05, 1.0), (-0.05, 1.0), (0.15, 0.0), (-0.15, 0.0)])
def test_shifted_beats_hit_inside_the_tolerance_only(shift, expected):
    scores = beat_scores(BEATS + shift, BEATS)
    assert scores.bcs == 100.0  # same count either way: coverage does not look at timing
    assert scores.bhs == pytest.approx(100.0 * expected)
    assert scores.recall == pytest.approx(expected)
    assert scores.precision == pytest.approx(expected)


def test_both_empty_is_perfect():
    scores = beat_scores([], [])
    assert (scores.bcs, scores.bhs, scores.f_measure) == (100.0, 100.0, 1.0)
    assert (scores.generated, scores.reference, scores.matched) == (0, 0, 0)


def test_no_reference_beats_leaves_coverage_undefined():
    scores = beat_scores(BEATS, [])
    assert math.isnan(scores.bcs) and math.isnan(scores.bhs) and math.isnan(scores.recall)
    assert scores.precision == 0.0 and scores.f_measure == 0.0


def test_no_generated_beats_scores_zero():
    scores = beat_scores([], BEATS)
    assert (scores.bcs, scores.bhs, scores.recall, scores.f_measure) == (0.0, 0.0, 0.0, 0.0)
    assert math.isnan(scores.precision)


def test_extra_generated_beats_raise_coverage_above_100_but_not_hits():
    doubled = np.sort(np.concatenate([BEATS, BEATS + 0.25]))  # every reference beat plus an off-beat
    scores = beat_scores(doubled, BEATS)
    assert scores.bcs == pytest.approx(200.0)
    assert scores.bhs == pytest.approx(100.0)
    assert scores.precision == pytest.approx(0.5)
    assert scores.f_measure == pytest.approx(2 / 3)


def test_missing_generated_beats_lower_coverage_and_hits():
    scores = beat_scores(BEATS[::2], BEATS)  # every other beat: 10 of 19
    assert scores.bcs == pytest.approx(100.0 * 10 / 19)
    assert scores.bhs == pytest.approx(100.0 * 10 / 19)
    assert scores.precision == 1.0


def test_matching_is_one_to_one():
    # Two generated beats inside one reference beat's window: only one may pair with it.
    pairs = match_beats([0.98, 1.02], [1.0])
    assert len(pairs) == 1
    assert beat_scores([0.98, 1.02], [1.0]).bhs == 100.0


def test_greedy_beats_a_naive_nearest_choice():
    # Nearest-neighbour pairing would give 0.95 to the reference at 1.0 and strand the one at 0.87;
    # the maximum matching pairs both.
    generated, reference = [0.95, 1.06], [0.87, 1.0]
    pairs = match_beats(generated, reference)
    assert len(pairs) == 2
    assert all(abs(generated[i] - reference[j]) <= 0.1 for i, j in pairs)


def test_indices_refer_to_the_lists_as_given():
    generated, reference = [3.0, 1.0, 2.0], [2.05, 0.97]
    pairs = match_beats(generated, reference)
    assert pairs == [(1, 1), (2, 0)]


def test_matching_size_equals_the_assignment_optimum_and_mir_eval():
    rng = np.random.default_rng(0)
    for _ in range(200):
        generated = np.sort(rng.uniform(0, 5, rng.integers(0, 25)))
        reference = np.sort(rng.uniform(0, 5, rng.integers(0, 25)))
        pairs = match_beats(generated, reference, 0.1)
        assert len({i for i, _ in pairs}) == len(pairs) == len({j for _, j in pairs})
        assert all(abs(generated[i] - reference[j]) <= 0.1 for i, j in pairs)
        optimum = _max_matching_size(generated, reference, 0.1)
        assert len(pairs) == optimum
        assert len(mir_eval.util.match_events(reference, generated, 0.1)) == optimum


def test_f_measure_agrees_with_mir_eval_without_trimming():
    rng = np.random.default_rng(1)
    for _ in range(50):
        reference = np.sort(rng.uniform(0, 8, rng.integers(1, 20)))
        kept = reference[rng.random(len(reference)) < 0.7]  # some beats found, some missed ...
        extra = rng.uniform(0, 8, rng.integers(1, 6))  # ... some spurious, all jittered
        generated = np.concatenate([kept, extra])
        generated = np.sort(generated + rng.normal(0, 0.06, len(generated)))
        generated = generated[generated >= 0]
        expected = mir_eval.beat.f_measure(reference, generated, f_measure_threshold=0.1)
        assert beat_scores(generated, reference, 0.1).f_measure == pytest.approx(expected)


def test_tracker_finds_the_beats_of_a_click_track():
    beats = track_beats(click_track(BEATS, 10.0), ANALYSIS_RATE)
    scores = beat_scores(beats, BEATS)
    assert scores.bhs >= 85.0  # the tracker trims weak edge beats; the inner ones must all hit
    assert scores.precision == 1.0
    assert np.median(np.diff(beats)) == pytest.approx(0.5, abs=0.03)


def test_tracker_resamples_any_input_rate():
    rate = 48_000
    beats = track_beats(click_track(BEATS, 10.0, rate), rate)
    assert beat_scores(beats, BEATS).precision == 1.0


def test_tempo_curve_is_time_varying_and_in_range():
    envelope = onset_envelope(click_track(BEATS, 10.0), ANALYSIS_RATE)
    tempo = tempo_curve(envelope)
    assert tempo.shape == envelope.shape
    assert np.all((tempo >= MIN_BPM) & (tempo <= MAX_BPM))
    assert np.median(tempo) == pytest.approx(120.0, rel=0.05)


def test_silence_has_no_beats():
    beats = track_beats(np.zeros(3 * ANALYSIS_RATE, dtype=np.float32), ANALYSIS_RATE)
    assert beats.shape == (0,) and beats.dtype == np.float64
