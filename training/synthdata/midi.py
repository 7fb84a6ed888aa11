"""A minimal Standard MIDI File (format 1) writer: exactly what the renderer needs, byte-for-byte stable.

Times are ticks at `PPQ` ticks per quarter note under one constant tempo, so a tick converts to seconds
as `ticks * 60 / (PPQ * bpm)`: the event lists of a rendering use the same conversion and therefore land
on the samples FluidSynth plays.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

PPQ = 960  # ticks per quarter note: divisible by 2, 3, 4, 5, 8, so common tuplets are exact
DRUM_CHANNEL = 9  # General MIDI percussion (channel 10, counted from 1)


@dataclass(frozen=True)
class Note:
    """One note: start and length in ticks, MIDI pitch 0-127, velocity 1-127."""

    start: int
    length: int
    pitch: int
    velocity: int


@dataclass(frozen=True)
class Track:
    """One MIDI track on one channel, with its General MIDI program (0-based; the kit on channel 10)."""

    name: str
    channel: int
    program: int
    notes: tuple[Note, ...]
    volume: int = 100  # controller 7


def ticks_to_seconds(ticks: int | float, bpm: float) -> float:
    """Seconds at `ticks` under a constant tempo of `bpm` quarter notes per minute."""
    return ticks * 60.0 / (PPQ * bpm)


def seconds_to_ticks(seconds: float, bpm: float) -> int:
    """The tick nearest to `seconds` under a constant tempo of `bpm` quarter notes per minute."""
    return round(seconds * PPQ * bpm / 60.0)


def midi_bytes(tracks: Sequence[Track], *, bpm: float, end_tick: int) -> bytes:
    """A format-1 MIDI file: a tempo track, then one track per `Track`, each ending at `end_tick`.

    Args:
        tracks: the instrument tracks (at most 16 channels in all).
        bpm: the constant tempo, quarter notes per minute.
        end_tick: where every track ends; FluidSynth renders until the last end of track, so this sets
            the rendered length even when the music stops earlier.
    """
    if not 0 < bpm < 1000:
        raise ValueError(f"tempo must be between 0 and 1000 bpm, got {bpm}")
    tempo = round(60_000_000 / bpm)  # microseconds per quarter note
    tempo_events = [(0, 0, b"\xff\x51\x03" + tempo.to_bytes(3, "big"))]
    chunks = [_track_chunk(tempo_events, end_tick)]
    for track in tracks:
        if not 0 <= track.channel < 16:
            raise ValueError(f"track {track.name!r}: channel {track.channel} is not 0-15")
        chunks.append(_track_chunk(_track_events(track), end_tick))
    header = b"MThd" + struct.pack(">IHHH", 6, 1, len(chunks), PPQ)
    return header + b"".join(chunks)


def _track_events(track: Track) -> list[tuple[int, int, bytes]]:
    channel = track.channel
    name = track.name.encode("ascii", "replace")[:64]
    events = [
        (0, 0, b"\xff\x03" + _varlen(len(name)) + name),
        (0, 1, bytes([0xC0 | channel, track.program & 0x7F])),
        (0, 1, bytes([0xB0 | channel, 7, track.volume & 0x7F])),
    ]
    for note in track.notes:
        pitch, velocity = note.pitch & 0x7F, max(1, min(127, note.velocity))
        # Sort key 0 puts note-offs before note-ons at the same tick, so a repeated pitch re-sounds.
        events.append((note.start + max(note.length, 1), 0, bytes([0x80 | channel, pitch, 0])))
        events.append((note.start, 2, bytes([0x90 | channel, pitch, velocity])))
    return events


def _track_chunk(events: list[tuple[int, int, bytes]], end_tick: int) -> bytes:
    body = bytearray()
    now = 0
    for tick, _, data in sorted(events, key=lambda event: (event[0], event[1], event[2])):
        body += _varlen(tick - now) + data
        now = tick
    body += _varlen(max(end_tick - now, 0)) + b"\xff\x2f\x00"
    return b"MTrk" + struct.pack(">I", len(body)) + bytes(body)


def _varlen(value: int) -> bytes:
    if value < 0:
        raise ValueError(f"negative delta time {value}")
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))
