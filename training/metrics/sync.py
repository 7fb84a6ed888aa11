"""Visual events against music onsets: a sync measure for any video, with no reference music needed.

BCS/BHS need the video's own soundtrack to compare with; a user's video usually has none worth keeping.
This measure asks the picture instead: where are its *events* — hard cuts and peaks of motion — and does
the generated music put an onset on them?

- **Events.** Frames are decoded at the video's own rate (capped at `MAX_ANALYSIS_FPS`) and small size,
  so a cut lands on its exact frame. The frame-to-frame change is the mean absolute pixel difference in
  [0, 1]. A *cut* is a peak of that curve that is large in absolute terms (`CUT_MIN_CHANGE`) and large
  against its neighbourhood (`CUT_RATIO` times the local median over about a second): a cut is one
  isolated jump, while fades, dissolves and fast pans raise the curve over many frames and fail the
  ratio. A *motion peak* is a peak of the same curve, with the cut frames taken out, whose prominence
  (height above the higher of its valleys within `MOTION_WINDOW`) exceeds `MOTION_MIN_PROMINENCE`, a
  multiple of the curve's own noise, and half its height: motion at least twice that around it. Fades and
  dissolves are plateaus, with no such prominence, so they give no events. Peaks are picked by
  `scipy.signal.find_peaks`.
- **Hit rate.** The share of events with a music onset (`audio_stats.onset_times`) within
  ``TOLERANCE`` (100 ms, the beat metrics' window) — each event on its own, not a one-to-one matching:
  one drum hit on a cut that is also a motion peak serves both.
- **Chance baseline.** The same music shifted in time: the onset list is shifted circularly by offsets
  spread over the clip, never closer than `MIN_SHIFT` to no shift at all, and the hit rate measured again.
  Music whose onsets ignore the picture scores about the same shifted or not; music placed on the events
  scores well above its shifted mean.

- **The picture's rhythm.** `picture_events` finds the events with `muvi_plugin.rhythm` instead: the one
  event function of training data and the runtime's tempo plan (cut strength, motion energy and brightness
  change, robustly normalised; fades and camera noise give no events), decoded at the same rate and size as
  `detect_visual_events`. `benchmarks/sync_real.py` measures real footage with it; the model card's numbers
  (`training.recipe_eval`) still use `detect_visual_events`.
- **Ratio.** `SyncResult.ratio` is the hit rate over its shifted mean (1: chance); `pooled_sync` pools
  clips by their events (every event counts once, whatever its clip's length), and `click_track` renders
  clicks at given times, the sanity baselines (clicks on the events score far above 1, random clicks near 1).

Times are seconds on the media clock (`muvi_plugin.media`: from the start of the video file), which is
also the clock of music generated for the whole video. Music generated for a range starting at ``s`` has
its onsets at ``s + t``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

TOLERANCE = 0.1  # seconds: an onset this close to an event hits it (as BHS's 100 ms window)
MAX_ANALYSIS_FPS = 30.0  # frames per second decoded at most: one frame is then 33 ms, well inside 100 ms
ANALYSIS_WIDTH = 64  # pixels: cuts and motion peaks show at any size, and small frames decode fast
CUT_MIN_CHANGE = 0.08  # mean absolute pixel change (0-1) a cut needs at least: ~20 grey levels
CUT_RATIO = 3.0  # ... and this many times the median change around it
CUT_WINDOW = 1.0  # seconds over which that median is taken
MIN_GAP = 0.2  # seconds between two events of one kind: a one-frame flash is one event, not two
MOTION_MIN_PROMINENCE = 0.005  # mean absolute change a motion peak must rise above its valleys
MOTION_NOISE_FACTOR = 4.0  # ... and this many times the curve's robust noise level
MOTION_CONTRAST = 0.5  # ... and this share of its own height: at least twice the motion around it
MOTION_WINDOW = 0.5  # seconds each side in which a motion peak's valleys are looked for
SHIFTS = 8  # circular shifts of the onsets for the chance baseline
MIN_SHIFT = 0.5  # seconds: shifts closer to zero than this are too small to break a real alignment
KINDS = ("cut", "motion")


@dataclass(frozen=True)
class VisualEvent:
    """One visual event.

    Attributes:
        time: seconds on the media clock (the first frame after the change).
        kind: "cut" or "motion".
        strength: 0-1: the frame change at the event (mean absolute pixel difference) for
            `detect_visual_events`, the event curve there for `picture_events`.
    """

    time: float
    kind: str
    strength: float


@dataclass(frozen=True)
class SyncResult:
    """Visual events against music onsets.

    Attributes:
        events: the video's events, by time.
        onsets: music onset times (seconds, media clock) inside the analysed span.
        hit_rate: share of events with an onset within `tolerance`; NaN without events.
        shifts: the circular shifts of the chance baseline in seconds.
        shifted_hit_rates: the hit rate for each shift.
        shifted_mean: their mean (the chance level); NaN without events or shifts.
        start: the analysed span's start on the media clock.
        duration: its length in seconds.
        tolerance: the hit window in seconds.
    """

    events: tuple[VisualEvent, ...]
    onsets: np.ndarray
    hit_rate: float
    shifts: np.ndarray
    shifted_hit_rates: np.ndarray
    shifted_mean: float
    start: float
    duration: float
    tolerance: float

    def event_times(self, kind: str | None = None) -> np.ndarray:
        """Times of the events (of one `kind` only when given)."""
        return np.array([e.time for e in self.events if kind is None or e.kind == kind], dtype=np.float64)

    @property
    def ratio(self) -> float:
        """The hit rate over its shifted mean (`sync_ratio`): 1 is chance."""
        return sync_ratio(self.hit_rate, self.shifted_mean)

    def as_dict(self) -> dict:
        """JSON-ready summary: scores, counts and the event and onset lists (NaN stays NaN)."""
        return {
            "hit_rate": self.hit_rate,
            "shifted_mean": self.shifted_mean,
            "ratio": self.ratio,
            "shifted_hit_rates": [float(v) for v in self.shifted_hit_rates],
            "shifts_s": [float(v) for v in self.shifts],
            "events": len(self.events),
            "cuts": sum(e.kind == "cut" for e in self.events),
            "motion_peaks": sum(e.kind == "motion" for e in self.events),
            "brightness_changes": sum(e.kind == "brightness" for e in self.events),
            "onsets": len(self.onsets),
            "tolerance_s": self.tolerance,
            "start_s": self.start,
            "duration_s": self.duration,
            "event_times_s": [round(e.time, 4) for e in self.events],
            "event_kinds": [e.kind for e in self.events],
            "onset_times_s": [round(float(t), 4) for t in self.onsets],
        }


def frame_changes(frames: np.ndarray) -> np.ndarray:
    """Mean absolute difference of each frame from the one before, in [0, 1]; 0 for the first frame.

    Args:
        frames: uint8 ``(t, height, width, 3)``.

    Returns:
        float64 ``(t,)``: entry i compares frame i with frame i - 1.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[0] == 0:
        raise ValueError(f"frames must be (t, height, width, channels), got shape {frames.shape}")
    change = np.zeros(frames.shape[0])
    for i in range(1, frames.shape[0]):  # frame by frame: a float copy of the whole clip is not needed
        diff = np.abs(frames[i].astype(np.int16) - frames[i - 1].astype(np.int16))
        change[i] = diff.mean() / 255.0
    return change


def events_from_frames(frames: np.ndarray, fps: float, *, start: float = 0.0) -> tuple[VisualEvent, ...]:
    """Hard cuts and motion peaks of frames sampled at `fps` (method in the module docstring).

    Args:
        frames: uint8 ``(t, height, width, 3)``; frame i shows time ``start + i / fps``.
        fps: their rate.
        start: media time of frame 0.

    Returns:
        The events sorted by time.
    """
    from scipy.ndimage import median_filter
    from scipy.signal import find_peaks

    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    change = frame_changes(frames)
    if len(change) < 3:
        return ()
    gap = max(1, round(MIN_GAP * fps))
    # Mirrored at the ends, so that a cut on the first or last frame is not its own neighbourhood.
    local = median_filter(change[1:], size=2 * max(2, round(CUT_WINDOW * fps / 2)) + 1, mode="mirror")
    local = np.concatenate([[0.0], local])
    # A trailing 0 lets a cut on the last frame be a peak (find_peaks needs a neighbour on each side).
    peaks, _ = find_peaks(np.append(change, 0.0), height=CUT_MIN_CHANGE, distance=gap)
    cuts = [int(i) for i in peaks if change[i] >= CUT_RATIO * local[i]]
    # Motion is what remains with the cuts taken out: a cut frame takes its neighbours' level, so it
    # neither counts as motion nor hides a motion peak next to it.
    motion = change.copy()
    motion[0] = motion[1]
    for i in cuts:
        motion[i] = 0.5 * (motion[i - 1] + motion[min(i + 1, len(motion) - 1)])
    noise = 1.4826 * np.median(np.abs(np.diff(motion)))  # robust sigma of the frame-to-frame jitter
    prominence = max(MOTION_MIN_PROMINENCE, MOTION_NOISE_FACTOR * noise)
    window = 2 * max(2, round(MOTION_WINDOW * fps)) + 1
    peaks, found = find_peaks(motion, prominence=prominence, distance=gap, wlen=window)
    near_cut = {j for i in cuts for j in range(i - 1, i + 2)}
    moves = [
        int(i)
        for i, rise in zip(peaks, found["prominences"], strict=True)
        if rise >= MOTION_CONTRAST * motion[i] and i not in near_cut and 0 < i < len(motion) - 1
    ]
    events = [VisualEvent(start + i / fps, "cut", float(change[i])) for i in cuts]
    events += [VisualEvent(start + i / fps, "motion", float(change[i])) for i in moves]
    return tuple(sorted(events, key=lambda e: e.time))


def analysis_geometry(path: str | os.PathLike) -> tuple[float, tuple[int, int]]:
    """The frame rate (the video's own, at most `MAX_ANALYSIS_FPS`) and size events are detected at."""
    from muvi_plugin.media import probe

    info = probe(path)
    fps = min(info.fps, MAX_ANALYSIS_FPS) if info.fps > 0 else 25.0
    aspect = info.display_height / max(1, info.display_width)
    height = max(2, 2 * round(ANALYSIS_WIDTH * aspect / 2))
    return fps, (ANALYSIS_WIDTH, height)


def detect_visual_events(
    path: str | os.PathLike, *, start: float = 0.0, end: float | None = None, fps: float | None = None
) -> tuple[VisualEvent, ...]:
    """Hard cuts and motion peaks of a video range, decoded with PyAV at low resolution.

    Args:
        path: the video file.
        start: range start in seconds (media clock).
        end: range end (exclusive); None for the end of the video stream.
        fps: analysis frame rate; None for the video's own (at most `MAX_ANALYSIS_FPS`).

    Returns:
        The events sorted by time (media clock).

    Raises:
        MediaError: no video stream, an unreadable file, or a range outside the video.
    """
    frames, fps = analysis_frames(path, start=start, end=end, fps=fps)
    return events_from_frames(frames, fps, start=start)


def analysis_frames(
    path: str | os.PathLike, *, start: float, end: float | None, fps: float | None
) -> tuple[np.ndarray, float]:
    """The frames of a range at the analysis rate (`fps`, or the video's own up to `MAX_ANALYSIS_FPS`) and
    size (`analysis_geometry`), letterboxed; and that rate."""
    from muvi_plugin.media import probe, read_video_frames

    own_fps, size = analysis_geometry(path)
    fps = fps or own_fps
    if end is None:
        end = probe(path).video_end
    return read_video_frames(path, start=start, end=end, fps=fps, size=size, fit="pad"), fps


def hit_rate(events: np.ndarray, onsets: np.ndarray, tolerance: float = TOLERANCE) -> float:
    """Share of `events` (times) with an onset within `tolerance`; NaN without events."""
    events = np.asarray(events, dtype=np.float64).reshape(-1)
    onsets = np.sort(np.asarray(onsets, dtype=np.float64).reshape(-1))
    if events.size == 0:
        return math.nan
    if onsets.size == 0:
        return 0.0
    # The nearest onset of each event is one of the two around its insertion point.
    at = np.searchsorted(onsets, events)
    before = np.abs(events - onsets[np.clip(at - 1, 0, onsets.size - 1)])
    after = np.abs(onsets[np.clip(at, 0, onsets.size - 1)] - events)
    return float(np.mean(np.minimum(before, after) <= tolerance + 1e-9))


def baseline_shifts(duration: float, count: int = SHIFTS) -> np.ndarray:
    """`count` circular shifts spread over ``[MIN_SHIFT, duration - MIN_SHIFT]``; none for short clips.

    A circular shift by ``s`` is a shift by ``s - duration`` too, so this range keeps ``|shift| >=
    MIN_SHIFT`` both ways.
    """
    if duration < 2 * MIN_SHIFT or count < 1:
        return np.zeros(0)
    if count == 1:
        return np.array([duration / 2])
    return np.linspace(MIN_SHIFT, duration - MIN_SHIFT, count)


def visual_sync(
    events: tuple[VisualEvent, ...],
    onsets: np.ndarray,
    *,
    start: float,
    duration: float,
    tolerance: float = TOLERANCE,
    shifts: int = SHIFTS,
) -> SyncResult:
    """Hit rate of `events` by `onsets` and its time-shifted chance baseline.

    Args:
        events: visual events (media clock).
        onsets: music onset times (media clock); those outside ``[start, start + duration)`` are dropped.
        start: the analysed span's start.
        duration: its length in seconds.
        tolerance: hit window in seconds.
        shifts: number of circular shifts for the baseline.
    """
    onsets = np.asarray(onsets, dtype=np.float64).reshape(-1)
    onsets = onsets[(onsets >= start) & (onsets < start + duration)]
    times = np.array([e.time for e in events], dtype=np.float64)
    offsets = baseline_shifts(duration, shifts)
    shifted = np.array([hit_rate(times, start + (onsets - start + s) % duration, tolerance) for s in offsets])
    return SyncResult(
        events=tuple(events),
        onsets=onsets,
        hit_rate=hit_rate(times, onsets, tolerance),
        shifts=offsets,
        shifted_hit_rates=shifted,
        shifted_mean=float(shifted.mean()) if shifted.size and times.size else math.nan,
        start=float(start),
        duration=float(duration),
        tolerance=float(tolerance),
    )


def sync_score(
    video: str | os.PathLike,
    wave: np.ndarray,
    sample_rate: int,
    *,
    start: float = 0.0,
    end: float | None = None,
) -> SyncResult:
    """Visual events of `video` in ``[start, end)`` against the onsets of the music `wave` for that range.

    Args:
        video: the video file.
        wave: the music, (samples,) or (channels, samples); sample 0 plays at `start`.
        sample_rate: its rate in Hz.
        start: range start on the video's media clock.
        end: range end; None for the shorter of the video's end and the music's.
    """
    from muvi_plugin.media import probe
    from training.metrics.audio_stats import onset_times

    music_end = start + np.shape(wave)[-1] / sample_rate
    end = min(probe(video).video_end, music_end) if end is None else end
    events = detect_visual_events(video, start=start, end=end)
    onsets = start + onset_times(wave, sample_rate)
    return visual_sync(events, onsets, start=start, duration=end - start)


def picture_events(
    path: str | os.PathLike, *, start: float = 0.0, end: float | None = None, fps: float | None = None
) -> tuple[VisualEvent, ...]:
    """The events of a video range by `muvi_plugin.rhythm.picture_rhythm` (module docstring).

    Decoded as `detect_visual_events` decodes (the video's own rate, at most `MAX_ANALYSIS_FPS`, and
    `ANALYSIS_WIDTH` pixels wide), so an event's time is within half a frame of the change.

    Raises:
        MediaError: no video stream, an unreadable file, or a range outside the video.
    """
    from muvi_plugin.rhythm import picture_rhythm

    frames, fps = analysis_frames(path, start=start, end=end, fps=fps)
    rhythm = picture_rhythm(frames, fps, start=start)
    return tuple(VisualEvent(e.time, e.kind, e.strength) for e in rhythm.events)


def sync_ratio(hit: float, shifted: float) -> float:
    """`hit / shifted`; infinite when only the unshifted music hits, NaN when neither does (or either is)."""
    if math.isnan(hit) or math.isnan(shifted):
        return math.nan
    if shifted > 0:
        return hit / shifted
    return math.inf if hit > 0 else math.nan


@dataclass(frozen=True)
class PooledSync:
    """Sync pooled over clips: every event counts once.

    Attributes:
        clips: clips with events and a shifted baseline.
        events: their events.
        hit_rate: share of all those events with an onset within the tolerance.
        shifted_mean: the same share for the shifted music (each clip's shifted mean, weighted by its events).
    """

    clips: int
    events: int
    hit_rate: float
    shifted_mean: float

    @property
    def ratio(self) -> float:
        return sync_ratio(self.hit_rate, self.shifted_mean)


def pooled_sync(results: list[SyncResult] | tuple[SyncResult, ...]) -> PooledSync:
    """Pool clips' sync results by their events (clips without events or without shifts are left out)."""
    used = [r for r in results if r.events and not math.isnan(r.shifted_mean)]
    counts = np.array([len(r.events) for r in used], dtype=np.float64)
    if not used:
        return PooledSync(0, 0, math.nan, math.nan)
    hit = float(np.dot(counts, [r.hit_rate for r in used]) / counts.sum())
    shifted = float(np.dot(counts, [r.shifted_mean for r in used]) / counts.sum())
    return PooledSync(len(used), int(counts.sum()), hit, shifted)


def click_track(times: np.ndarray, duration: float, sample_rate: int) -> np.ndarray:
    """float32 mono `duration` seconds of silence with a 20 ms decaying 1.5 kHz click at each time."""
    wave = np.zeros(round(duration * sample_rate), dtype=np.float32)
    t = np.arange(round(0.02 * sample_rate)) / sample_rate
    click = (0.8 * np.sin(2 * np.pi * 1500.0 * t) * np.exp(-t / 0.004)).astype(np.float32)
    for time in np.asarray(times, dtype=np.float64).reshape(-1):
        at = round(time * sample_rate)
        if 0 <= at < len(wave):
            part = wave[at : at + len(click)]
            part += click[: len(part)]
    return wave
