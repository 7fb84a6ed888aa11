"""A simple accompaniment for single-line tunes: a bass line and chords under the melody.

Fiddle tunes and folk songs are one melody; alone with drums they sound thin and carry no harmony for a
model to learn. Each half bar (or bar) gets the diatonic triad that best covers the melody's notes there,
weighted by how long they sound and whether they fall on a beat, the way a folk accompanist plays.
"""

from __future__ import annotations

import numpy as np

from training.synthdata.midi import Note
from training.synthdata.timeline import TimedNote, Timeline

# Diatonic triads as (root above the tonic, third: 4 major / 3 minor), most common first (ties go to them).
_TRIADS = {
    "major": ((0, 4), (7, 4), (5, 4), (9, 3), (2, 3), (4, 3)),
    "minor": ((0, 3), (7, 4), (5, 3), (3, 4), (8, 4), (10, 4)),
}
BASS_STYLES = ("roots", "root_fifth", "walking")
CHORD_STYLES = ("sustained", "beats", "arpeggio")


def accompaniment(
    timeline: Timeline,
    melody: tuple[TimedNote, ...],
    *,
    tonic: int,
    mode: str,
    bass_style: str,
    chord_style: str,
) -> tuple[tuple[Note, ...], tuple[Note, ...]]:
    """(bass notes, chord notes) under `melody`, with velocity 0 placeholders the arranger fills in.

    Args:
        timeline: the clip's bars.
        melody: the (transposed) melody notes.
        tonic: pitch class of the (transposed) key's tonic.
        mode: "major" or "minor".
        bass_style: one of `BASS_STYLES`.
        chord_style: one of `CHORD_STYLES`.
    """
    if bass_style not in BASS_STYLES or chord_style not in CHORD_STYLES:
        raise ValueError(f"unknown accompaniment style {bass_style!r}/{chord_style!r}")
    starts = np.array([n.start for n in melody], dtype=np.int64)
    ends = starts + np.array([n.length for n in melody], dtype=np.int64)
    classes = np.array([n.pitch % 12 for n in melody], dtype=np.int64)
    bass, chords = [], []
    previous = (tonic, 4 if mode == "major" else 3)
    voicing = None
    for bar in timeline.bars:
        beats = bar.beats()
        if not beats:
            continue
        halves = (
            [beats]
            if len(beats) < 4 or len(beats) % 2
            else [beats[: len(beats) // 2], beats[len(beats) // 2 :]]
        )
        for group_index, group in enumerate(halves):
            span_start = group[0][0] if group_index else bar.start
            span_end = (
                halves[group_index + 1][0][0] if group_index + 1 < len(halves) else bar.start + bar.length
            )
            beat_ticks = {tick for tick, _ in group}
            weights = np.zeros(12)
            overlap = np.clip(np.minimum(ends, span_end) - np.maximum(starts, span_start), 0, None)
            np.add.at(weights, classes, overlap * np.where(np.isin(starts, list(beat_ticks)), 1.5, 1.0))
            chord = _best_triad(weights, tonic=tonic, mode=mode, previous=previous)
            previous = chord
            root, third = chord
            bass.extend(_bass(group, span_end, root=root, style=bass_style))
            voicing = _voice(root, third, voicing)
            chords.extend(_chords(group, span_end, voicing, style=chord_style, meter=bar.meter))
    return tuple(bass), tuple(chords)


def _best_triad(weights: np.ndarray, *, tonic: int, mode: str, previous: tuple[int, int]) -> tuple[int, int]:
    if weights.sum() == 0:
        return previous
    best, best_score = previous, -1.0
    for offset, third in _TRIADS[mode]:
        root = (tonic + offset) % 12
        chord = (root, third)
        score = weights[root] + weights[(root + third) % 12] + weights[(root + 7) % 12]
        score += 0.1 * weights.sum() * (chord == previous)  # keep a chord rather than flicker
        if score > best_score + 1e-9:
            best, best_score = chord, score
    return best


def _bass(group: list[tuple[int, int]], span_end: int, *, root: int, style: str) -> list[Note]:
    low = 36 + (root - 36) % 12  # C2..B2
    notes = []
    for index, (tick, _) in enumerate(group):
        end = group[index + 1][0] if index + 1 < len(group) else span_end
        if style == "roots":
            if index:
                continue
            end = span_end
            pitch = low
        elif style == "root_fifth":
            pitch = low if index % 2 == 0 else low + 7
        else:
            pitch = (low, low + 7, low + 12, low + 7)[index % 4]
        notes.append(Note(tick, max(end - tick - 10, 1), pitch, 0))
    return notes


def _voice(root: int, third: int, previous: tuple[int, ...] | None) -> tuple[int, ...]:
    """The inversion of the triad, around middle C, nearest to the previous voicing."""
    classes = [root, (root + third) % 12, (root + 7) % 12]
    candidates = []
    for bottom in range(3):
        pitches, last = [], 52
        for pitch_class in classes[bottom:] + classes[:bottom]:
            pitch = last + (pitch_class - last) % 12
            pitches.append(pitch)
            last = pitch + 1
        candidates.append(tuple(pitches))
    if previous is None:
        return candidates[0]
    return min(candidates, key=lambda chord: sum(abs(a - b) for a, b in zip(chord, previous, strict=True)))


def _chords(group, span_end: int, voicing: tuple[int, ...], *, style: str, meter) -> list[Note]:
    notes = []
    if style == "sustained":
        start = group[0][0]
        return [Note(start, max(span_end - start - 10, 1), pitch, 0) for pitch in voicing]
    for index, (tick, _) in enumerate(group):
        end = group[index + 1][0] if index + 1 < len(group) else span_end
        if style == "beats":
            notes.extend(Note(tick, max((end - tick) * 3 // 4, 1), pitch, 0) for pitch in voicing)
        else:
            step = max((end - tick) // meter.subdivisions, 1)
            for sub in range(meter.subdivisions):
                pitch = voicing[(index * meter.subdivisions + sub) % len(voicing)]
                notes.append(Note(tick + sub * step, step, pitch, 0))
    return notes
