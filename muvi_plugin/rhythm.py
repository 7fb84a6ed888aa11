"""The picture's rhythm: a per-frame event curve, its events, and one tempo plan for a range (issue 16).

One function for training and runtime (numpy and scipy only, torch-free; part of the shared core,
docs/architecture.md): `picture_rhythm(frames, fps)` takes decoded frames at any rate (the runtime passes
the bundle's, 10 fps at the bundle's size) and returns three change curves, their robustly normalised
combination and the events picked from it; `plan_tempo(rhythm)` chooses one tempo and beat phase for the
whole range so that the strongest events fall on beats and downbeats.

**Curves.** Entry i compares frame i with frame i - 1 (entry 0 is 0, and never an event), on frames
block-averaged down to at most `ANALYSIS_WIDTH` pixels wide, which already averages out most camera noise:

- *cut*: half the L1 distance between the frames' colour histograms (`HISTOGRAM_BINS` soft, linearly
  interpolated bins per RGB channel), 0 to 1. A hard cut changes the whole palette at once.
- *motion*: the mean absolute difference of the grey images after the global brightness shift (the median
  difference) is taken out and each pixel's change is shrunk by `NOISE_LEVEL` (soft threshold), 0 to 1.
  Sensor noise and compression flicker fall under the threshold; moving things do not.
- *brightness*: the absolute change of the mean grey level, 0 to 1 (flashes, lights, fades).

**Normalisation.** Each curve `x` becomes `max(0, x - CONTRAST * local) / scale`, where `local` is its
running median over `LOCAL_WINDOW` seconds, mirrored at the ends (so a fade or a steady pan, which raise the
curve for many frames, is its own baseline and gives no peak; `CONTRAST` = 2 also keeps the alternating
steps of a fade sampled unevenly, 25 fps footage at 10 fps, from peaking) and `scale` is the larger of the
robust spread of `x - local` over the range (1.4826 x its median absolute value) and an absolute floor
(`FLOORS`: what a barely visible change measures). Real footage, noisy or clean, and the synthetic drawings
thus land on one scale: units of "typical change of this range", never below the floor, so a static shot
with camera noise stays near 0; each normalised curve is clipped at `Z_MAX`; the event curve is their
weighted mean (`WEIGHTS`) over `Z_MAX`, in [0, 1].

**Events.** Peaks of the event curve of at least `EVENT_THRESHOLD`, at least `MIN_SPACING` seconds apart
(`scipy.signal.find_peaks`); the strongest wins when two are closer. An event's time is the midpoint
between the two frames it compares (`start + (i - 0.5) / fps`): the change happened somewhere in between.
Its kind is the component that contributed most ("cut", "motion" or "brightness").

**Tempo plan.** Comb-filter scoring of the event curve's peaks, a beat tracker's idea with one constant
tempo: every tempo from `MIN_BPM` to `MAX_BPM` in steps of `BPM_STEP` and every bar phase (`PHASE_STEP`
over four beats) is scored by `sum_e s_e [g(d_beat) + DOWNBEAT_WEIGHT g(d_down) - chance]`, where `s_e` is
event e's strength, `d` its distance to the nearest beat or downbeat, `g` a Gaussian of `HIT_SIGMA`
seconds, and `chance` what an event at a random time would get, so a faster grid is not preferred only for
having more beats. `PRIOR_WEIGHT` times the log of a log-Gaussian prior around `PRIOR_BPM`
(`PRIOR_OCTAVES` wide) is added: the events' evidence grows with their number and strength, so with few or
none the prior decides the tempo and the phase puts the strongest event on a downbeat. With `tempo` given
only the phase is chosen. Four beats to the bar. Voting with the peaks rather than every frame of the
curve keeps the score the same at any frame rate (a motion bump spans 3 frames at 10 fps, 9 at 30).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from muvi_plugin import limits
from muvi_plugin.errors import MuviError, load_library

ANALYSIS_WIDTH = 48  # pixels at most: frames are block-averaged down to this width first
_CHUNK = 32  # frames converted to float at a time
HISTOGRAM_BINS = 16  # soft bins per RGB channel
NOISE_LEVEL = 4.0 / 255.0  # per-pixel grey change treated as noise (after block averaging)
LOCAL_WINDOW = 1.0  # seconds: running median each curve is measured against
CONTRAST = 2.0  # a change counts above this many times that median (a fade sampled unevenly alternates)
FLOORS = {"cut": 0.02, "motion": 0.002, "brightness": 0.004}  # least scale: a barely visible change
WEIGHTS = {"cut": 0.5, "motion": 0.3, "brightness": 0.2}
KINDS = tuple(WEIGHTS)
Z_MAX = 10.0  # normalised curves are clipped here: one huge cut must not flatten everything else
EVENT_THRESHOLD = 0.15  # least event-curve peak for an event (a cut alone: 3 units of its scale)
MIN_SPACING = 0.3  # seconds between events (a beat at 200 BPM)

MIN_BPM, MAX_BPM = limits.TEMPO  # the tempo plan's search range
BPM_STEP = 0.5
PRIOR_BPM = 110.0  # centre of the log-Gaussian tempo prior
PRIOR_OCTAVES = 0.5  # its standard deviation in octaves
PRIOR_WEIGHT = 0.5  # weight of the log prior against the comb score (a full-strength event scores ~1)
HIT_SIGMA = 0.04  # seconds: width of the Gaussian that scores an event against a beat
DOWNBEAT_WEIGHT = 0.5  # extra score for an event on a downbeat
PHASE_STEP = 0.01  # seconds between the bar phases tried
BEATS_PER_BAR = 4
ON_BEAT = 0.1  # seconds: an event this close to a beat lands on it (the sync measure's window)


@dataclass(frozen=True)
class Event:
    """One visual event: `time` (seconds, media clock), `strength` (the event curve there, 0 to 1) and
    `kind` ("cut", "motion" or "brightness": the component that contributed most)."""

    time: float
    strength: float
    kind: str


@dataclass(frozen=True)
class Rhythm:
    """The picture's rhythm over a range.

    Attributes:
        fps: Frame rate of the curves.
        start: Media time of frame 0.
        duration: Seconds covered (frames / fps).
        components: The raw change curves by kind, each `(t,)`, entry i comparing frames i - 1 and i.
        curve: The event curve `(t,)` in [0, 1].
        events: The events, by time.
    """

    fps: float
    start: float
    duration: float
    components: dict[str, np.ndarray]
    curve: np.ndarray
    events: tuple[Event, ...]

    def times(self) -> np.ndarray:
        """Media time at which each curve entry's change happened (midway between the frames)."""
        return self.start + (np.arange(len(self.curve)) - 0.5) / self.fps


@dataclass(frozen=True)
class Hit:
    """Where one event falls on the plan's grid: the nearest `beat` (seconds), `offset` = event - beat,
    whether that beat is a `downbeat`, and whether the event lands on it (`on_beat`: |offset| <= ON_BEAT)."""

    time: float
    strength: float
    kind: str
    beat: float
    offset: float
    downbeat: bool
    on_beat: bool


@dataclass(frozen=True)
class TempoPlan:
    """One tempo and beat phase for a whole range.

    Attributes:
        tempo: Beats per minute.
        given: Whether the tempo was given (then only the phase was chosen).
        start: Range start (media clock), seconds.
        end: Range end, seconds.
        beats: Beat times inside the range, seconds on the media clock.
        downbeats: The beats that start a bar (every `BEATS_PER_BAR`-th).
        hits: Each event and the beat nearest to it, by event time.
    """

    tempo: float
    given: bool
    start: float
    end: float
    beats: tuple[float, ...]
    downbeats: tuple[float, ...]
    hits: tuple[Hit, ...] = field(default=())

    @property
    def on_beat(self) -> int:
        """How many events land on a beat."""
        return sum(h.on_beat for h in self.hits)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: plain numbers, lists, strings and booleans (`from_dict` reads it back exactly)."""
        record = asdict(self)
        for key in ("beats", "downbeats", "hits"):
            record[key] = list(record[key])
        return record

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> TempoPlan:
        """Read back `to_dict`'s record (TypeError or ValueError when malformed)."""
        values = dict(record)
        values["beats"] = tuple(float(t) for t in values.get("beats", ()))
        values["downbeats"] = tuple(float(t) for t in values.get("downbeats", ()))
        values["hits"] = tuple(Hit(**h) for h in values.get("hits", ()))
        return cls(**values)


def _small(frames: np.ndarray) -> np.ndarray:
    """float32 `(t, h, w, 3)` in [0, 1], block-averaged to at most ANALYSIS_WIDTH pixels wide."""
    t, height, width, _ = frames.shape
    k = max(1, math.ceil(width / ANALYSIS_WIDTH))
    kh = min(k, height)
    h, w = height // kh, width // k
    out = np.empty((t, h, w, 3), dtype=np.float32)
    for at in range(0, t, _CHUNK):  # a chunk at a time: a float copy of a long full-size clip is not needed
        part = frames[at : at + _CHUNK, : h * kh, : w * k].astype(np.float32) / np.float32(255.0)
        out[at : at + _CHUNK] = part.reshape(len(part), h, kh, w, k, 3).mean(axis=(2, 4))
    return out


def _histograms(small: np.ndarray) -> np.ndarray:
    """Soft colour histograms `(t, 3 * HISTOGRAM_BINS)`, each channel summing to 1/3."""
    t = small.shape[0]
    position = small.reshape(t, -1, 3) * (HISTOGRAM_BINS - 1)
    low = np.floor(position).astype(np.int64)
    upper = position - low
    high = np.minimum(low + 1, HISTOGRAM_BINS - 1)
    offsets = (np.arange(3) * HISTOGRAM_BINS)[None, None]
    rows = np.arange(t)[:, None, None] * (3 * HISTOGRAM_BINS)
    counts = np.bincount((rows + offsets + low).ravel(), (1 - upper).ravel(), t * 3 * HISTOGRAM_BINS)
    counts += np.bincount((rows + offsets + high).ravel(), upper.ravel(), t * 3 * HISTOGRAM_BINS)
    counts = counts.reshape(t, 3 * HISTOGRAM_BINS)
    return counts / (3 * position.shape[1])


def change_curves(frames: np.ndarray) -> dict[str, np.ndarray]:
    """The raw cut, motion and brightness curves of frames `(t, height, width, 3)` uint8 (module docstring).

    Raises:
        MuviError: Not a non-empty `(t, height, width, 3)` array.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[0] == 0 or frames.shape[-1] != 3 or 0 in frames.shape:
        raise MuviError(f"frames must be a non-empty (t, height, width, 3) array, got shape {frames.shape}")
    small = _small(frames)
    grey = small @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    curves = {kind: np.zeros(len(frames)) for kind in KINDS}
    if len(frames) < 2:
        return curves
    hist = _histograms(small)
    curves["cut"][1:] = 0.5 * np.abs(np.diff(hist, axis=0)).sum(axis=1)
    diff = np.diff(grey, axis=0).reshape(len(frames) - 1, -1)
    diff -= np.median(diff, axis=1, keepdims=True)  # a global brightness shift is not motion
    curves["motion"][1:] = np.maximum(np.abs(diff) - NOISE_LEVEL, 0.0).mean(axis=1)
    curves["brightness"][1:] = np.abs(np.diff(grey.reshape(len(frames), -1).mean(axis=1)))
    return curves


def normalise(curve: np.ndarray, fps: float, floor: float) -> np.ndarray:
    """`max(0, curve - CONTRAST * running median) / max(robust spread, floor)`, clipped at Z_MAX (module
    docstring)."""
    median_filter = load_library("scipy.ndimage", "the tempo plan").median_filter

    size = 2 * max(1, round(LOCAL_WINDOW * fps / 2)) + 1
    # Entry 0 compares nothing: it takes the curve's median so it neither peaks nor drags the median. Mirrored
    # at the ends (d c b | a b c d), so that a change on the first or last entry is not its own baseline.
    x = np.asarray(curve, dtype=np.float64).copy()
    if len(x) > 1:
        x[0] = np.median(x[1:])
    local = median_filter(x, size=size, mode="mirror")
    scale = max(1.4826 * float(np.median(np.abs(x - local))), floor)
    z = np.clip((x - CONTRAST * local) / scale, 0.0, Z_MAX)
    if len(z):
        z[0] = 0.0
    return z


def picture_rhythm(frames: np.ndarray, fps: float, *, start: float = 0.0) -> Rhythm:
    """The event curve and the events of frames sampled at `fps` (module docstring).

    Args:
        frames: uint8 `(t, height, width, 3)` RGB; frame i shows media time `start + i / fps`.
        fps: Their rate (the bundle's, 10, at runtime; any rate works: the constants are in seconds).
        start: Media time of frame 0.

    Raises:
        MuviError: Bad frames or a frame rate that is not a positive number.
    """
    if not (isinstance(fps, int | float) and math.isfinite(fps) and fps > 0):
        raise MuviError(f"fps must be a positive number, got {fps!r}")
    curves = change_curves(frames)
    z = {kind: normalise(curves[kind], fps, FLOORS[kind]) for kind in KINDS}
    parts = np.stack([WEIGHTS[kind] * z[kind] for kind in KINDS]) / Z_MAX
    curve = parts.sum(axis=0)
    events: list[Event] = []
    if len(curve) >= 2:
        find_peaks = load_library("scipy.signal", "the tempo plan").find_peaks

        # A trailing 0 lets a change on the last frame be a peak (find_peaks needs a neighbour each side).
        distance = max(1, math.ceil(MIN_SPACING * fps - 1e-9))
        peaks, _ = find_peaks(np.append(curve, 0.0), height=EVENT_THRESHOLD, distance=distance)
        for i in peaks:
            kind = KINDS[int(np.argmax(parts[:, i]))]
            events.append(Event(float(start + (i - 0.5) / fps), float(curve[i]), kind))
    return Rhythm(
        fps=float(fps),
        start=float(start),
        duration=len(curve) / fps,
        components=curves,
        curve=curve,
        events=tuple(events),
    )


def _comb_scores(times: np.ndarray, weights: np.ndarray, period: float, phases: np.ndarray) -> np.ndarray:
    """Comb score of each bar phase (the first downbeat at `phase`, beats every `period`)."""
    bar = BEATS_PER_BAR * period
    position = (times[None, :] - phases[:, None]) % bar  # (phases, frames) seconds into the bar
    to_beat = np.abs(position - period * np.round(position / period))
    to_down = np.minimum(position, bar - position)
    g = np.exp(-0.5 * (to_beat / HIT_SIGMA) ** 2)
    g += DOWNBEAT_WEIGHT * np.exp(-0.5 * (to_down / HIT_SIGMA) ** 2)
    # What an event at a random time would get: the Gaussian's area over the beat (and bar) period.
    area = HIT_SIGMA * math.sqrt(2 * math.pi)
    chance = area / period + DOWNBEAT_WEIGHT * area / bar
    return (g - chance) @ weights


def log_prior(tempo: np.ndarray | float) -> np.ndarray:
    """The log-Gaussian tempo prior's log density (up to a constant): 0 at PRIOR_BPM."""
    return -0.5 * (np.log2(np.asarray(tempo, dtype=np.float64) / PRIOR_BPM) / PRIOR_OCTAVES) ** 2


def plan_tempo(rhythm: Rhythm, *, tempo: float | None = None, end: float | None = None) -> TempoPlan:
    """One tempo and beat phase for the whole range of `rhythm` (module docstring).

    Args:
        rhythm: The range's picture rhythm.
        tempo: Beats per minute to use (only the phase is chosen); None to choose it too.
        end: Range end on the media clock; None for `rhythm.start + rhythm.duration`.

    Raises:
        MuviError: A tempo outside `limits.TEMPO`.
    """
    if tempo is not None:
        tempo = limits.number("tempo", tempo, limits.TEMPO, unit="BPM")
    start = rhythm.start
    end = start + rhythm.duration if end is None else float(end)
    times = np.array([e.time for e in rhythm.events])
    weights = np.array([e.strength for e in rhythm.events])
    candidates = (
        np.array([tempo]) if tempo is not None else np.arange(MIN_BPM, MAX_BPM + BPM_STEP / 2, BPM_STEP)
    )
    best = (-math.inf, float(candidates[0]), start)
    for bpm in candidates:
        period = 60.0 / bpm
        phases = start + np.arange(0.0, BEATS_PER_BAR * period, PHASE_STEP)
        scores = _comb_scores(times, weights, period, phases)
        at = int(np.argmax(scores))
        score = float(scores[at]) + PRIOR_WEIGHT * float(log_prior(bpm))
        if score > best[0] + 1e-12:
            best = (score, float(bpm), float(phases[at]))
    _, bpm, phase = best
    return beat_grid(rhythm.events, tempo=bpm, phase=phase, start=start, end=end, given=tempo is not None)


def beat_grid(
    events: tuple[Event, ...], *, tempo: float, phase: float, start: float, end: float, given: bool
) -> TempoPlan:
    """The plan of a tempo whose downbeats fall on `phase + k * bar`: beats in `[start, end)`, and hits."""
    period = 60.0 / tempo
    first = math.ceil((start - phase) / period - 1e-9)
    count = max(0, math.ceil((end - phase) / period - 1e-9) - first)
    index = first + np.arange(count)
    beats = phase + index * period
    downbeats = beats[index % BEATS_PER_BAR == 0]
    hits = []
    for e in events:
        k = int(round((e.time - phase) / period))
        beat = phase + k * period
        offset = e.time - beat
        downbeat, on_beat = k % BEATS_PER_BAR == 0, bool(abs(offset) <= ON_BEAT + 1e-9)
        hits.append(Hit(e.time, e.strength, e.kind, float(beat), float(offset), downbeat, on_beat))
    return TempoPlan(
        tempo=float(tempo),
        given=given,
        start=float(start),
        end=float(end),
        beats=tuple(float(t) for t in beats),
        downbeats=tuple(float(t) for t in downbeats),
        hits=tuple(hits),
    )


__all__ = [
    "KINDS",
    "MAX_BPM",
    "MIN_BPM",
    "Event",
    "Hit",
    "Rhythm",
    "TempoPlan",
    "beat_grid",
    "change_curves",
    "log_prior",
    "normalise",
    "picture_rhythm",
    "plan_tempo",
]
