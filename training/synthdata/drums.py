"""A General MIDI drum part made from a clip's own bars: clear beats that follow the score's meter.

Kick on the downbeat (and the bar's other strong beats), snare on the backbeats, hi-hats (or ride) on
every subdivision; a fill into each phrase or section boundary and a crash on it. Styles and small random
variations (ghost notes, pushed kicks, open hats) keep clips from sounding alike.
"""

from __future__ import annotations

import numpy as np

from training.synthdata.midi import PPQ, Note
from training.synthdata.timeline import TimedBar, Timeline

KICK, SIDE_STICK, SNARE, CLOSED_HAT, OPEN_HAT = 36, 37, 38, 42, 46
LOW_TOM, MID_TOM, HIGH_TOM, CRASH, RIDE = 45, 47, 50, 49, 51
# What each drum note is, for the event lists (and the video's impacts).
DRUM_KINDS = {
    KICK: "kick",
    SIDE_STICK: "snare",
    SNARE: "snare",
    CLOSED_HAT: "hat",
    OPEN_HAT: "hat",
    RIDE: "hat",
    LOW_TOM: "tom",
    MID_TOM: "tom",
    HIGH_TOM: "tom",
    CRASH: "crash",
}
STYLES = ("backbeat", "half_time", "four_on_floor", "sparse", "busy", "ride")
# General MIDI kits (programs on channel 10) that FluidR3_GM has: standard, room, power, electronic,
# TR-808, jazz, brush.
KITS = (0, 8, 16, 24, 25, 32, 40)
_HIT = PPQ // 8  # drum note length: the samples ring out on their own


def drum_part(timeline: Timeline, *, style: str, rng: np.random.Generator) -> tuple[Note, ...]:
    """The drum notes of a clip, sorted by time.

    Args:
        timeline: the clip's bars and boundaries.
        style: one of `STYLES`.
        rng: the variations (velocities, ghost notes, fills).
    """
    if style not in STYLES:
        raise ValueError(f"drum style must be one of {STYLES}, got {style!r}")
    hits: list[tuple[int, int, int]] = []  # (tick, note, velocity)
    for bar in timeline.bars:
        hits.extend(_bar_pattern(bar, style=style, rng=rng))
    fills = [_fill(timeline.bars, at, kind, rng=rng) for at, kind in timeline.boundaries]
    for start, end, notes in fills:
        hits = [hit for hit in hits if not start <= hit[0] < end] + notes
    if rng.random() < 0.6:
        hits.append((0, CRASH, 100))
    hits = [(tick, note, velocity) for tick, note, velocity in hits if 0 <= tick < timeline.length]
    velocities = np.clip(np.array([v for _, _, v in hits]) + rng.normal(0, 5, len(hits)), 20, 127)
    notes = {
        (tick, note): Note(tick, _HIT, note, int(v))
        for (tick, note, _), v in zip(hits, velocities, strict=True)
    }
    return tuple(sorted(notes.values(), key=lambda n: (n.start, n.pitch)))


def backbeat(beats: int) -> dict[int, int]:
    """Kick or snare on each beat number of a bar of `beats` beats (missing: neither).

    The downbeat is always a kick. Even meters alternate kick and snare; 3 has snare on 2 and 3; longer
    odd meters are grouped 2+2+...+3, with a kick opening each group and a snare on its second beat.
    """
    if beats == 1:
        return {0: KICK}
    if beats == 3:
        return {0: KICK, 1: SNARE, 2: SNARE}
    if beats % 2 == 0:
        return {n: KICK if n % 2 == 0 else SNARE for n in range(beats)}
    pattern = {}
    groups = [2] * ((beats - 3) // 2) + [3]
    first = 0
    for size in groups:
        pattern[first], pattern[first + 1] = KICK, SNARE
        first += size
    return pattern


def _bar_pattern(bar: TimedBar, *, style: str, rng: np.random.Generator) -> list[tuple[int, int, int]]:
    meter = bar.meter
    pattern = backbeat(meter.beats)
    if style == "half_time" and meter.beats % 2 == 0:
        pattern = {0: KICK, meter.beats // 2: SNARE}
    elif style == "four_on_floor":
        pattern = {n: KICK for n in range(meter.beats)}
    hits = []
    subdivisions = meter.subdivisions * (2 if style == "busy" else 1)
    step = meter.beat_ticks // subdivisions
    cymbal = RIDE if style == "ride" else CLOSED_HAT
    beats = bar.beats()
    for index, (tick, number) in enumerate(beats):
        drum = pattern.get(number)
        if drum == KICK:
            hits.append((tick, KICK, 112 if number == 0 else 100))
        elif drum == SNARE:
            soft = meter.beats == 3 or style == "sparse"
            hits.append((tick, SIDE_STICK if style == "sparse" else SNARE, 80 if soft else 105))
        if style == "four_on_floor" and meter.beats % 2 == 0 and number % 2 == 1:
            hits.append((tick, SNARE, 100))
        for sub in range(subdivisions):
            if style == "sparse" and sub:
                continue
            at = tick + sub * step
            last = index == len(beats) - 1 and sub == subdivisions - 1
            hat = OPEN_HAT if last and style != "ride" and rng.random() < 0.3 else cymbal
            hits.append((at, hat, 85 if sub == 0 else 62))
            if sub and style != "sparse" and rng.random() < 0.06:
                hits.append((at, SNARE, 38))  # ghost note
            if sub and style in ("backbeat", "busy") and rng.random() < 0.08:
                hits.append((at, KICK, 90))  # pushed kick
    return hits


def _fill(
    bars: tuple[TimedBar, ...], at: int, kind: str, *, rng: np.random.Generator
) -> tuple[int, int, list[tuple[int, int, int]]]:
    """(start, end, notes) of a fill into the boundary at tick `at`, ending on a crash and kick."""
    bar = next((b for b in reversed(bars) if b.start < at), bars[0])
    meter = bar.meter
    span = meter.beat_ticks * (2 if kind == "section" and rng.random() < 0.5 else 1)
    start = max(at - span, 0)
    notes = []
    if rng.random() < (0.9 if kind == "section" else 0.6):
        step = meter.beat_ticks // (meter.subdivisions * 2)
        drums = (SNARE, SNARE, HIGH_TOM, MID_TOM, LOW_TOM) if rng.random() < 0.6 else (SNARE,)
        count = max(1, (at - start) // step)
        for index in range(count):
            drum = drums[min(index * len(drums) // count, len(drums) - 1)]
            notes.append((start + index * step, drum, 70 + 40 * (index + 1) // count))
    else:
        start = at  # no fill: the pattern plays on, only the crash marks the boundary
    if kind == "section" or rng.random() < 0.7:
        notes += [(at, CRASH, 115), (at, KICK, 115)]
    return start, at, notes
