import math
from pathlib import Path

import numpy as np
import pytest

from tests import media_factory as mf
from tests.training.metrics.conftest import CUT_FRAMES, FPS, MOTION_FRAME, SECONDS, write_shot_video
from training.metrics.sync import (
    MIN_SHIFT,
    PooledSync,
    SyncResult,
    VisualEvent,
    baseline_shifts,
    click_track,
    detect_visual_events,
    events_from_frames,
    frame_changes,
    hit_rate,
    picture_events,
    pooled_sync,
    sync_ratio,
    sync_score,
    visual_sync,
)

REAL_FOOTAGE = Path(__file__).resolve().parents[4] / "shared" / "media" / "testvideo.mp4"


def _events(times, kind="cut"):
    return tuple(VisualEvent(float(t), kind, 0.5) for t in times)


def test_cuts_are_found_on_their_frames(shot_video):
    events = detect_visual_events(shot_video)
    cuts = [e.time for e in events if e.kind == "cut"]
    assert cuts == pytest.approx([frame / FPS for frame in CUT_FRAMES], abs=1e-6)


def test_a_burst_of_motion_is_one_motion_peak_and_not_a_cut(shot_video):
    events = detect_visual_events(shot_video)
    motion = [e for e in events if e.kind == "motion"]
    assert len(motion) == 1
    assert motion[0].time == pytest.approx(MOTION_FRAME / FPS, abs=1.01 / FPS)
    assert motion[0].strength < min(e.strength for e in events if e.kind == "cut")


def test_events_of_a_range_are_on_the_media_clock(shot_video):
    events = detect_visual_events(shot_video, start=2.0, end=4.0)
    assert [round(e.time, 6) for e in events if e.kind == "cut"] == [2.5, 3.3]


def test_steady_motion_and_a_fade_give_no_events():
    frames = np.zeros((60, 24, 80, 3), dtype=np.uint8)
    for i in range(60):
        frames[i, 8:16, i : i + 8] = 200  # a square gliding steadily
        frames[i] += np.uint8(min(i, 40))  # ... while the picture fades up over 4 s
    assert events_from_frames(frames, 10.0) == ()


@pytest.mark.parametrize("first_new_frame", [1, 9])
def test_a_cut_on_the_first_or_last_frame_is_found(first_new_frame):
    frames = np.zeros((10, 8, 8, 3), dtype=np.uint8)
    frames[first_new_frame:] = 255
    expected = VisualEvent(2.0 + first_new_frame / 10, "cut", 1.0)
    assert events_from_frames(frames, 10.0, start=2.0) == (expected,)


def test_frame_changes_measure_mean_absolute_difference():
    frames = np.zeros((3, 2, 2, 3), dtype=np.uint8)
    frames[1] = 255
    frames[2, 0] = 255  # half the picture goes back to black
    assert frame_changes(frames) == pytest.approx([0.0, 1.0, 0.5])


def test_real_footage_cuts_are_its_hard_cuts():
    """testvideo.mp4 (0-7 s): black, a hard cut to a leaf at ~1.0 s, a hard cut to black at ~6.0 s."""
    if not REAL_FOOTAGE.is_file():
        pytest.skip(f"{REAL_FOOTAGE} not available")
    events = detect_visual_events(REAL_FOOTAGE, start=0.0, end=7.0)
    cuts = [e for e in events if e.kind == "cut"]
    frame = 1 / 29.97
    assert [c.time for c in cuts] == pytest.approx([30 * frame, 180 * frame], abs=1.01 * frame)
    # Each is a big change: a third of the full pixel range on average, far above anything else here.
    assert all(c.strength > 0.25 for c in cuts)
    assert all(e.strength < 0.05 for e in events if e.kind == "motion")


def test_hit_rate_counts_events_with_an_onset_within_100_ms():
    events = np.array([1.0, 2.0, 3.0, 4.0])
    assert hit_rate(events, events) == 1.0
    assert hit_rate(events, events + 0.099) == 1.0
    assert hit_rate(events, events - 0.15) == 0.0
    assert hit_rate(events, [1.05, 3.5]) == 0.25
    assert hit_rate(events, []) == 0.0
    assert math.isnan(hit_rate([], [1.0]))


def test_onsets_on_the_events_beat_their_shifted_selves():
    times = np.array([0.7, 1.9, 2.6, 4.1, 5.3, 7.2, 8.0, 9.4])
    result = visual_sync(_events(times), times, start=0.0, duration=10.0)
    assert result.hit_rate == 1.0
    assert len(result.shifted_hit_rates) == len(result.shifts) == 8
    assert result.shifted_mean == pytest.approx(np.mean(result.shifted_hit_rates))
    assert result.shifted_mean < 0.3


def test_shifts_avoid_small_offsets_both_ways():
    shifts = baseline_shifts(10.0)
    assert shifts.min() >= MIN_SHIFT and (10.0 - shifts).min() >= MIN_SHIFT
    assert baseline_shifts(0.9).size == 0


def test_unrelated_onsets_hit_at_the_chance_level_shifted_or_not():
    rng = np.random.default_rng(0)
    duration = 200.0
    events = np.sort(rng.uniform(0, duration, 300))
    onsets = np.sort(rng.uniform(0, duration, 400))  # 2 per second
    result = visual_sync(_events(events), onsets, start=0.0, duration=duration)
    chance = 1 - math.exp(-2.0 * 0.2)  # P(at least one onset in a 200 ms window)
    assert result.hit_rate == pytest.approx(chance, abs=0.06)
    assert result.shifted_mean == pytest.approx(chance, abs=0.04)


def test_onsets_outside_the_span_are_dropped_and_shifts_wrap_inside_it():
    events = _events([5.5, 6.5])
    result = visual_sync(events, [1.0, 5.5, 6.5, 12.0], start=5.0, duration=2.0)
    assert list(result.onsets) == [5.5, 6.5]
    assert result.hit_rate == 1.0
    assert result.shifts.tolist() == pytest.approx(np.linspace(0.5, 1.5, 8).tolist())
    # Shifting by exactly 1 s maps the two onsets onto each other: every event is hit again.
    wrapped = visual_sync(events, [5.5, 6.5], start=5.0, duration=2.0, shifts=1)
    assert wrapped.shifted_hit_rates.tolist() == [1.0]


def test_no_events_leave_the_rates_undefined():
    result = visual_sync((), [1.0], start=0.0, duration=4.0)
    assert math.isnan(result.hit_rate) and math.isnan(result.shifted_mean)


def test_sync_score_of_clicks_on_the_cuts(tmp_path):
    cut_times = np.array(CUT_FRAMES) / FPS
    video = write_shot_video(tmp_path / "cuts.mp4")
    wave = mf.clicks(cut_times, seconds=SECONDS, sample_rate=22_050, channels=1)[0]
    result = sync_score(video, wave, 22_050)
    assert result.event_times("cut") == pytest.approx(cut_times)
    assert result.hit_rate == pytest.approx(4 / 5)  # the motion peak has no click
    assert result.shifted_mean < 0.5
    late = sync_score(video, np.roll(wave, int(0.3 * 22_050)), 22_050)  # the same clicks 300 ms late
    assert late.hit_rate == 0.0
    summary = result.as_dict()
    assert summary["cuts"] == 4 and summary["motion_peaks"] == 1 and summary["duration_s"] == SECONDS


def test_the_ratio_is_hit_rate_over_chance():
    assert sync_ratio(0.6, 0.2) == pytest.approx(3.0)
    assert sync_ratio(0.5, 0.0) == math.inf
    assert math.isnan(sync_ratio(0.0, 0.0)) and math.isnan(sync_ratio(math.nan, 0.2))
    times = np.array([0.7, 1.9, 2.6, 4.1, 5.3, 7.2, 8.0, 9.4])
    result = visual_sync(_events(times), times, start=0.0, duration=10.0)
    assert result.ratio == pytest.approx(1.0 / result.shifted_mean)
    assert result.as_dict()["ratio"] == result.ratio


def _result(events: int, hit: float, shifted: float) -> SyncResult:
    return SyncResult(
        events=_events(np.arange(events)),
        onsets=np.zeros(0),
        hit_rate=hit,
        shifts=np.ones(1),
        shifted_hit_rates=np.array([shifted]),
        shifted_mean=shifted,
        start=0.0,
        duration=10.0,
        tolerance=0.1,
    )


def test_pooling_counts_every_event_once():
    no_events = visual_sync((), [1.0], start=0.0, duration=4.0)
    pooled = pooled_sync([_result(2, 1.0, 0.5), _result(8, 0.25, 0.25), no_events])
    assert pooled == PooledSync(clips=2, events=10, hit_rate=0.4, shifted_mean=0.3)
    assert pooled.ratio == pytest.approx(4 / 3)
    assert math.isnan(pooled_sync([no_events]).hit_rate)


def test_clicks_on_real_footage_events_hit_them_and_late_or_random_clicks_do_not():
    """testvideo.mp4 0-7 s by the picture's rhythm (muvi_plugin.rhythm): its two hard cuts, each within
    one frame; clicks on them hit every one, well above chance; the same clicks 300 ms late hit none."""
    if not REAL_FOOTAGE.is_file():
        pytest.skip(f"{REAL_FOOTAGE} not available")
    from training.metrics.audio_stats import onset_times

    events = picture_events(REAL_FOOTAGE, start=0.0, end=7.0)
    times = np.array([e.time for e in events])
    assert times == pytest.approx([30 / 29.97, 180 / 29.97], abs=1 / 29.97)
    rate = 22_050
    clicks = click_track(times, 7.0, rate)
    on = visual_sync(events, onset_times(clicks, rate), start=0.0, duration=7.0)
    assert on.hit_rate == 1.0 and on.ratio >= 4
    late = visual_sync(
        events, onset_times(click_track(times + 0.3, 7.0, rate), rate), start=0.0, duration=7.0
    )
    assert late.hit_rate == 0.0
