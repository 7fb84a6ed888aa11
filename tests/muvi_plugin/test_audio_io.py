"""Outputs: atomic WAV/FLAC, loudness normalisation, and the video copy with the music muxed in."""

import hashlib
from pathlib import Path

import av
import numpy as np
import pytest

from muvi_plugin.audio_io import PEAK_CEILING, mux_into_copy, normalize_loudness, write_audio
from muvi_plugin.errors import MuviError
from muvi_plugin.media import MediaError, probe
from tests import media_factory as mf
from tests.hosts import require

RATE = 24_000


def music(seconds: float = 2.0, *, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    wave = amplitude * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))
    return wave.astype(np.float32)


def decoded(path: Path) -> tuple[np.ndarray, int, str]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        frames = [f.to_ndarray() for f in container.decode(stream)]
        return np.concatenate(frames, axis=1), stream.rate, stream.codec_context.name


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


@pytest.mark.parametrize(("suffix", "codec"), [(".wav", "pcm_s16le"), (".flac", "flac")])
def test_wav_and_flac_round_trip(tmp_path, suffix, codec):
    audio = music(1.37)
    path = write_audio(tmp_path / f"out{suffix}", audio, RATE)
    samples, rate, found = decoded(path)
    assert (rate, found, samples.shape) == (RATE, codec, (1, len(audio)))
    back = samples[0].astype(np.float32) / 32768.0 if samples.dtype == np.int16 else samples[0]
    np.testing.assert_allclose(back, audio, atol=1.0 / 16384)  # 16-bit quantisation
    assert leftovers(tmp_path, {path.name}) == []  # the temporary file was renamed, not copied


def test_write_is_atomic_and_refuses_unknown_formats(tmp_path):
    with pytest.raises(MuviError, match=r"out\.mp3: unsupported audio format"):
        write_audio(tmp_path / "out.mp3", music(), RATE)
    with pytest.raises(MuviError, match="does not exist"):
        write_audio(tmp_path / "missing" / "out.wav", music(), RATE)
    with pytest.raises(MuviError, match="mono audio"):
        write_audio(tmp_path / "out.wav", np.zeros((2, 10), np.float32), RATE)
    existing = tmp_path / "keep.wav"
    write_audio(existing, music(0.5), RATE)
    before = sha256(existing)
    with pytest.raises(MuviError):  # an invalid rate fails inside the encoder: the old file survives
        write_audio(existing, music(0.5), 0)
    assert sha256(existing) == before
    assert leftovers(tmp_path, {"keep.wav"}) == []


def test_loudness_lands_on_the_target():
    pyloudnorm = require("pyloudnorm")
    meter = pyloudnorm.Meter(RATE)
    audio = music(3.0, amplitude=0.05)
    for target in (-16.0, -23.0):
        louder = normalize_loudness(audio, RATE, target)
        assert abs(meter.integrated_loudness(louder.astype(np.float64)) - target) < 0.5
        assert louder.dtype == np.float32 and louder.shape == audio.shape


def test_loudness_never_clips_and_leaves_silence_alone():
    spiky = np.zeros(RATE * 2, np.float32)
    spiky[::4800] = 0.5  # quiet on average, with peaks: -6 LUFS would push them far past full scale
    out = normalize_loudness(spiky, RATE, -6.0)
    assert np.max(np.abs(out)) == pytest.approx(PEAK_CEILING, rel=1e-5)
    silence = np.zeros(RATE, np.float32)
    np.testing.assert_array_equal(normalize_loudness(silence, RATE), silence)
    short = music(0.1)
    np.testing.assert_array_equal(normalize_loudness(short, RATE), short)


def packets(path: Path) -> list[tuple[bytes, float | None, float | None, bool]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [
            (
                bytes(p),
                None if p.pts is None else float(p.pts * p.time_base),
                None if p.dts is None else float(p.dts * p.time_base),
                p.is_keyframe,
            )
            for p in container.demux(stream)
            if p.size
        ]


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_mux_copies_the_picture_bit_for_bit_and_adds_the_music(tmp_path, suffix):
    source = mf.make_video(tmp_path / "in.mp4", seconds=3.0, audio="sine")  # its own sound is replaced
    before = sha256(source)
    audio = music(2.5)
    out = mux_into_copy(source, audio, RATE, tmp_path / f"copy{suffix}")
    assert sha256(source) == before
    assert packets(out) == packets(source)
    with av.open(str(out)) as container:
        assert [s.type for s in container.streams] == ["video", "audio"]
    samples, rate, codec = decoded(out)
    assert rate == RATE and codec == ("aac" if suffix == ".mp4" else "flac")
    # FLAC is exact; AAC decodes to whole 1024-sample frames, plus its priming frame where the container
    # does not trim it.
    assert 0 <= samples.shape[1] - len(audio) <= (2048 if codec == "aac" else 0)
    if suffix == ".mp4":  # mp4 states stream durations (Matroska only the file's)
        info = probe(out)
        assert info.audio_end - info.audio_start == pytest.approx(2.5, abs=0.05)
    assert leftovers(tmp_path, {"in.mp4", out.name}) == []


def test_mux_real_footage_with_the_music_at_the_range_start(tmp_path):
    source = Path(__file__).resolve().parents[2] / ".." / "shared" / "media" / "testvideo.mp4"
    before = sha256(source)
    out = mux_into_copy(source, music(10.5), RATE, tmp_path / "copy.mp4", start=3.0)
    assert sha256(source) == before
    assert packets(out) == packets(source)  # H.264 with B-frames: bytes, pts, dts and keyframes
    info = probe(out)
    assert info.audio_end - info.audio_start == pytest.approx(13.5, abs=0.05)  # 3 s of silence first
    samples, _, _ = decoded(out)
    assert np.max(np.abs(samples[0, : 2 * RATE])) < 1e-3 < np.max(np.abs(samples[0, 4 * RATE :]))


def test_mux_keeps_its_rotation(tmp_path):
    source = mf.make_video(tmp_path / "rotated.mp4", seconds=1.0, audio=None, rotation=90)
    out = mux_into_copy(source, music(1.0), RATE, tmp_path / "copy.mov", start=0.5)
    assert packets(out) == packets(source)
    info = probe(out)
    assert info.rotation == 90
    assert info.audio_end == pytest.approx(1.5, abs=0.05)  # silence until 0.5 s, then 1 s of music


def test_mux_errors_leave_nothing(tmp_path):
    audio_only = mf.make_audio_only(tmp_path / "sound.m4a")
    with pytest.raises(MediaError, match="no video stream"):
        mux_into_copy(audio_only, music(), RATE, tmp_path / "copy.mp4")
    source = mf.make_video(tmp_path / "in.mp4", seconds=1.0, audio=None)
    with pytest.raises(MuviError, match="overwrite the input"):
        mux_into_copy(source, music(), RATE, source.with_name("in.mp4"))
    with pytest.raises(MuviError, match="unsupported container"):
        mux_into_copy(source, music(), RATE, tmp_path / "copy.avi")
    with pytest.raises(MediaError, match="no such file|unreadable"):
        mux_into_copy(tmp_path / "nothing.mp4", music(), RATE, tmp_path / "copy.mp4")
    assert leftovers(tmp_path, {"sound.m4a", "in.mp4"}) == []
