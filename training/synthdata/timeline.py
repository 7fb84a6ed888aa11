"""A piece laid out in MIDI ticks for one clip: looped when short, a window of it when long, with its beats.

Everything here is exact integer ticks (`midi.PPQ` per quarter note); seconds come only at the end, from
the one constant tempo of the rendering, so beats, notes and cuts share one clock with the audio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from training.synthdata.corpus import Bar, PieceScore
from training.synthdata.midi import PPQ


@dataclass(frozen=True)
class Meter:
    """How a time signature is felt: beats per bar, ticks per beat, subdivisions of each beat.

    Compound meters (6/8, 9/8, 12/8, ...) have dotted beats divided in three; the rest have one beat per
    denominator unit divided in two (so 2/2 has two half-note beats, 3/4 three quarter-note beats).
    """

    beats: int
    beat_ticks: int
    subdivisions: int

    @classmethod
    def of(cls, numerator: int, denominator: int) -> Meter:
        """The meter of a numerator/denominator time signature."""
        unit = 4 * PPQ // denominator
        if denominator >= 8 and numerator % 3 == 0 and numerator > 3:
            return cls(numerator // 3, 3 * unit, 3)
        return cls(max(numerator, 1), unit, 2)


@dataclass(frozen=True)
class TimedBar:
    """A bar of the clip in ticks. Beats of a pickup bar count back from its end."""

    start: int
    length: int
    numerator: int
    denominator: int
    pickup: bool = False

    @property
    def meter(self) -> Meter:
        return Meter.of(self.numerator, self.denominator)

    @property
    def full_length(self) -> int:
        """Ticks of a complete bar of this time signature."""
        return self.numerator * 4 * PPQ // self.denominator

    def beats(self) -> list[tuple[int, int]]:
        """(tick, beat number in the bar) of every beat inside the bar; beat 0 is the downbeat."""
        meter = self.meter
        origin = self.start + self.length - self.full_length if self.pickup else self.start
        out = []
        for number in range(meter.beats + 1):
            tick = origin + number * meter.beat_ticks
            if self.start <= tick < self.start + self.length:
                out.append((tick, number % meter.beats))
        return out


@dataclass(frozen=True)
class TimedNote:
    """A note of the clip: start and length in ticks, MIDI pitch, score part index."""

    start: int
    length: int
    pitch: int
    part: int


@dataclass(frozen=True)
class Timeline:
    """The music of one clip before arrangement: `length` ticks of notes, bars and boundaries, starting
    at tick 0. `offset` is where in the (looped) piece the clip starts, in quarter lengths."""

    length: int
    notes: tuple[TimedNote, ...]
    bars: tuple[TimedBar, ...]
    boundaries: tuple[tuple[int, str], ...]
    offset: float

    def beats(self) -> list[tuple[int, int, TimedBar]]:
        """(tick, beat number, bar) of every beat of the clip, in order."""
        return [(tick, number, bar) for bar in self.bars for tick, number in bar.beats()]

    def downbeats(self) -> list[int]:
        """Ticks of every downbeat (beat 0 of a bar that is not a pickup)."""
        return [tick for tick, number, bar in self.beats() if number == 0 and not bar.pickup]


def lay_out(piece: PieceScore, *, ticks: int, rng: np.random.Generator) -> Timeline:
    """`ticks` of `piece`: looped (each repeat a new section) until long enough, then a window of it that
    starts on a bar line (half of the time on a phrase or section start, when there is one that fits).

    Args:
        piece: the parsed score.
        ticks: length of the clip in ticks.
        rng: chooses the window.
    """
    piece_ticks = _ticks(piece.length)
    copies = max(1, math.ceil(ticks / piece_ticks)) + (1 if piece_ticks < ticks else 0)
    bars, notes, boundaries = [], [], []
    for copy in range(copies):
        shift = copy * piece_ticks
        bars.extend(_timed_bar(bar, shift) for bar in piece.bars)
        notes.extend(
            TimedNote(_ticks(n.onset) + shift, max(_ticks(n.length), 1), n.pitch, n.part) for n in piece.notes
        )
        boundaries.extend((_ticks(b.at) + shift, b.kind) for b in piece.boundaries)
        if copy:
            boundaries.append((shift, "section"))
    total = copies * piece_ticks
    start = _window_start(bars, boundaries, ticks=ticks, total=total, rng=rng)
    end = start + ticks
    window_bars = []
    for bar in bars:
        if bar.start >= end or bar.start + bar.length <= start:
            continue
        first, last = max(bar.start, start), min(bar.start + bar.length, end)
        # A bar cut at the front keeps its beats by counting them back from its end, as a pickup does;
        # one cut at the back counts from its start as before.
        pickup = (bar.pickup or first > bar.start) and last == bar.start + bar.length
        window_bars.append(TimedBar(first - start, last - first, bar.numerator, bar.denominator, pickup))
    return Timeline(
        length=ticks,
        notes=tuple(
            TimedNote(n.start - start, n.length, n.pitch, n.part) for n in notes if start <= n.start < end
        ),
        bars=tuple(window_bars),
        boundaries=_snap(boundaries, window_bars, start=start, end=end),
        offset=start / PPQ,
    )


def _ticks(quarters: float) -> int:
    return round(quarters * PPQ)


def _timed_bar(bar: Bar, shift: int) -> TimedBar:
    return TimedBar(_ticks(bar.start) + shift, _ticks(bar.length), bar.numerator, bar.denominator, bar.pickup)


def _window_start(
    bars: list[TimedBar], boundaries: list, *, ticks: int, total: int, rng: np.random.Generator
) -> int:
    if total <= ticks:
        return 0
    latest = total - ticks
    bar_starts = [bar.start for bar in bars if bar.start <= latest and not bar.pickup]
    phrase_starts = [at for at, _ in boundaries if at <= latest]
    choices = phrase_starts if phrase_starts and rng.random() < 0.5 else bar_starts
    return int(choices[rng.integers(len(choices))]) if choices else 0


def _snap(boundaries: list, bars: list[TimedBar], *, start: int, end: int) -> tuple[tuple[int, str], ...]:
    # A boundary at the start of a pickup bar belongs to the downbeat the pickup leads into.
    pickup_ends = {bar.start + start: bar.start + bar.length + start for bar in bars if bar.pickup}
    found: dict[int, str] = {}
    for at, kind in boundaries:
        at = pickup_ends.get(at, at)
        if start < at < end and found.get(at) != "section":
            found[at] = kind
    return tuple((at - start, kind) for at, kind in sorted(found.items()))
