"""Window planning and the equal-power join of long ranges."""

import numpy as np
import pytest

from muvi_plugin.windows import Window, equal_power_fade, frames_for, place_window, plan_windows


def test_a_short_range_is_one_window():
    assert plan_windows(105, max_frames=300, context=50) == [Window(0, 0, 105, 0)]


def test_long_range_windows_overlap_by_the_context_and_end_at_the_range_end():
    windows = plan_windows(700, max_frames=300, context=50)
    assert [(w.start, w.end, w.context) for w in windows] == [(0, 300, 0), (250, 550, 50), (500, 700, 50)]
    for before, after in zip(windows, windows[1:], strict=False):
        assert after.start == before.end - after.context
        assert after.frames <= 300
    assert [w.index for w in windows] == [0, 1, 2]


def test_a_style_prompt_takes_room_in_the_first_window():
    windows = plan_windows(400, max_frames=300, context=50, prompt=100)
    assert [(w.start, w.end) for w in windows] == [(0, 200), (150, 400)]


def test_windows_that_cannot_advance_are_refused():
    with pytest.raises(ValueError, match="cannot advance"):
        plan_windows(100, max_frames=50, context=50)
    with pytest.raises(ValueError, match="cannot advance"):
        plan_windows(100, max_frames=60, context=10, prompt=50)
    with pytest.raises(ValueError, match="no room"):
        plan_windows(10, max_frames=20, context=5, prompt=20)
    with pytest.raises(ValueError):
        plan_windows(0, max_frames=20, context=5)


def test_frames_for_counts_partial_frames_only_past_float_error():
    assert frames_for(10.5, 10) == 105
    assert frames_for(10.51, 10) == 106
    assert frames_for(13.5 - 3.0, 10.0) == 105


def test_equal_power_fade_keeps_power_constant():
    fade_out, fade_in = equal_power_fade(1000)
    np.testing.assert_allclose(fade_out**2 + fade_in**2, 1.0, atol=1e-6)
    assert fade_out[0] > 0.99 and fade_in[-1] > 0.99 and fade_in[0] < 0.01
    assert np.all(np.diff(fade_in) > 0)
    # Equal power, not equal gain: halfway both sides are at -3 dB.
    np.testing.assert_allclose(fade_out[499:501], np.sqrt(0.5), atol=2e-3)


def test_place_window_joins_at_the_middle_of_the_overlap():
    out = np.zeros(100, np.float32)
    place_window(out, np.ones(60, np.float32), at=0, overlap=0, fade=10)
    place_window(out, np.full(60, 2.0, np.float32), at=40, overlap=20, fade=10)
    # Overlap is [40, 60): the previous audio until 45, a 10-sample crossfade, this window's from 55.
    np.testing.assert_array_equal(out[:45], 1.0)
    np.testing.assert_array_equal(out[55:], 2.0)
    fade_out, fade_in = equal_power_fade(10)
    np.testing.assert_allclose(out[45:55], fade_out * 1.0 + fade_in * 2.0, rtol=1e-6)


def test_place_window_clamps_the_fade_and_drops_samples_past_the_end():
    out = np.zeros(50, np.float32)
    place_window(out, np.ones(40, np.float32), at=0, overlap=0, fade=0)
    place_window(out, np.full(40, 3.0, np.float32), at=30, overlap=10, fade=100)  # fade > overlap
    fade_out, fade_in = equal_power_fade(10)
    np.testing.assert_allclose(out[30:40], fade_out + 3.0 * fade_in, rtol=1e-6)
    np.testing.assert_array_equal(out[40:], 3.0)
