"""Pictures drawn from a clip's music events, so the video carries the music's timing.

- **Cuts.** A hard cut to a new shot at each phrase/section boundary (unless the shot would be too short),
  on a downbeat where a shot runs long, and now and then on another downbeat.
- **Impacts.** Kicks pop the shapes and shake the camera, snares flash, crashes flash and shake harder,
  loud melodic onsets pulse the shapes.
- **Motion.** Shapes drift, bounce (landing on every beat), orbit and spin at the tempo; the camera pans and
  zooms over the background, with a nudge on downbeats in some shots.
- **Character.** The loudness envelope drives brightness and saturation; the key's mode picks warm (major)
  or cool (minor) hues, and the melody's register shifts the hue as it moves.

Every shot draws a new look (texture, palette, shapes, camera, impact style) from the generator, so a
model has to learn motion and change rather than one style. Frame i shows the time i / fps.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from training.synthdata.looks import SHAPES, TEXTURES, colourise, hsv, palette, shape_alpha, texture
from training.synthdata.music import MusicEvents


@dataclass(frozen=True)
class VideoConfig:
    """How videos are drawn and encoded.

    Attributes:
        width, height: frame size in pixels.
        fps: frames per second (a whole number, so frame times are exact).
        min_shot, max_shot: shortest and longest shot in seconds (longer ones are cut on a downbeat).
        downbeat_cut: chance that a downbeat also cuts (where the shots around it stay long enough).
        impacts: strength of flashes, pops and shakes (0 turns them off).
        camera: speed of camera pans and zooms (0 holds the camera still).
        crf, preset: H.264 quality and speed.
    """

    width: int = 128
    height: int = 128
    fps: int = 20
    min_shot: float = 1.5
    max_shot: float = 8.0
    downbeat_cut: float = 0.12
    impacts: float = 1.0
    camera: float = 1.0
    crf: int = 20
    preset: str = "veryfast"

    def __post_init__(self) -> None:
        if min(self.width, self.height) < 16 or self.width % 2 or self.height % 2:
            raise ValueError(f"frame size must be even and at least 16, got {self.width}x{self.height}")
        if self.fps <= 0 or not 0 < self.min_shot <= self.max_shot:
            raise ValueError("need fps > 0 and 0 < min_shot <= max_shot")

    def frames(self, duration: float) -> int:
        """Frames in a clip of `duration` seconds."""
        return max(1, math.ceil(duration * self.fps - 1e-6))


def plan_cuts(events: MusicEvents, *, config: VideoConfig, rng: np.random.Generator) -> list[int]:
    """Frame indices where a new shot starts (frame 0 excluded), sorted."""
    n = config.frames(events.duration)
    shortest, longest = round(config.min_shot * config.fps), round(config.max_shot * config.fps)
    downbeats = sorted({_frame_at(t, config.fps) for t in events.downbeats} - {0})
    cuts = [0]
    for at in sorted({_frame_at(t, config.fps) for t, _ in events.boundaries}):
        if at - cuts[-1] >= shortest and n - at >= shortest:
            cuts.append(at)
    cuts.append(n)
    for at in downbeats:  # the odd extra cut on a downbeat
        index = int(np.searchsorted(cuts, at))
        if (
            rng.random() < config.downbeat_cut
            and at - cuts[index - 1] >= shortest
            and cuts[index] - at >= shortest
        ):
            cuts.insert(index, at)
    done = False
    while not done:  # split long shots on the downbeat nearest their middle
        done = True
        for start, end in zip(cuts[:-1], cuts[1:], strict=True):
            inside = [d for d in downbeats if d - start >= shortest and end - d >= shortest]
            if end - start > longest and inside:
                cuts.insert(cuts.index(end), min(inside, key=lambda d: abs(d - (start + end) / 2)))
                done = False
                break
    return cuts[1:-1]


def render_frames(
    events: MusicEvents, cuts: list[int], *, config: VideoConfig, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """Yield the clip's frames, uint8 (height, width, 3) RGB, one shot after another."""
    n = config.frames(events.duration)
    curves = _Curves(events, n=n, fps=config.fps)
    shake = rng.normal(0.0, 1.0, (n, 2)).astype(np.float32)
    edges = [0, *cuts, n]
    hue = None
    for start, end in zip(edges[:-1], edges[1:], strict=True):
        look = _Look.draw(events, curves, start=start, config=config, rng=rng, previous_hue=hue)
        hue = look.hue
        for index in range(start, end):
            yield look.frame(index, curves, shake[index], config=config)


def _frame_at(time: float, fps: int) -> int:
    """The first frame showing time `time` or later."""
    return math.ceil(time * fps - 1e-6)


class _Curves:
    """Per-frame signals of the music: beat position, loudness, register, impact envelopes."""

    def __init__(self, events: MusicEvents, *, n: int, fps: int) -> None:
        t = np.arange(n) / fps
        self.t = t
        self.beat = _position(events.beats, t)
        db = np.interp(
            t, (np.arange(len(events.loudness_db)) + 0.5) / events.loudness_rate, events.loudness_db
        )
        # Mostly relative to the clip (its swells show even when it is quiet overall), partly absolute.
        low, high = np.percentile(db, 10), np.percentile(db, 97)
        relative = np.clip((db - low) / max(high - low, 1e-3), 0, 1)
        absolute = np.clip((db + 40) / 30, 0, 1)
        self.loudness = _smooth(0.6 * relative + 0.4 * absolute, fps=fps, seconds=0.15)
        onsets = np.array([o[:3] for o in events.onsets], dtype=np.float64).reshape(-1, 3)
        self.register = _register(onsets, t)
        drums = {
            kind: [(d[0], d[3] / 127) for d in events.drums if d[1] in kinds]
            for kind, kinds in _DRUMS.items()
        }
        self.kick = _impacts(drums["kick"], n=n, fps=fps, tau=0.12)
        self.snare = _impacts(drums["snare"], n=n, fps=fps, tau=0.10)
        self.crash = _impacts(drums["crash"], n=n, fps=fps, tau=0.35)
        self.downbeat = _impacts([(d, 1.0) for d in events.downbeats], n=n, fps=fps, tau=0.2)
        strong = onsets[onsets[:, 2] >= np.percentile(onsets[:, 2], 85)] if len(onsets) else onsets
        self.onset = _impacts([(o[0], o[2] / 127) for o in strong], n=n, fps=fps, tau=0.15)


_DRUMS = {"kick": ("kick",), "snare": ("snare", "tom"), "crash": ("crash",)}


def _position(times, t: np.ndarray) -> np.ndarray:
    """Continuous beat count at each time (0 at the first beat), extrapolated at the tempo at the ends."""
    times = np.asarray(times, dtype=np.float64)
    if len(times) < 2:
        return t * 2.0
    count = np.interp(t, times, np.arange(len(times)))
    first, last = times[1] - times[0], times[-1] - times[-2]
    count = np.where(t < times[0], (t - times[0]) / first, count)
    return np.where(t > times[-1], len(times) - 1 + (t - times[-1]) / last, count)


def _smooth(x: np.ndarray, *, fps: int, seconds: float) -> np.ndarray:
    alpha = 1 - math.exp(-1 / (fps * seconds))
    out, state = np.empty_like(x), x[0] if len(x) else 0.0
    for i, value in enumerate(x):  # a few hundred frames: a loop is clearer than lfilter
        state += alpha * (value - state)
        out[i] = state
    return out


def _register(onsets: np.ndarray, t: np.ndarray, window: float = 1.5) -> np.ndarray:
    """Mean pitch of the notes within `window` s, scaled so middle C is 0 and two octaves up is 1."""
    if not len(onsets):
        return np.zeros_like(t)
    times, pitches = onsets[:, 0], onsets[:, 1]
    sums = np.concatenate([[0.0], np.cumsum(pitches)])
    low, high = np.searchsorted(times, t - window), np.searchsorted(times, t + window)
    counts = high - low
    mean = np.where(counts > 0, (sums[high] - sums[low]) / np.maximum(counts, 1), np.mean(pitches))
    return (mean - 60.0) / 24.0


def _impacts(hits: list[tuple[float, float]], *, n: int, fps: int, tau: float) -> np.ndarray:
    """Sum of decaying pulses, each starting (at its weight) on the first frame at or after its hit."""
    out = np.zeros(n + 1, np.float32)
    span = int(math.ceil(5 * tau * fps))
    lags = np.arange(span)
    for time, weight in hits:
        first = _frame_at(time, fps)
        frames = first + lags
        frames = frames[frames < n]
        out[frames] += weight * np.exp(-(frames / fps - time) / tau)
    return np.minimum(out[:n], 1.5)


@dataclass
class _Shape:
    """A shape of a shot and how it moves."""

    kind: str
    colour: np.ndarray
    radius: float
    motion: str  # drift, bounce, orbit, still
    origin: np.ndarray
    velocity: np.ndarray
    spin: float  # turns per four beats
    phase: float

    @classmethod
    def draw(cls, hue: float, *, config: VideoConfig, rng: np.random.Generator) -> _Shape:
        size = np.array([config.width, config.height], np.float32)
        return cls(
            kind=str(rng.choice(SHAPES)),
            colour=hsv(
                hue + rng.choice([120.0, 180.0, 240.0]) + rng.uniform(-20, 20), rng.uniform(0.6, 1), 1.0
            ),
            radius=rng.uniform(0.05, 0.18) * float(size.min()),
            motion=str(rng.choice(["drift", "bounce", "orbit", "still"], p=[0.3, 0.35, 0.2, 0.15])),
            origin=rng.uniform(0.2, 0.8, 2) * size,
            velocity=rng.normal(0, 0.25, 2) * size,
            spin=float(rng.choice([-1.0, -0.5, 0.0, 0.5, 1.0])),
            phase=rng.uniform(0, 2 * np.pi),
        )


@dataclass
class _Look:
    """One shot's appearance and movement: background, shapes, camera and impact style."""

    hue: float
    start: int  # first frame of the shot
    background: np.ndarray  # (size, size, 3) tiling texture
    shapes: list[_Shape]
    grid: tuple[np.ndarray, np.ndarray]  # pixel-centre x, y of the frame
    origin: np.ndarray  # camera centre on the texture at the shot's start
    pan: np.ndarray  # pixels per second
    zoom: float
    zoom_rate: float  # per second, exponential
    beat_zoom: float  # zoom nudge on downbeats
    hue_drift: float  # degrees of hue per unit of register
    flash: float  # snare flash
    crash_flash: float
    pop: float  # shapes' growth on kicks
    shake: float  # pixels of camera shake on kicks and crashes
    flash_colour: np.ndarray

    @classmethod
    def draw(cls, events, curves, *, start, config, rng, previous_hue) -> _Look:
        size = 1 << max(config.width, config.height).bit_length()  # a power of two, at least 2x the frame
        register = float(curves.register[start])
        # Character: major keys warm, minor keys cool; a higher register lifts the hue.
        if rng.random() < 0.8:
            hue = (rng.uniform(-25, 65) if events.mode == "major" else rng.uniform(175, 275)) + 25 * register
        else:
            hue = rng.uniform(0, 360)
        if previous_hue is not None and abs((hue - previous_hue + 180) % 360 - 180) < 45:
            hue += rng.choice([-1, 1]) * rng.uniform(60, 120)  # a cut must show
        colours = palette(hue, rng=rng)
        background = colourise(texture(str(rng.choice(TEXTURES)), size, rng=rng), colours)
        count = int(rng.choice(6, p=[0.08, 0.2, 0.25, 0.22, 0.15, 0.1]))
        shapes = [_Shape.draw(hue, config=config, rng=rng) for _ in range(count)]
        strength, camera = config.impacts, config.camera
        y, x = np.mgrid[0 : config.height, 0 : config.width].astype(np.float32) + 0.5
        return cls(
            hue=hue,
            start=start,
            background=background,
            shapes=shapes,
            grid=(x, y),
            origin=rng.uniform(0, size, 2),
            pan=rng.normal(0, 12.0, 2) * camera,
            zoom=rng.uniform(0.8, 1.6),
            zoom_rate=rng.uniform(-0.08, 0.08) * camera,
            beat_zoom=rng.choice([0.0, 0.06]) * camera,
            hue_drift=rng.uniform(-40, 40),
            flash=rng.uniform(0.0, 0.35) * strength,
            crash_flash=rng.uniform(0.3, 0.6) * strength,
            pop=rng.uniform(0.1, 0.4) * strength,
            shake=rng.uniform(0.0, 4.0) * strength,
            flash_colour=hsv(hue + 180, rng.uniform(0, 0.4), 1.0),
        )

    def frame(self, index: int, c: _Curves, shake: np.ndarray, *, config: VideoConfig) -> np.ndarray:
        t = c.t[index] - c.t[self.start]
        width, height = config.width, config.height
        zoom = self.zoom * math.exp(self.zoom_rate * t) * (1 + self.beat_zoom * c.downbeat[index])
        centre = self.origin + self.pan * t + shake * self.shake * (c.kick[index] + c.crash[index])
        size = len(self.background)
        columns = np.floor(centre[0] + (np.arange(width) - width / 2) / zoom).astype(np.int64) % size
        rows = np.floor(centre[1] + (np.arange(height) - height / 2) / zoom).astype(np.int64) % size
        image = self.background[rows[:, None], columns[None, :]]
        beat = c.beat[index]
        for shape in self.shapes:
            position = self._position(shape, t, beat, width, height)
            radius = shape.radius * (1 + self.pop * c.kick[index] + 0.3 * self.pop * c.onset[index])
            angle = shape.phase + shape.spin * 2 * np.pi * beat / 4  # a turn every four beats
            alpha = shape_alpha(shape.kind, *self.grid, centre=position, radius=radius, angle=angle)
            image = image + alpha[..., None] * (shape.colour - image)
        # Colour grade: loudness -> brightness and saturation, register -> hue.
        loud = c.loudness[index]
        matrix = _grade(
            brightness=0.55 + 0.5 * loud, saturation=0.45 + 0.7 * loud, hue=self.hue_drift * c.register[index]
        )
        image = image @ matrix.T
        flash = min(self.flash * c.snare[index] + self.crash_flash * c.crash[index], 0.85)
        if flash > 0:
            image = image + flash * (self.flash_colour - image)
        return np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)

    @staticmethod
    def _position(shape: _Shape, t: float, beat: float, width: int, height: int) -> tuple[float, float]:
        bounds = np.array([width, height], np.float32)
        if shape.motion == "orbit":
            angle = shape.phase + 2 * np.pi * beat / 8  # once round every eight beats
            reach = 0.25 * min(width, height)
            return (width / 2 + reach * math.cos(angle), height / 2 + reach * math.sin(angle))
        if shape.motion == "still":
            return tuple(shape.origin)
        moved = (shape.origin + shape.velocity * t) % (2 * bounds)
        moved = np.where(moved > bounds, 2 * bounds - moved, moved)  # reflect off the frame's edges
        if shape.motion == "bounce":
            phase = beat % 1.0  # touches down on every beat
            moved[1] = height * 0.8 - height * 0.45 * 4 * phase * (1 - phase)
        return (float(moved[0]), float(moved[1]))


def _grade(*, brightness: float, saturation: float, hue: float) -> np.ndarray:
    """A 3x3 colour matrix: rotate hue (degrees) about the grey axis, scale saturation, then brightness."""
    angle = math.radians(hue)
    cos, sin = math.cos(angle), math.sin(angle)
    third, root = 1 / 3, math.sqrt(1 / 3)
    rotate = np.array(
        [
            [cos + (1 - cos) * third, third * (1 - cos) - root * sin, third * (1 - cos) + root * sin],
            [third * (1 - cos) + root * sin, cos + third * (1 - cos), third * (1 - cos) - root * sin],
            [third * (1 - cos) - root * sin, third * (1 - cos) + root * sin, cos + third * (1 - cos)],
        ]
    )
    grey = np.full((3, 3), third)
    saturate = grey + saturation * (np.eye(3) - grey)
    return (brightness * saturate @ rotate).astype(np.float32)
