"""One music clip: a corpus piece arranged, rendered with FluidSynth, and its events in seconds.

`render_music` is a pure function of (piece, duration, config, generator state): the same seed gives the
same MIDI file, byte-identical audio and identical events. The events are the ground truth the video is
drawn from and that evaluation can score against: beats, downbeats, note onsets with velocities, drum
hits, phrase/section boundaries and a loudness envelope of the rendered audio.

Times of events are the MIDI times FluidSynth plays; its audio starts each note a few milliseconds later
(one 64-sample block and the sample's attack), far below a video frame.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from muvi_plugin.constants import SAMPLE_RATE
from training.synthdata.arrange import Arrangement, arrange, choose_arrangement
from training.synthdata.corpus import PieceScore
from training.synthdata.drums import DRUM_KINDS
from training.synthdata.midi import DRUM_CHANNEL, Track, midi_bytes, seconds_to_ticks, ticks_to_seconds
from training.synthdata.render import DEFAULT_SOUNDFONT, loudness_envelope, normalise, render_midi
from training.synthdata.timeline import lay_out

_PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


@dataclass(frozen=True)
class MusicConfig:
    """How clips are rendered.

    Attributes:
        sample_rate: audio rate in Hz (the model's, MuVi Sec. 4.1).
        beat_bpm: tempo range, in the meter's beats per minute.
        quarter_bpm: the tempo in quarter notes is clipped to this range.
        transpose: largest transposition, semitones up or down.
        max_bars: bars of a piece kept (after its repeats are expanded).
        rms_db: range of the clip's loudness (RMS, dBFS) after normalisation.
        envelope_rate: loudness envelope values per second.
        soundfont: General MIDI SoundFont file.
        fluidsynth: the FluidSynth command.
        gain: FluidSynth's master gain (the clip is normalised afterwards; low enough not to clip).
    """

    sample_rate: int = SAMPLE_RATE
    beat_bpm: tuple[float, float] = (70.0, 160.0)
    quarter_bpm: tuple[float, float] = (50.0, 240.0)
    transpose: int = 5
    max_bars: int = 160
    rms_db: tuple[float, float] = (-22.0, -15.0)
    envelope_rate: float = 20.0
    soundfont: str = DEFAULT_SOUNDFONT
    fluidsynth: str = "fluidsynth"
    gain: float = 0.4

    def __post_init__(self) -> None:
        if not 0 < self.beat_bpm[0] <= self.beat_bpm[1] or not 0 < self.quarter_bpm[0] <= self.quarter_bpm[1]:
            raise ValueError(f"bad tempo ranges {self.beat_bpm}, {self.quarter_bpm}")
        if not 0 <= self.transpose <= 12:
            raise ValueError(f"transpose must be 0-12 semitones, got {self.transpose}")
        if self.sample_rate <= 0 or self.envelope_rate <= 0:
            raise ValueError("sample_rate and envelope_rate must be positive")


@dataclass(frozen=True)
class MusicEvents:
    """What happens in a clip, in seconds from its start.

    Attributes:
        duration: clip length.
        bpm: tempo in quarter notes per minute; beat_bpm: in the meter's beats.
        meter: time signature of the first full bar, e.g. "6/8".
        key: the (transposed) key, e.g. "A minor"; mode: "major" or "minor".
        beats, downbeats: beat and bar-start times.
        onsets: pitched notes as (time, MIDI pitch, velocity, track index).
        drums: drum hits as (time, kind, GM note, velocity); kind is kick/snare/hat/tom/crash.
        boundaries: (time, kind) of phrase/section starts; kind is "phrase" or "section".
        loudness_rate, loudness_db: RMS level of the audio, value k over [k, k + 1) / loudness_rate.
    """

    duration: float
    bpm: float
    beat_bpm: float
    meter: str
    key: str
    mode: str
    beats: tuple[float, ...]
    downbeats: tuple[float, ...]
    onsets: tuple[tuple[float, int, int, int], ...]
    drums: tuple[tuple[float, str, int, int], ...]
    boundaries: tuple[tuple[float, str], ...]
    loudness_rate: float
    loudness_db: tuple[float, ...] = field(repr=False)

    def to_json(self) -> dict:
        """A JSON-ready dict (tuples become lists)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> MusicEvents:
        """The events of a `to_json` dict."""

        def tuples(value):
            return tuple(tuples(v) for v in value) if isinstance(value, list) else value

        return cls(**{key: tuples(value) for key, value in data.items()})


@dataclass(frozen=True, eq=False)
class MusicClip:
    """A rendered clip.

    Attributes:
        audio: int16 mono samples, exactly duration * sample_rate of them.
        sample_rate: in Hz.
        events: see `MusicEvents`.
        arrangement: the rendering's tempo, transposition, ensemble and drum choices.
        instruments: per MIDI track, {"track", "channel", "program"}.
        offset: where the clip starts in the (looped) piece, in quarter notes.
        midi: the rendered Standard MIDI File.
    """

    audio: np.ndarray
    sample_rate: int
    events: MusicEvents
    arrangement: Arrangement
    instruments: tuple[dict, ...]
    offset: float
    midi: bytes


def render_music(
    piece: PieceScore, *, duration: float, config: MusicConfig, rng: np.random.Generator
) -> MusicClip:
    """Arrange and render `duration` seconds of `piece` (looped when shorter, a window when longer).

    Raises:
        RenderError: FluidSynth or the SoundFont is missing, or FluidSynth fails.
    """
    if duration <= 0:
        raise ValueError(f"duration must be positive, got {duration}")
    arrangement = choose_arrangement(
        piece, rng=rng, beat_bpm=config.beat_bpm, quarter_bpm=config.quarter_bpm, transpose=config.transpose
    )
    bpm = arrangement.bpm
    ticks = seconds_to_ticks(duration, bpm)
    timeline = lay_out(piece, ticks=ticks, rng=rng)
    tracks = arrange(piece, timeline, arrangement, rng=rng)
    # Tracks end half a second after the clip so FluidSynth renders all of it.
    midi = midi_bytes(tracks, bpm=bpm, end_tick=ticks + seconds_to_ticks(0.5, bpm))
    samples = round(duration * config.sample_rate)
    audio = render_midi(
        midi,
        samples=samples,
        sample_rate=config.sample_rate,
        soundfont=config.soundfont,
        executable=config.fluidsynth,
        gain=config.gain,
        reverb=bool(rng.random() < 0.8),
        chorus=bool(rng.random() < 0.5),
    )
    pcm = normalise(audio, rms_db=float(rng.uniform(*config.rms_db)))

    def seconds(tick: int) -> float:
        return round(ticks_to_seconds(tick, bpm), 6)

    first_bar = next((bar for bar in timeline.bars if not bar.pickup), timeline.bars[0])
    tonic = (piece.key_tonic + arrangement.transpose) % 12
    events = MusicEvents(
        duration=duration,
        bpm=round(bpm, 6),
        beat_bpm=round(arrangement.beat_bpm, 6),
        meter=f"{first_bar.numerator}/{first_bar.denominator}",
        key=f"{_PITCH_NAMES[tonic]} {piece.key_mode}",
        mode=piece.key_mode,
        beats=tuple(seconds(tick) for tick, _, _ in timeline.beats()),
        downbeats=tuple(seconds(tick) for tick in timeline.downbeats()),
        onsets=_onsets(tracks, seconds),
        drums=tuple(
            (seconds(n.start), DRUM_KINDS.get(n.pitch, "other"), n.pitch, n.velocity)
            for track in tracks
            if track.channel == DRUM_CHANNEL
            for n in track.notes
        ),
        boundaries=tuple((seconds(at), kind) for at, kind in timeline.boundaries),
        loudness_rate=config.envelope_rate,
        loudness_db=tuple(
            round(float(v), 2)
            for v in loudness_envelope(pcm, sample_rate=config.sample_rate, rate=config.envelope_rate)
        ),
    )
    instruments = tuple({"track": t.name, "channel": t.channel, "program": t.program} for t in tracks)
    return MusicClip(
        audio=pcm,
        sample_rate=config.sample_rate,
        events=events,
        arrangement=arrangement,
        instruments=instruments,
        offset=timeline.offset,
        midi=midi,
    )


def _onsets(tracks: tuple[Track, ...], seconds) -> tuple[tuple[float, int, int, int], ...]:
    onsets = [
        (seconds(note.start), note.pitch, note.velocity, index)
        for index, track in enumerate(tracks)
        if track.channel != DRUM_CHANNEL
        for note in track.notes
    ]
    return tuple(sorted(onsets))
