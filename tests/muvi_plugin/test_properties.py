"""Properties of the runtime's time arithmetic, checked on generated cases (`hypothesis`).

Windows cover a range exactly (overlapping by the context, never more, never a gap), the joined audio has
every sample written and crossfades only inside overlaps, lengths in frames and samples are exact, clips
cut and stitch back every frame, and the panel's times read back what they show.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from muvi_plugin.clips import clip_starts, split_index, split_into_clips, stitch_clips, stitch_index
from muvi_plugin.media import frame_count
from muvi_plugin.panel.timecode import format_time, parse_time
from muvi_plugin.windows import equal_power_fade, frames_for, place_window, plan_windows

# Modest budgets: the whole file runs in a few seconds on a 2-core machine.
FEW = settings(max_examples=60, deadline=None)

# Latent rates and samples per latent frame of real bundles (10/s at 24 kHz: hop 300, downsample 8) and
# of other plausible ones.
RATES = st.sampled_from([(10.0, 2400), (25.0, 960), (12.5, 1920), (20.0, 1200)])


@FEW
@given(
    total=st.integers(1, 2000),
    max_frames=st.integers(1, 400),
    context=st.integers(0, 120),
    prompt=st.integers(0, 150),
)
def test_windows_cover_the_range_exactly_overlapping_by_the_context(total, max_frames, context, prompt):
    first = max_frames - prompt
    try:
        windows = plan_windows(total, max_frames=max_frames, context=context, prompt=prompt)
    except ValueError:
        # Refused only when the windows cannot advance (or the prompt fills the first one).
        assert first < 1 or (total > first and (first <= context or max_frames <= context))
        return
    assert windows[0].start == 0 and windows[0].context == 0 and windows[0].frames <= first
    assert windows[-1].end == total
    assert [w.index for w in windows] == list(range(len(windows)))
    for before, after in zip(windows, windows[1:], strict=False):
        assert after.start == before.end - context  # overlap is the context: no gap, no more
        assert after.context == context and after.end > before.end  # always advancing
        assert 0 < after.frames <= max_frames
    # Every frame is generated, and only the context frames twice.
    covered = sum(w.frames for w in windows) - sum(w.context for w in windows)
    assert covered == total


@FEW
@given(
    shape=st.tuples(st.integers(2, 120), st.integers(1, 40), st.integers(0, 40)),
    total=st.integers(1, 600),
    fade_fraction=st.floats(0, 2),
    per_frame=st.sampled_from([1, 3, 8]),
)
def test_joined_windows_write_every_sample_and_crossfade_only_inside_overlaps(
    shape, total, fade_fraction, per_frame
):
    max_frames, context, prompt = shape
    assume(max_frames - prompt > context and max_frames > context)
    windows = plan_windows(total, max_frames=max_frames, context=context, prompt=prompt)
    out = np.zeros(total * per_frame, np.float32)
    fade = round(fade_fraction * context * per_frame)
    for w in windows:  # window i is constant i + 1, so every sample tells who wrote it
        before = out.copy()
        lo, hi = w.start * per_frame, (w.start + w.context) * per_frame
        audio = np.full(w.frames * per_frame, w.index + 1, np.float32)
        place_window(out, audio, at=lo, overlap=hi - lo, fade=fade)
        np.testing.assert_array_equal(out[:lo], before[:lo])  # nothing before the overlap is touched
        assert np.all(out[hi : w.end * per_frame] == w.index + 1)  # past the overlap: its own audio only
        # In the overlap, the previous audio, then a crossfade of at most `fade` samples from the middle
        # of the overlap, then this window's audio.
        changed = np.flatnonzero(out[lo:hi] != before[lo:hi])
        foreign = np.flatnonzero(out[lo:hi] != w.index + 1)
        if len(changed) and len(foreign):
            assert foreign[-1] + 1 - changed[0] <= min(fade, hi - lo)
            assert changed[0] >= (hi - lo - min(fade, hi - lo)) // 2
    assert np.all(out > 0)  # no gap anywhere


@FEW
@given(n=st.integers(0, 5000))
def test_equal_power_fades_keep_the_power(n):
    fade_out, fade_in = equal_power_fade(n)
    assert len(fade_out) == len(fade_in) == n
    np.testing.assert_allclose(
        fade_out.astype(np.float64) ** 2 + fade_in.astype(np.float64) ** 2, 1, atol=1e-6
    )
    assert np.all(np.diff(fade_in) >= 0) and np.all(np.diff(fade_out) <= 0)


@FEW
@given(
    frames=st.integers(0, 100_000), rate=st.sampled_from([10.0, 12.5, 24.0, 25.0, 24000 / 1001, 30.0, 60.0])
)
def test_whole_frames_of_seconds_are_counted_exactly(frames, rate):
    # A range that is a whole number of frames long gets exactly that many, however it was computed.
    assert frames_for(frames / rate, rate) == frames == frame_count(frames / rate, rate)
    start = 3.7
    assert frame_count((start + frames / rate) - start, rate) == frames


@FEW
@given(seconds=st.floats(0, 3 * 3600, allow_nan=False), rate=st.sampled_from([10.0, 24.0, 25.0, 30.0]))
def test_frame_counts_cover_the_range_and_no_more(seconds, rate):
    n = frames_for(seconds, rate)
    assert n == frame_count(seconds, rate)
    assert n / rate >= seconds - 1e-6 / rate  # every moment of the range has its frame ...
    assert n == 0 or (n - 1) / rate < seconds  # ... and no frame starts past its end


@FEW
@given(
    start=st.floats(0, 3600, allow_nan=False),
    duration=st.floats(0.01, 600, allow_nan=False),
    rates=RATES,
)
def test_the_generated_latents_always_hold_the_requested_samples(start, duration, rates):
    # The pipeline generates `frames_for(...)` latent frames and trims to `round(seconds * sample_rate)`
    # samples (muvi_plugin.pipeline.generate): the latents never fall short, so no silence is padded.
    rate, per_frame = rates
    end = start + duration
    sample_rate = rate * per_frame
    samples = round((end - start) * sample_rate)
    assert frames_for(end - start, rate) * per_frame >= samples
    assert frames_for(end - start, rate) * per_frame - samples < per_frame + 1


@FEW
@given(t=st.integers(1, 500), clip=st.integers(1, 64))
def test_clips_cover_every_frame_and_stitch_back_exactly(t, clip):
    starts = clip_starts(t, clip)
    assert starts == sorted(set(starts)) and starts[0] == 0 and starts[-1] + clip == max(t, clip)
    split = split_index(t, clip)
    assert len(split) == len(starts) * clip and set(split) == set(range(t))
    assert [split[j] for j in stitch_index(t, clip)] == list(range(t))
    frames = np.arange(t * 2).reshape(t, 2)
    np.testing.assert_array_equal(stitch_clips(split_into_clips(frames, clip), t=t, clip=clip), frames)


@FEW
@given(millis=st.integers(0, 400 * 3_600_000))
def test_panel_times_read_back_what_they_show(millis):
    text = format_time(millis / 1000)
    assert parse_time(text) == pytest.approx(millis / 1000, abs=1e-9)
    assert format_time(parse_time(text)) == text


@FEW
@given(text=st.text(alphabet="0123456789:.-e+ infa", max_size=14))
def test_panel_time_boxes_take_a_time_or_say_why_not(text):
    try:
        seconds = parse_time(text)
    except ValueError as error:
        assert "not a time" in str(error)
    else:
        assert math.isfinite(seconds) and seconds >= 0
