import pickle
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from muvi_plugin import media
from muvi_plugin.media import MediaError, frame_count, probe, read_audio, read_video_frames
from tests import media_factory as mf

SHARED_MEDIA = Path(__file__).resolve().parents[2] / ".." / "shared" / "media"


def indices(frames: np.ndarray) -> list[int]:
    return [mf.frame_index(frame) for frame in frames]


def peak_frequency(wave: np.ndarray, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave)), n=8 * len(wave)))
    return float(np.argmax(spectrum) * sample_rate / (8 * len(wave)))


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    """2 s, 10 FPS pattern video with a 440 Hz stereo AAC soundtrack."""
    return mf.make_video(tmp_path_factory.mktemp("media") / "video.mp4")


def test_frame_count_rule():
    assert frame_count(13.5 - 3.0, 10) == 105
    assert frame_count(1.0, 10) == 10
    assert frame_count(0.95, 10) == 10  # a partial frame interval still starts a frame
    assert frame_count(1.0, 3) == 3
    assert frame_count(0.0, 10) == 0
    assert frame_count(-1.0, 10) == 0


def test_probe_reports_streams_and_geometry(video):
    info = probe(video)
    assert info.path == str(video)
    assert info.duration == pytest.approx(2.0, abs=0.03)
    assert info.has_video and info.has_audio
    assert (info.width, info.height) == (64, 48)
    assert (info.display_width, info.display_height) == (64, 48)
    assert info.rotation == 0 and info.sample_aspect_ratio == 1.0
    assert info.fps == pytest.approx(10.0)
    assert info.video_start == pytest.approx(0.0) and info.video_end == pytest.approx(2.0, abs=0.03)
    assert (info.sample_rate, info.channels) == (48_000, 2)


def test_frames_follow_presentation_times(video):
    frames = read_video_frames(video, start=0.5, end=1.5, fps=10, size=(64, 48))
    assert frames.shape == (10, 48, 64, 3) and frames.dtype == np.uint8
    assert indices(frames) == list(range(5, 15))
    # Above the source rate each picture repeats; below it, frames are the ones on screen at i / fps.
    assert indices(read_video_frames(video, start=0.5, end=1.0, fps=20, size=(64, 48))) == [
        5, 5, 6, 6, 7, 7, 8, 8, 9, 9
    ]  # fmt: skip
    assert indices(read_video_frames(video, start=0.25, end=1.1, fps=4, size=(64, 48))) == [2, 5, 7, 10]


def test_b_frames_and_seeking_in_a_long_h264_file(tmp_path):
    # A keyframe every 1.5 s: reading at 15 s seeks to one, then decodes B-frames in presentation order.
    path = mf.make_video(tmp_path / "long.mp4", seconds=20.0, audio=None, codec="libx264", gop=15)
    assert indices(read_video_frames(path, start=15.0, end=15.5, fps=10, size=(64, 48))) == [
        150, 151, 152, 153, 154
    ]  # fmt: skip
    assert indices(read_video_frames(path, start=0.0, end=0.3, fps=10, size=(64, 48))) == [0, 1, 2]


def test_variable_frame_rate_uses_the_frame_on_screen(tmp_path):
    times = [0.0, 0.1, 0.15, 0.5, 0.55, 0.9, 1.0, 1.23, 1.3, 1.31, 1.5, 1.6]
    path = mf.write_media(tmp_path / "vfr.mp4", frame_times=times)
    frames = read_video_frames(path, start=0.0, end=1.6, fps=10, size=(64, 48))
    expected = [int(np.searchsorted(times, t + 1e-9, side="right")) - 1 for t in np.arange(16) / 10]
    assert expected == [0, 1, 2, 2, 2, 3, 4, 4, 4, 5, 6, 6, 6, 8, 9, 10]
    assert indices(frames) == expected


@pytest.mark.parametrize(("rotation", "hflip"), [(90, False), (-90, False), (180, False), (0, True)])
def test_display_matrix_turns_the_picture_upright(tmp_path, rotation, hflip):
    coded = np.zeros((48, 64, 3), dtype=np.uint8)
    coded[:24, :32] = 255  # top-left quadrant of the coded picture
    path = mf.write_media(
        tmp_path / "rot.mp4", frame_times=[0.0, 0.1], frame=lambda _: coded, rotation=rotation, hflip=hflip
    )
    # PyAV's rotation is counter-clockwise, as np.rot90's.
    expected = np.rot90(coded, k=rotation // 90)
    if hflip:
        expected = expected[:, ::-1]
    info = probe(path)
    assert (info.rotation, info.mirrored) == (rotation % 360, hflip)
    assert (info.display_height, info.display_width) == expected.shape[:2]
    frames = read_video_frames(path, start=0.0, end=0.2, fps=10, size=(expected.shape[1], expected.shape[0]))
    assert np.abs(frames[0].astype(int) - expected).mean() < 8


def test_non_square_pixels_keep_shapes_round(tmp_path):
    # Pixels twice as wide as tall: a 12x24 coded block is a 24x24 square on screen.
    coded = np.zeros((48, 32, 3), dtype=np.uint8)
    coded[12:36, 10:22] = 255
    path = mf.write_media(
        tmp_path / "sar.mp4",
        frame_times=[0.0, 0.1],
        frame=lambda _: coded,
        size=(32, 48),
        sample_aspect_ratio=Fraction(2, 1),
    )
    info = probe(path)
    assert info.sample_aspect_ratio == 2.0
    assert (info.display_width, info.display_height) == (64, 48)
    frame = read_video_frames(path, start=0.0, end=0.1, fps=10, size=(48, 48))[0]
    bright = frame[..., 0] > 128
    width, height = bright.any(axis=0).sum(), bright.any(axis=1).sum()
    assert abs(width - 24) <= 2 and abs(height - 24) <= 2


def test_pad_letterboxes_and_crop_fills(video):
    padded = read_video_frames(video, start=0.0, end=0.1, fps=10, size=(48, 48), fit="pad")[0]
    # 64x48 shown at 48 wide is 36 tall: 6 black rows above and below.
    assert padded[:5].max() == 0 and padded[-5:].max() == 0
    assert padded[8:40].max() > 0
    cropped = read_video_frames(video, start=0.0, end=0.1, fps=10, size=(48, 48), fit="crop")[0]
    assert cropped[:5].max() > 0  # the top patches reach the top edge


def test_late_video_stream_shares_the_media_clock(tmp_path):
    path = mf.make_late_video(tmp_path / "late.mp4", video_start=1.0, seconds=3.0)
    info = probe(path)
    assert info.video_start == pytest.approx(1.0, abs=0.01)
    assert info.audio_start == pytest.approx(0.0, abs=0.01)
    assert indices(read_video_frames(path, start=1.0, end=2.0, fps=10, size=(64, 48))) == list(range(10))
    assert read_audio(path, start=0.0, end=1.0, sample_rate=24_000).shape == (24_000,)
    with pytest.raises(MediaError, match="outside the video stream"):
        read_video_frames(path, start=0.0, end=1.0, fps=10, size=(64, 48))


def test_audio_length_and_frequency_are_exact(video):
    wave = read_audio(video, start=0.5, end=1.7, sample_rate=24_000)
    assert wave.shape == (28_800,) and wave.dtype == np.float32
    assert peak_frequency(wave, 24_000) == pytest.approx(440.0, abs=1.0)
    # Mono is the channel average, not FFmpeg's +3 dB sum.
    assert np.abs(wave).max() == pytest.approx(0.5, abs=0.05)
    stereo = read_audio(video, start=0.1, end=0.4333, sample_rate=16_000, channels=2)
    assert stereo.shape == (2, round(0.3333 * 16_000))


def test_last_frame_repeats_only_within_the_tolerance(tmp_path):
    # Video frames 0-19 end at 2.0 s; the soundtrack runs to 2.3 s.
    path = mf.write_media(
        tmp_path / "end.mp4", frame_times=np.arange(20) / 10, audio=mf.sine(440, seconds=2.3)
    )
    assert probe(path).video_end == pytest.approx(2.0, abs=0.01)
    assert indices(read_video_frames(path, start=1.9, end=2.05, fps=10, size=(64, 48))) == [19, 19]
    with pytest.raises(MediaError, match=r"outside the video stream \(0\.0-2\.0 s\)"):
        read_video_frames(path, start=1.9, end=2.3, fps=10, size=(64, 48))


def test_audio_is_placed_on_the_media_clock(tmp_path):
    # Clicks at 0.25, 0.75, ... s in bit-exact PCM: reading from 0.6 s puts the next click at 0.15 s.
    path = mf.write_media(
        tmp_path / "clicks.mov",
        frame_times=np.arange(20) / 10,
        audio=mf.clicks([0.25, 0.75, 1.25, 1.75], seconds=2.0),
        audio_codec="pcm_s16le",
    )
    wave = read_audio(path, start=0.6, end=1.6, sample_rate=24_000)
    onsets = np.flatnonzero((np.abs(wave[1:]) > 0.3) & (np.abs(wave[:-1]) <= 0.3)) + 1
    assert len(onsets) == 2
    assert onsets / 24_000 == pytest.approx([0.15, 0.65], abs=0.001)


def test_audio_pads_a_hair_past_the_stream_end(tmp_path):
    path = mf.write_media(
        tmp_path / "short.mov",
        frame_times=np.arange(21) / 10,
        audio=mf.sine(440, seconds=2.0),
        audio_codec="pcm_s16le",
    )
    wave = read_audio(path, start=1.5, end=2.05, sample_rate=24_000)
    assert wave.shape == (13_200,)
    assert np.abs(wave[:11_000]).max() > 0.4
    assert np.abs(wave[-1_000:]).max() == 0.0  # the 50 ms past the audio is silence


def test_errors_name_the_file_and_the_problem(tmp_path, video):
    audio_only = mf.make_audio_only(tmp_path / "audio.m4a")
    silent = mf.make_video(tmp_path / "silent.mp4", audio=None)
    with pytest.raises(MediaError, match="no video stream") as caught:
        read_video_frames(audio_only, start=0.0, end=1.0, fps=10, size=(8, 8))
    assert caught.value.path == str(audio_only) and str(caught.value).startswith(str(audio_only))
    with pytest.raises(MediaError, match="no audio stream"):
        read_audio(silent, start=0.0, end=1.0, sample_rate=24_000)
    with pytest.raises(MediaError, match=r"range 12\.0-15\.0 s is outside the media \(duration 2\.0 s\)"):
        read_video_frames(video, start=12.0, end=15.0, fps=10, size=(8, 8))
    with pytest.raises(MediaError, match="outside the media"):
        read_audio(video, start=-1.0, end=1.0, sample_rate=24_000)
    for start, end in [(1.0, 1.0), (1.5, 1.0)]:
        with pytest.raises(MediaError, match="empty range"):
            read_video_frames(video, start=start, end=end, fps=10, size=(8, 8))
        with pytest.raises(MediaError, match="empty range"):
            read_audio(video, start=start, end=end, sample_rate=24_000)
    with pytest.raises(MediaError, match="no such file"):
        probe(tmp_path / "missing.mp4")
    with pytest.raises(ValueError, match="fit"):
        read_video_frames(video, start=0.0, end=1.0, fps=10, size=(8, 8), fit="stretch")


def test_truncated_and_corrupt_files_raise_media_errors(tmp_path):
    whole = mf.make_video(tmp_path / "whole.mp4", seconds=4.0)
    cut = mf.make_truncated(tmp_path / "cut.mp4", source=whole)  # index at the end: lost
    with pytest.raises(MediaError, match="unreadable or truncated file"):
        probe(cut)
    with pytest.raises(MediaError, match="unreadable or truncated file"):
        probe(mf.make_corrupt(tmp_path / "noise.mp4"))
    # Index first ("faststart"): the header promises 4 s, the data stops halfway.
    streamable = mf.make_video(
        tmp_path / "fast.mp4", seconds=4.0, container_options={"movflags": "faststart"}
    )
    half = mf.make_truncated(tmp_path / "half.mp4", source=streamable)
    assert probe(half).duration == pytest.approx(4.0, abs=0.03)
    assert indices(read_video_frames(half, start=0.0, end=0.5, fps=10, size=(64, 48))) == [0, 1, 2, 3, 4]
    with pytest.raises(MediaError, match="unreadable or truncated file"):
        read_video_frames(half, start=3.0, end=4.0, fps=10, size=(64, 48))
    with pytest.raises(MediaError, match="unreadable or truncated file"):
        read_audio(half, start=3.0, end=4.0, sample_rate=24_000)


def test_media_error_survives_pickling():
    error = pickle.loads(pickle.dumps(MediaError("/x.mp4", "no video stream")))
    assert (error.path, error.reason, str(error)) == ("/x.mp4", "no video stream", "/x.mp4: no video stream")


def test_runtime_module_does_not_import_torch():
    code = "import sys, muvi_plugin.media; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(media.__file__).parents[1])


@pytest.mark.skipif(not (SHARED_MEDIA / "testvideo.mp4").exists(), reason="shared media not present")
def test_real_h264_footage():
    path = SHARED_MEDIA / "testvideo.mp4"
    frames = read_video_frames(path, start=3.0, end=13.5, fps=10, size=(64, 36))
    assert frames.shape == (105, 36, 64, 3)
    assert np.abs(np.diff(frames.astype(np.int16), axis=0)).mean() > 1  # live action, not a still
    # Seeking straight to 5 s gives the same pictures as decoding through from 3 s.
    again = read_video_frames(path, start=5.0, end=6.0, fps=10, size=(64, 36))
    assert np.abs(again.astype(int) - frames[20:30]).max() <= 2


def test_frames_at_uneven_times_are_the_frames_on_screen(video, tmp_path):
    times = np.array([0.0, 0.05, 0.3, 0.3, 1.25, 1.9])
    frames = media.read_frames_at(video, times, size=mf.SIZE)
    assert indices(frames) == [0, 0, 3, 3, 12, 19]
    with pytest.raises(MediaError, match="outside the video stream"):
        media.read_frames_at(video, np.array([0.0, 60.0]), size=mf.SIZE)
    with pytest.raises(ValueError, match="non-decreasing"):
        media.read_frames_at(video, np.array([1.0, 0.5]), size=mf.SIZE)


def test_a_still_image_is_read_upright_at_size(tmp_path):
    still = mf.make_image(tmp_path / "still.png", index=37)
    assert mf.frame_index(media.read_image(still, size=mf.SIZE)) == 37
    assert media.read_image(still, size=(32, 32)).shape == (32, 32, 3)
    with pytest.raises(MediaError, match="no such file"):
        media.read_image(tmp_path / "none.png", size=mf.SIZE)


def _box_weights(count: int, low: float, length: float, bins: int) -> np.ndarray:
    """(bins, count): each output bin the average of the source pixels under [low, low + length) / bins."""
    edges = low + length * np.arange(bins + 1) / bins
    pixels = np.arange(count)
    overlap = np.minimum(edges[1:, None], pixels + 1) - np.maximum(edges[:-1, None], pixels)
    return np.clip(overlap, 0, None) / (length / bins)


def _reference_frame(path: Path, size: tuple[int, int], fit: str) -> np.ndarray:
    """The first frame as the module's docstring defines it, the slow way: the whole picture in RGB at full
    resolution, turned upright in numpy, then box-averaged to `size` (cropped centre or letterboxed)."""
    import av

    info = probe(path)
    with av.open(str(path)) as container:
        rgb = next(container.decode(video=0)).to_ndarray(format="rgb24").astype(np.float64)
    upright = np.rot90(rgb, k=info.rotation // 90)
    if info.mirrored:
        upright = upright[:, ::-1]
    sar = info.sample_aspect_ratio
    pixel_w, pixel_h = (1.0, sar) if info.rotation in (90, 270) else (sar, 1.0)
    rows, cols = upright.shape[:2]
    out_w, out_h = size
    shown_w, shown_h = cols * pixel_w, rows * pixel_h
    if fit == "crop":
        scale = max(out_w / shown_w, out_h / shown_h)
        keep_c, keep_r = out_w / scale / pixel_w, out_h / scale / pixel_h
        wx = _box_weights(cols, (cols - keep_c) / 2, keep_c, out_w)
        wy = _box_weights(rows, (rows - keep_r) / 2, keep_r, out_h)
        return np.einsum("ir,rcx,jc->ijx", wy, upright, wx)
    scale = min(out_w / shown_w, out_h / shown_h)
    inner_w, inner_h = round(shown_w * scale), round(shown_h * scale)
    out = np.zeros((out_h, out_w, 3))
    top, left = (out_h - inner_h) // 2, (out_w - inner_w) // 2
    out[top : top + inner_h, left : left + inner_w] = np.einsum(
        "ir,rcx,jc->ijx", _box_weights(rows, 0, rows, inner_h), upright, _box_weights(cols, 0, cols, inner_w)
    )
    return out


@pytest.mark.parametrize(
    ("coded", "rotation", "hflip", "sar", "size", "fit"),
    [
        ((160, 90), 0, False, None, (48, 48), "crop"),  # 16:9 footage to the model's square
        ((160, 90), 90, False, None, (48, 48), "crop"),
        ((120, 90), 270, True, Fraction(4, 3), (48, 48), "crop"),  # anamorphic, rotated and mirrored
        ((96, 128), 0, False, Fraction(2, 1), (40, 64), "crop"),
        ((160, 90), 0, False, None, (64, 48), "pad"),
        ((160, 90), 90, False, None, (48, 64), "pad"),
    ],
)
def test_frames_match_a_full_resolution_reference(tmp_path, coded, rotation, hflip, sar, size, fit):
    # Smooth and asymmetric: the filters agree on it within a few levels, a wrong turn or crop does not.
    x = np.linspace(0.0, 1.0, coded[0])[None, :]
    y = np.linspace(0.0, 1.0, coded[1])[:, None]
    picture = (
        np.stack(
            np.broadcast_arrays(255 * x, 255 * y**1.5, 128 + 100 * np.sin(2.5 * x + 1.5 * y) * np.cos(3 * y)),
            axis=-1,
        )
        .round()
        .astype(np.uint8)
    )
    path = mf.write_media(
        tmp_path / "ref.mp4",
        frame_times=[0.0, 0.1],
        frame=lambda _: picture,
        size=coded,
        rotation=rotation,
        hflip=hflip,
        sample_aspect_ratio=sar,
    )
    got = read_video_frames(path, start=0.0, end=0.1, fps=10, size=size, fit=fit)[0].astype(np.float64)
    expected = _reference_frame(path, size, fit)
    assert got.shape == expected.shape
    assert np.abs(got - expected).mean() < 2.5
    assert np.abs(got - expected).max() < 24
    # The measure sees a mistake: the same reference upside down or mirrored is far off.
    assert np.abs(got - expected[::-1]).mean() > 15 and np.abs(got - expected[:, ::-1]).mean() > 15


def test_unseen_non_reference_pictures_are_not_decoded(tmp_path, monkeypatch):
    # x264's B-frames that no picture refers to: at 10 of 30 FPS most are never shown and are left out;
    # the frames read are exactly those read with every picture decoded.
    path = mf.make_video(tmp_path / "b.mp4", seconds=4.0, fps=30.0, audio=None, codec="libx264", gop=30)
    passed: list[int] = []
    dropping = media._unseen_dropped

    def counting(packets, stream, **kwargs):
        for packet in dropping(packets, stream, **kwargs):
            passed.append(packet.size)
            yield packet

    monkeypatch.setattr(media, "_unseen_dropped", counting)
    frames = read_video_frames(path, start=0.5, end=3.5, fps=10, size=(64, 48))
    assert indices(frames) == list(range(15, 105, 3))
    kept = len([size for size in passed if size])
    monkeypatch.setattr(media, "_unseen_dropped", lambda packets, stream, **_: packets)
    assert np.array_equal(frames, read_video_frames(path, start=0.5, end=3.5, fps=10, size=(64, 48)))
    import av

    with av.open(str(path)) as container:
        total = sum(1 for packet in container.demux(video=0) if packet.size)
    assert kept < total - 30  # a good share of the 120 pictures was never decoded
