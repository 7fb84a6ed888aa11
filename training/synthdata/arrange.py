"""Turning a clip's timeline into MIDI tracks: instruments, transposition, dynamics, accompaniment, drums.

Every choice comes from the rendering's generator: an ensemble (strings, brass, band, synths, ...) whose
General MIDI programs are drawn per part by role (melody, inner voice, bass), a transposition, a dynamic
level per phrase, and the drum style and kit. Velocities follow the meter (accented downbeats) so the
music's own accents line up with its beats.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.synthdata.corpus import PieceScore
from training.synthdata.drums import KITS, STYLES, drum_part
from training.synthdata.harmony import BASS_STYLES, CHORD_STYLES, accompaniment
from training.synthdata.midi import DRUM_CHANNEL, PPQ, Note, Track
from training.synthdata.timeline import Meter, TimedNote, Timeline

# General MIDI programs (0-based) by role, per ensemble.
ENSEMBLES: dict[str, dict[str, tuple[int, ...]]] = {
    "piano": {"melody": (0, 1, 2, 4, 5)},
    "organ": {"melody": (16, 17, 19, 20)},
    "strings": {"melody": (40, 48, 49), "inner": (41, 48, 49, 45), "bass": (42, 43, 48)},
    "brass": {"melody": (56, 59, 61), "inner": (60, 57, 61), "bass": (57, 58)},
    "winds": {"melody": (73, 68, 71, 72), "inner": (71, 69, 68, 60), "bass": (70, 71)},
    "saxes": {"melody": (65, 64, 66), "inner": (65, 66), "bass": (67, 66)},
    "band": {"melody": (65, 56, 73, 25, 81, 11), "inner": (0, 4, 16, 25, 27, 24), "bass": (33, 32, 34, 35)},
    "synth": {"melody": (80, 81, 82, 84, 87), "inner": (88, 89, 90, 91, 94, 95), "bass": (38, 39)},
    "folk": {"melody": (40, 73, 22, 21, 75, 105), "inner": (24, 25, 21, 46), "bass": (32, 42)},
    "mallets": {"melody": (11, 12, 13, 8), "inner": (11, 12, 46), "bass": (32, 12)},
    "choir": {"melody": (52, 53, 54), "inner": (52, 53), "bass": (52, 42)},
}
SHARED = frozenset({"piano", "organ"})  # one instrument plays every voice, as a keyboard player does
_ROLE_VELOCITY = {"melody": 96, "inner": 74, "bass": 86, "chords": 62}


@dataclass(frozen=True)
class Arrangement:
    """The random choices of one rendering that are not instruments (those are drawn per part).

    Attributes:
        bpm: tempo in quarter notes per minute (a whole number of microseconds per quarter note).
        beat_bpm: the same tempo in the meter's beats (dotted quarters in 6/8, halves in 2/2).
        transpose: semitones.
        ensemble: key of `ENSEMBLES`.
        drum_style: one of `drums.STYLES`.
        drum_kit: General MIDI kit program.
        bass_style: accompaniment bass of a single-line tune (one of `harmony.BASS_STYLES`), or "".
        chord_style: accompaniment chords (one of `harmony.CHORD_STYLES`), or "".
    """

    bpm: float
    beat_bpm: float
    transpose: int
    ensemble: str
    drum_style: str
    drum_kit: int
    bass_style: str = ""
    chord_style: str = ""


def choose_arrangement(
    piece: PieceScore,
    *,
    rng: np.random.Generator,
    beat_bpm: tuple[float, float],
    quarter_bpm: tuple[float, float],
    transpose: int,
) -> Arrangement:
    """Draw a rendering's tempo, transposition, ensemble and drums (see `Arrangement`).

    Args:
        piece: the score.
        rng: the rendering's generator.
        beat_bpm: range of the tempo in the meter's beats.
        quarter_bpm: range the tempo in quarter notes is then clipped to (a half-note beat at 150 would
            be unplayably fast).
        transpose: largest transposition in semitones, up or down.
    """
    bar = next((b for b in piece.bars if not b.pickup), piece.bars[0])
    beat_quarters = Meter.of(bar.numerator, bar.denominator).beat_ticks / PPQ
    # Beats longer than a dotted quarter (half notes in 2/2, 4/2) are felt slower: scale their range down.
    slower = min(1.0, 1.5 / beat_quarters)
    bpm = float(np.clip(rng.uniform(*beat_bpm) * slower * beat_quarters, *quarter_bpm))
    bpm = 60_000_000 / round(60_000_000 / bpm)  # what a MIDI tempo can say exactly
    single_line = len(piece.part_names) == 1
    return Arrangement(
        bpm=bpm,
        beat_bpm=bpm / beat_quarters,
        transpose=int(rng.integers(-transpose, transpose + 1)),
        ensemble=str(rng.choice(sorted(ENSEMBLES))),
        drum_style=str(rng.choice(STYLES)),
        drum_kit=int(rng.choice(KITS)),
        bass_style=str(rng.choice(BASS_STYLES)) if single_line and rng.random() < 0.85 else "",
        chord_style=str(rng.choice(CHORD_STYLES)) if single_line and rng.random() < 0.85 else "",
    )


def arrange(
    piece: PieceScore, timeline: Timeline, arrangement: Arrangement, *, rng: np.random.Generator
) -> tuple[Track, ...]:
    """The MIDI tracks of a clip: one per score part, the accompaniment of a single-line tune, drums."""
    notes = tuple(
        TimedNote(n.start, n.length, _in_range(n.pitch + arrangement.transpose), n.part)
        for n in timeline.notes
    )
    roles = _roles(piece.part_pitches)
    ensemble = ENSEMBLES[arrangement.ensemble]
    shared = int(rng.choice(ensemble["melody"])) if arrangement.ensemble in SHARED else None
    level = _levels(timeline, rng=rng)
    accents = _accents(timeline)
    parts = []  # (name, role, program, notes)
    for index, (name, role) in enumerate(zip(piece.part_names, roles, strict=True)):
        program = shared if shared is not None else int(rng.choice(ensemble[role]))
        part_notes = tuple(Note(n.start, n.length, n.pitch, 0) for n in notes if n.part == index)
        parts.append((name, role, program, part_notes))
    if arrangement.bass_style or arrangement.chord_style:
        bass, chords = accompaniment(
            timeline,
            notes,
            tonic=(piece.key_tonic + arrangement.transpose) % 12,
            mode=piece.key_mode,
            bass_style=arrangement.bass_style or "roots",
            chord_style=arrangement.chord_style or "sustained",
        )
        if arrangement.bass_style:
            parts.append(
                ("bass", "bass", shared if shared is not None else int(rng.choice(ensemble["bass"])), bass)
            )
        if arrangement.chord_style:
            program = shared if shared is not None else int(rng.choice(ensemble["inner"]))
            parts.append(("chords", "chords", program, chords))
    tracks = []
    for index, (name, role, program, part_notes) in enumerate(parts):
        # Channel 10 is the drums'; parts past the fifteenth share the last channel (rare: 6-voice masses).
        channel = min(index if index < DRUM_CHANNEL else index + 1, 15)
        base = _ROLE_VELOCITY[role] * rng.uniform(0.9, 1.1)
        voiced = _velocities(part_notes, base=base, level=level, accents=accents, rng=rng)
        volume = int(rng.integers(95, 121)) if role == "melody" else int(rng.integers(80, 111))
        tracks.append(Track(name, channel, program, voiced, volume))
    drums = drum_part(timeline, style=arrangement.drum_style, rng=rng)
    drums = _velocities(drums, base=None, level=level, accents={}, rng=rng)
    tracks.append(Track("drums", DRUM_CHANNEL, arrangement.drum_kit, drums, int(rng.integers(90, 121))))
    return tuple(tracks)


def _in_range(pitch: int) -> int:
    while pitch < 24:
        pitch += 12
    while pitch > 108:
        pitch -= 12
    return pitch


def _roles(pitches: tuple[int, ...]) -> list[str]:
    if len(pitches) == 1:
        return ["melody"]
    order = np.argsort(pitches, kind="stable")
    roles = ["inner"] * len(pitches)
    roles[int(order[-1])] = "melody"
    roles[int(order[0])] = "bass"
    return roles


def _levels(timeline: Timeline, *, rng: np.random.Generator):
    """Dynamic level (0.55-1) as a function of tick: one per phrase, some phrases swelling."""
    edges = [0, *[at for at, _ in timeline.boundaries], timeline.length]
    starts = np.array(edges[:-1])
    lows = rng.uniform(0.55, 1.0, len(starts))
    swells = rng.random(len(starts)) < 0.3
    ends = np.where(swells, np.minimum(lows + 0.3, 1.0), lows)
    spans = np.maximum(np.diff(edges), 1)

    def level(tick: int) -> float:
        index = int(np.searchsorted(starts, tick, side="right") - 1)
        return float(lows[index] + (ends[index] - lows[index]) * (tick - starts[index]) / spans[index])

    return level


def _accents(timeline: Timeline) -> dict[int, float]:
    accents = {}
    for tick, number, _ in timeline.beats():
        accents[tick] = 1.12 if number == 0 else 1.04
    return accents


def _velocities(notes, *, base: float | None, level, accents: dict[int, float], rng) -> tuple[Note, ...]:
    jitter = rng.normal(1.0, 0.05, len(notes))
    out = []
    for note, scale in zip(notes, jitter, strict=True):
        # Drums arrive with their own velocities; pitched parts get the role's, accented by the meter.
        velocity = note.velocity if base is None else base * accents.get(note.start, 0.94)
        velocity *= level(note.start) * scale
        out.append(Note(note.start, note.length, note.pitch, int(np.clip(round(velocity), 15, 127))))
    return tuple(out)
