import numpy as np
import pytest

from tests.training.synthdata.factory import needs_fluidsynth, scale_piece
from training.synthdata.midi import PPQ, Note, Track, midi_bytes
from training.synthdata.music import MusicConfig, MusicEvents, render_music
from training.synthdata.render import RenderError, loudness_envelope, render_midi

pytestmark = needs_fluidsynth
RATE = 24_000


def test_fluidsynth_renders_a_score_at_24k_for_as_long_as_its_tempo_says():
    # Eight quarter notes on an organ (no release tail) at 96 bpm: 5 s of music.
    notes = tuple(Note(i * PPQ, PPQ - 20, 60 + 2 * i, 100) for i in range(8))
    midi = midi_bytes([Track("organ", 0, 19, notes)], bpm=96.0, end_tick=12 * PPQ)
    audio = render_midi(midi, samples=7 * RATE, sample_rate=RATE, reverb=False, chorus=False)
    assert audio.dtype == np.float32 and audio.shape == (7 * RATE,)
    level = loudness_envelope(audio, sample_rate=RATE, rate=20)
    playing = float(np.median(level[:100]))
    assert playing > -40 and level[:100].min() > playing - 12  # sounds throughout (bar the attack)
    ends = (int(np.nonzero(level > playing - 10)[0][-1]) + 1) / 20  # the end of the last loud window
    assert 5.0 <= ends <= 5.3  # the last note-off is at 8 quarters at 96 bpm (the organ then fades)
    assert level[130:].max() < playing - 40  # and then it dies away


def test_same_seed_same_audio_and_events():
    piece = scale_piece(4, 4, bars=4)
    config = MusicConfig()
    first, second, other = (
        render_music(piece, duration=4.0, config=config, rng=np.random.default_rng(seed))
        for seed in (3, 3, 4)
    )
    assert first.audio.dtype == np.int16 and first.audio.shape == (4 * RATE,)
    assert first.audio.tobytes() == second.audio.tobytes()
    assert first.midi == second.midi
    assert first.events == second.events and first.events.to_json() == second.events.to_json()
    assert first.audio.tobytes() != other.audio.tobytes()
    assert MusicEvents.from_json(first.events.to_json()) == first.events


def test_events_follow_the_tempo_and_the_meter():
    piece = scale_piece(3, 4, bars=4, pickup=1.0)
    clip = render_music(piece, duration=6.0, config=MusicConfig(), rng=np.random.default_rng(7))
    events = clip.events
    assert events.meter == "3/4" and events.duration == 6.0
    period = 60 / events.beat_bpm
    assert np.allclose(np.diff(events.beats), period, atol=1e-5)
    assert np.allclose(np.diff(events.downbeats), 3 * period, atol=1e-5)
    assert set(events.downbeats) <= set(events.beats)
    kicks = {time for time, kind, _, _ in events.drums if kind == "kick"}
    assert set(events.downbeats) <= kicks
    assert all(0 <= onset[0] < 6.0 and 1 <= onset[2] <= 127 for onset in events.onsets)
    assert events.key.split()[1] == "major" and abs(clip.arrangement.transpose) <= 5
    assert len(events.loudness_db) == 6 * 20 and max(events.loudness_db) > -40
    # The rendered audio is loud where the music is: its onsets are near the note onsets.
    assert np.abs(clip.audio).max() > 3000


def test_missing_fluidsynth_or_soundfont_is_a_clear_error(tmp_path):
    piece = scale_piece()
    with pytest.raises(RenderError, match="command not found"):
        render_music(
            piece,
            duration=1.0,
            config=MusicConfig(fluidsynth="no-such-fluidsynth"),
            rng=np.random.default_rng(0),
        )
    with pytest.raises(RenderError, match="SoundFont not found"):
        config = MusicConfig(soundfont=str(tmp_path / "missing.sf2"))
        render_music(piece, duration=1.0, config=config, rng=np.random.default_rng(0))
