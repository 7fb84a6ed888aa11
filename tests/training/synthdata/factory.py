"""Small hand-made scores and events for the synthdata tests (no music21 parsing, so they are fast)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from training.synthdata.corpus import Bar, Boundary, PieceScore, ScoreNote
from training.synthdata.music import MusicEvents
from training.synthdata.render import DEFAULT_SOUNDFONT

needs_fluidsynth = pytest.mark.skipif(
    shutil.which("fluidsynth") is None or not Path(DEFAULT_SOUNDFONT).is_file(),
    reason="needs the fluidsynth command and the FluidR3_GM SoundFont",
)


def scale_piece(
    numerator: int = 4, denominator: int = 4, *, bars: int = 4, pickup: float = 0.0
) -> PieceScore:
    """A melody stepping up a C major scale on every beat unit, over a held bass note per bar; a section
    boundary halfway. With `pickup` quarter lengths of anacrusis (and a last bar short by as much)."""
    full = numerator * 4 / denominator
    unit = 4 / denominator
    layout = [(0.0, pickup)] if pickup else []
    start = pickup
    for index in range(bars):
        length = full - pickup if pickup and index == bars - 1 else full
        layout.append((start, length))
        start += length
    bar_list = tuple(
        Bar(at, length, numerator, denominator, pickup=bool(pickup) and i == 0)
        for i, (at, length) in enumerate(layout)
    )
    notes = []
    scale = (60, 62, 64, 65, 67, 69, 71, 72)
    for step in range(int(round(start / unit))):
        notes.append(ScoreNote(step * unit, unit, scale[step % len(scale)], 0))
    for at, length in layout:
        notes.append(ScoreNote(at, length, 48, 1))
    return PieceScore(
        id=f"test/scale_{numerator}_{denominator}",
        title="scale",
        notes=tuple(sorted(notes, key=lambda n: (n.onset, n.part))),
        bars=bar_list,
        boundaries=(Boundary(layout[len(layout) // 2][0], "section"),),
        part_names=("melody", "bass"),
        part_pitches=(66, 48),
        key_tonic=0,
        key_mode="major",
    )


def events(
    *, duration: float = 6.0, beat: float = 0.5, boundaries=(2.0, 4.03), drums=(), mode: str = "major"
) -> MusicEvents:
    """Music events at a steady beat (four to a bar), steady loudness, notes on every beat."""
    beats = tuple(round(i * beat, 6) for i in range(int(duration / beat)))
    return MusicEvents(
        duration=duration,
        bpm=60 / beat,
        beat_bpm=60 / beat,
        meter="4/4",
        key="C major",
        mode=mode,
        beats=beats,
        downbeats=beats[::4],
        onsets=tuple((t, 60 + i % 12, 80, 0) for i, t in enumerate(beats)),
        drums=tuple(drums),
        boundaries=tuple((t, "section") for t in boundaries),
        loudness_rate=20.0,
        loudness_db=tuple(-20.0 for _ in range(int(duration * 20))),
    )
