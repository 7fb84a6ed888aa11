"""The picture's rhythm (muvi_plugin.rhythm): events on real footage with known cuts and on constructed clips
(hard cuts, fades, dissolves, camera noise, motion), and the tempo plan over them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from muvi_plugin import media
from muvi_plugin.errors import MuviError
from muvi_plugin.rhythm import (
    EVENT_THRESHOLD,
    ON_BEAT,
    PRIOR_BPM,
    TempoPlan,
    picture_rhythm,
    plan_tempo,
)

MEDIA = Path(__file__).resolve().parents[3] / "shared" / "media"
SIZE = 96  # the embedded bundle's picture size, decoded at its 10 fps


def _shot(seed: int, size: int = SIZE) -> np.ndarray:
    """A textured 'real-looking' picture: smooth random blobs in colour, float (size, size, 3) in 0-255."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(20, 235, (6, 6, 3))
    picture = np.kron(coarse, np.ones((size // 6 + 1, size // 6 + 1, 1)))[:size, :size]
    # a box blur of the blocks, so edges are soft as in footage
    for axis in (0, 1):
        picture = (picture + np.roll(picture, 3, axis) + np.roll(picture, -3, axis)) / 3
    return picture


def _noisy(frames: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """Camera noise: independent Gaussian noise on every pixel of every frame, as uint8."""
    rng = np.random.default_rng(seed)
    return np.clip(frames + rng.normal(0, sigma, frames.shape), 0, 255).astype(np.uint8)


def _cut_clip(cut_frames: list[int], frames: int, *, sigma: float = 3.0) -> np.ndarray:
    shot = np.searchsorted(cut_frames, np.arange(frames), side="right")
    return _noisy(np.stack([_shot(int(s)) for s in shot]), sigma)


def _cut_times(rhythm) -> list[float]:
    return [e.time for e in rhythm.events]


def _decode(name: str, fps: float = 10.0, end: float | None = None) -> np.ndarray:
    path = MEDIA / name
    if not path.is_file():
        pytest.skip(f"{path} not available")
    end = media.probe(path).video_end if end is None else end
    return media.read_video_frames(path, start=0.0, end=end, fps=fps, size=(SIZE, SIZE))


def test_hard_cuts_in_noisy_footage_are_found_on_their_frames_and_nothing_else():
    cuts = [12, 31, 47, 70]
    rhythm = picture_rhythm(_cut_clip(cuts, 90), 10.0, start=3.0)
    # The change happened between frames i - 1 and i: the event sits midway, 50 ms before frame i.
    assert _cut_times(rhythm) == pytest.approx([3.0 + (c - 0.5) / 10 for c in cuts])
    assert all(e.kind == "cut" and e.strength > 0.5 for e in rhythm.events)
    assert len(rhythm.curve) == 90 and rhythm.duration == pytest.approx(9.0)


@pytest.mark.parametrize("sigma", [0.0, 4.0, 10.0])
def test_a_static_shot_with_camera_noise_gives_no_events(sigma):
    frames = _noisy(np.repeat(_shot(1)[None], 100, axis=0), sigma, seed=3)
    rhythm = picture_rhythm(frames, 10.0)
    assert rhythm.events == ()
    assert rhythm.curve.max() < EVENT_THRESHOLD / 2


@pytest.mark.parametrize("seconds", [1.0, 2.0, 4.0])
def test_a_fade_to_black_and_back_is_not_many_cuts(seconds):
    n = round(seconds * 10)
    ramp = np.concatenate([np.linspace(1, 0, n), np.zeros(5), np.linspace(0, 1, n)])
    level = np.concatenate([np.ones(20), ramp, np.ones(20)])
    frames = _noisy(_shot(2)[None] * level[:, None, None, None], 3.0)
    events = picture_rhythm(frames, 10.0).events
    assert len(events) <= 2  # at most its start and its end, never one per frame


def test_an_unevenly_sampled_fade_is_not_many_cuts():
    """25 fps footage sampled at 10 fps steps 2 and 3 source frames in turn: the change alternates."""
    steps = np.cumsum(np.tile([2.0, 3.0], 12)) / 60.0
    level = np.concatenate([np.ones(10), 1 - steps, np.zeros(10)])
    frames = _noisy(_shot(4)[None] * level[:, None, None, None], 3.0)
    assert len(picture_rhythm(frames, 10.0).events) <= 1


def test_a_dissolve_is_at_most_one_event():
    mix = np.concatenate([np.zeros(20), np.linspace(0, 1, 15), np.ones(20)])[:, None, None, None]
    frames = _noisy(_shot(5)[None] * (1 - mix) + _shot(6)[None] * mix, 3.0)
    assert len(picture_rhythm(frames, 10.0).events) <= 1


def test_a_burst_of_motion_is_a_motion_event():
    frames = np.repeat(_shot(7)[None], 60, axis=0)
    x = np.cumsum(0.5 + 10 * np.exp(-0.5 * (np.arange(60) - 30) ** 2)).astype(int)  # up to 55 px
    for i in range(60):
        frames[i, 40:60, x[i] : x[i] + 20] = 250  # a white square creeping, racing for a moment
    events = picture_rhythm(_noisy(frames, 3.0), 10.0).events
    assert [e.kind for e in events] == ["motion"]
    assert events[0].time == pytest.approx(3.0, abs=0.15)


def test_clean_drawings_and_noisy_footage_land_on_one_scale():
    """The same cut scores alike in a flat synthetic drawing and in noisy footage: normalised, not raw."""
    drawing = np.zeros((40, SIZE, SIZE, 3), np.uint8)
    drawing[:, 20:60, 20:60] = (200, 50, 50)
    drawing[20:, 20:60, 20:60] = (50, 50, 200)  # a cut that only recolours a square
    footage = _cut_clip([20], 40, sigma=8.0)
    clean, noisy = picture_rhythm(drawing, 10.0), picture_rhythm(footage, 10.0)
    assert [len(clean.events), len(noisy.events)] == [1, 1]
    assert clean.events[0].strength == pytest.approx(noisy.events[0].strength, abs=0.25)
    assert min(clean.events[0].strength, noisy.events[0].strength) > 0.5


def test_bad_frames_are_one_clear_error():
    with pytest.raises(MuviError, match=r"frames must be a non-empty \(t, height, width, 3\)"):
        picture_rhythm(np.zeros((0, 8, 8, 3), np.uint8), 10.0)
    with pytest.raises(MuviError, match="fps must be a positive number"):
        picture_rhythm(np.zeros((4, 8, 8, 3), np.uint8), 0.0)


@pytest.mark.parametrize("frames", [1, 2, 3])
def test_a_few_black_frames_have_no_events(frames):
    rhythm = picture_rhythm(np.zeros((frames, 8, 8, 3), np.uint8), 10.0)
    assert rhythm.events == () and rhythm.curve.tolist() == [0.0] * frames


@pytest.mark.parametrize("cut", [1, 19])
def test_a_cut_on_the_first_or_last_change_is_found(cut):
    assert [e.time for e in picture_rhythm(_cut_clip([cut], 20), 10.0).events] == [
        pytest.approx(cut / 10 - 0.05)
    ]


def test_full_hd_frames_are_analysed_in_chunks_alike():
    # 40 frames of 1920x1080 (more than one chunk): the same events as the picture at 96x54.
    big = np.repeat(np.repeat(_cut_clip([12, 33], 40)[:, :54], 20, axis=1), 20, axis=2)
    assert [e.time for e in picture_rhythm(big, 10.0).events] == pytest.approx([1.15, 3.25])


# Real footage (../shared/media/README.md; times read off the footage frame by frame).


def test_real_footage_hard_cuts_and_fades():
    """testvideo.mp4: hard cuts at 1.001 s (black to a leaf) and 6.006 s (to black); then fades and one
    dissolve: in from black ~7 s, out ~12 s, in ~13.3 s, a dissolve ~17.6 s, out ~23 s."""
    rhythm = picture_rhythm(_decode("testvideo.mp4"), 10.0)
    cuts = [e for e in rhythm.events if e.strength > 0.9]
    assert [e.time for e in cuts] == pytest.approx([1.001, 6.006], abs=0.1)
    transitions = [7.0, 12.0, 13.3, 17.6, 23.0]
    others = [e.time for e in rhythm.events if e not in cuts]
    # Each other event belongs to a transition, and no transition gives more than one.
    near = [min(range(len(transitions)), key=lambda k: abs(transitions[k] - t)) for t in others]
    assert all(abs(transitions[k] - t) < 0.5 for k, t in zip(near, others, strict=True))
    assert len(set(near)) == len(near)


def test_real_footage_counter_and_film_cuts():
    counter = picture_rhythm(_decode("counter.mp4"), 10.0)
    assert _cut_times(counter) == pytest.approx([1.0, 2.0], abs=0.1)
    film = picture_rhythm(_decode("bbb_opening.webm"), 10.0)
    strong = [e.time for e in film.events if e.kind == "cut" and e.strength > 0.9]
    assert strong == pytest.approx([11.833, 15.708, 23.0], abs=0.1)
    assert sum(e.time < 2.3 for e in film.events) <= 1  # the 2 s fade-in from black


def test_real_footage_without_cuts_has_no_cut_events():
    for name in ("traffic_camera.mp4", "fades.mp4"):
        rhythm = picture_rhythm(_decode(name), 10.0)
        assert [e for e in rhythm.events if e.kind == "cut"] == [], name


def test_events_at_the_native_rate_are_on_the_frame():
    """Any frame rate works: testvideo.mp4 at its own 29.97 fps puts the cuts within one frame."""
    path = MEDIA / "testvideo.mp4"
    if not path.is_file():
        pytest.skip(f"{path} not available")
    fps = 30000 / 1001
    frames = media.read_video_frames(path, start=0.0, end=7.0, fps=fps, size=(64, 36), fit="pad")
    rhythm = picture_rhythm(frames, fps)
    assert _cut_times(rhythm) == pytest.approx([30 / fps, 180 / fps], abs=1 / fps)


# The tempo plan.


def _periodic(period: float, seconds: float, *, fps: float = 30.0, first: float = 0.5) -> np.ndarray:
    cut_times = np.arange(first, seconds, period)
    return _cut_clip([round(t * fps) for t in cut_times], round(seconds * fps))


def _grid_error(plan: TempoPlan) -> float:
    return max(abs(h.offset) for h in plan.hits)


@pytest.mark.parametrize("bpm", [75.0, 90.0, 128.0, 150.0])
def test_events_on_a_steady_pulse_give_its_tempo_and_land_on_beats(bpm):
    rhythm = picture_rhythm(_periodic(60.0 / bpm, 12.0), 30.0)
    plan = plan_tempo(rhythm)
    # Its own tempo; twice or half of it puts the same events on beats, and the prior may prefer that.
    assert plan.tempo in [pytest.approx(bpm * k, rel=0.01) for k in (0.5, 1, 2)]
    assert plan.on_beat == len(plan.hits) == len(rhythm.events)
    assert _grid_error(plan) < 0.04
    assert plan.beats == pytest.approx(np.arange(plan.beats[0], 12.0, 60.0 / plan.tempo).tolist())
    assert plan.downbeats == plan.beats[plan.beats.index(plan.downbeats[0]) :: 4]


def test_the_strongest_event_falls_on_a_downbeat():
    frames = _cut_clip([43], 100)  # one cut, at 4.25 s
    plan = plan_tempo(picture_rhythm(frames, 10.0))
    (hit,) = plan.hits
    assert hit.downbeat and abs(hit.offset) < 0.011
    assert 0.9 * PRIOR_BPM <= plan.tempo <= PRIOR_BPM  # nothing much to go by: near the prior's tempo


def test_no_events_keeps_the_prior_tempo_over_the_whole_range():
    frames = _noisy(np.repeat(_shot(1)[None], 80, axis=0), 4.0)
    plan = plan_tempo(picture_rhythm(frames, 10.0, start=2.0))
    assert plan.tempo == pytest.approx(PRIOR_BPM) and plan.hits == ()
    assert 2.0 <= plan.beats[0] < 2.0 + 60 / PRIOR_BPM and plan.beats[-1] < 10.0
    assert len(plan.beats) == pytest.approx(8.0 * PRIOR_BPM / 60, abs=1)


def test_a_given_tempo_is_kept_and_only_the_phase_is_chosen():
    rhythm = picture_rhythm(_periodic(0.5, 10.0), 30.0)  # 120 BPM in the picture
    plan = plan_tempo(rhythm, tempo=60.0)
    assert plan.tempo == 60.0 and plan.given
    assert np.diff(plan.beats) == pytest.approx(1.0)
    # Every other event falls on a beat of the slower grid, exactly.
    assert plan.on_beat >= len(plan.hits) // 2
    assert min(abs(h.offset) for h in plan.hits) < 0.02


@pytest.mark.parametrize("tempo", [59.9, 181.0, float("nan")])
def test_a_tempo_outside_its_range_is_refused(tempo):
    rhythm = picture_rhythm(_cut_clip([5], 20), 10.0)
    with pytest.raises(MuviError, match="tempo must be a finite number from 60 to 180 BPM"):
        plan_tempo(rhythm, tempo=tempo)


def test_a_plan_round_trips_through_its_record():
    plan = plan_tempo(picture_rhythm(_cut_clip([12, 31], 60), 10.0, start=1.0))
    record = plan.to_dict()
    assert TempoPlan.from_dict(record) == TempoPlan.from_dict(TempoPlan.from_dict(record).to_dict())
    again = TempoPlan.from_dict(record)
    assert again.tempo == plan.tempo and again.beats == pytest.approx(plan.beats, abs=1e-4)
    assert [h.on_beat for h in again.hits] == [abs(h.offset) <= ON_BEAT for h in plan.hits]


def test_a_plan_record_is_plain_json():
    plan = plan_tempo(picture_rhythm(_cut_clip([12, 31], 60), 10.0))
    assert TempoPlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan


def test_an_encoded_clip_with_cuts_a_fade_noise_and_a_pan(tmp_path):
    """H.264 at 25 fps, decoded as the runtime decodes (10 fps, 96-pixel crop): hard cuts at 2.0 s and 5.0 s,
    a slow pan throughout, camera noise on every frame, a fade to black from 7.0 s and back up to 9.5 s."""
    from tests import media_factory as mf

    fps, seconds = 25, 11.0
    scenes = [np.kron(_shot(s, 96), np.ones((4, 4, 1))) for s in (10, 11, 12)]  # 384 x 384, soft
    rng = np.random.default_rng(5)

    def frame(index: int) -> np.ndarray:
        t = index / fps
        scene = scenes[int(t >= 2.0) + int(t >= 5.0)]
        level = np.interp(t, [7.0, 8.5, 8.5, 9.5], [1.0, 0.0, 0.0, 1.0])
        x = int(20 * t)  # a 20 px/s pan
        picture = scene[40:130, x : x + 160] * level
        return np.clip(picture + rng.normal(0, 4, picture.shape), 0, 255).astype(np.uint8)

    path = mf.write_media(
        tmp_path / "cuts.mp4", frame_times=np.arange(seconds * fps) / fps, frame=frame, size=(160, 90),
        codec="libx264", rate=fps,
    )  # fmt: skip
    frames = media.read_video_frames(path, start=0.0, end=seconds, fps=10.0, size=(SIZE, SIZE))
    events = picture_rhythm(frames, 10.0).events
    cuts = [e.time for e in events if e.time < 6.5]
    assert cuts == pytest.approx([2.0, 5.0], abs=0.1)
    assert all(7.0 <= e.time <= 9.6 for e in events if e.time >= 6.5)
    assert len(events) - len(cuts) <= 2  # the fade: at most its start and its end
