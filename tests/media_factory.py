"""Small test media rendered with PyAV: known pictures at known times, known sounds.

Frames made by `pattern_frame` carry their index: the top half is two flat grey patches coding the index
(robust to lossy codecs and YUV round trips), the bottom half a white square moving to the right, so
`frame_index` tells which source frame a decoded picture is. Times are seconds; sizes are (width, height).

Every writer returns the path it wrote. Defaults are tiny (64x48, 10 FPS, 48 kHz AAC) to keep tests fast.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

SIZE = (64, 48)
AUDIO_RATE = 48_000
_LEVELS = 16  # grey levels per patch: two patches code indices 0..255
_VIDEO_TIME_BASE = Fraction(1, 1000)


def pattern_frame(index: int, *, size: tuple[int, int] = SIZE) -> np.ndarray:
    """RGB uint8 (height, width, 3) picture coding `index` (0-255) with a moving square below."""
    if not 0 <= index < _LEVELS * _LEVELS:
        raise ValueError(f"index must be in [0, {_LEVELS * _LEVELS}), got {index}")
    width, height = size
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    frame[: height // 2, : width // 2] = _level(index % _LEVELS)
    frame[: height // 2, width // 2 :] = _level(index // _LEVELS)
    side = max(2, height // 6)
    x = (index * 3) % max(1, width - side)
    y = height // 2 + (height // 2 - side) // 2
    frame[y : y + side, x : x + side] = 255
    return frame


def frame_index(frame: np.ndarray) -> int:
    """The index coded by `pattern_frame`, read from the centres of the two top patches."""
    height, width = frame.shape[:2]
    rows = slice(height // 8, 3 * height // 8)
    low = np.median(frame[rows, width // 8 : 3 * width // 8])
    high = np.median(frame[rows, 5 * width // 8 : 7 * width // 8])
    return _unlevel(low) + _LEVELS * _unlevel(high)


def sine(
    frequency: float, *, seconds: float, sample_rate: int = AUDIO_RATE, channels: int = 2, amplitude=0.5
) -> np.ndarray:
    """float32 (channels, samples) sine, the same on every channel."""
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    wave = (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
    return np.repeat(wave[None], channels, axis=0)


def clicks(
    times: Sequence[float] | np.ndarray, *, seconds: float, sample_rate: int = AUDIO_RATE, channels: int = 2
) -> np.ndarray:
    """float32 (channels, samples) silence with a 2 ms full-scale burst starting at each time."""
    wave = np.zeros((channels, round(seconds * sample_rate)), dtype=np.float32)
    width = round(0.002 * sample_rate)
    for time in times:
        at = round(time * sample_rate)
        wave[:, at : at + width] = 0.9
    return wave


def write_media(
    path: Path,
    *,
    frame_times: Sequence[float] | np.ndarray | None = None,
    frame: Callable[[int], np.ndarray] | None = None,
    size: tuple[int, int] = SIZE,
    codec: str = "mpeg4",
    rate: int = 10,
    gop: int | None = None,
    rotation: int = 0,
    hflip: bool = False,
    sample_aspect_ratio: Fraction | None = None,
    audio: np.ndarray | None = None,
    audio_rate: int = AUDIO_RATE,
    audio_codec: str = "aac",
    audio_start: float = 0.0,
    container_format: str | None = None,
    container_options: dict[str, str] | None = None,
) -> Path:
    """Write a file with an optional video stream and an optional audio stream.

    Args:
        path: output file; the extension picks the container unless `container_format` is given.
        frame_times: presentation time of each video frame in seconds (None: no video stream).
        frame: index -> RGB uint8 (height, width, 3) picture; `pattern_frame` by default.
        size: coded (width, height); with `sample_aspect_ratio` the shown width differs.
        codec: video codec ("mpeg4" is fast and exact enough; "libx264" has B-frames).
        rate: nominal frame rate written in the header (frame times may deviate from it: VFR).
        gop: frames between keyframes (the codec's default when None).
        rotation: counter-clockwise display rotation in degrees (display matrix side data).
        hflip: mirror horizontally after the rotation.
        sample_aspect_ratio: pixel aspect ratio, e.g. Fraction(2, 1) for pixels twice as wide as tall.
        audio: float32 (channels, samples) at `audio_rate` (None: no audio stream).
        audio_rate: audio sample rate in Hz.
        audio_codec: audio codec ("aac", "pcm_s16le" for bit-exact timing).
        audio_start: time of the first audio sample in seconds.
        container_format: FFmpeg muxer name when the extension is not enough.
        container_options: muxer options, e.g. {"movflags": "faststart"} (index before the data).
    """
    path = Path(path)
    frame = frame or (lambda index: pattern_frame(index, size=size))
    with av.open(str(path), "w", format=container_format, options=container_options) as container:
        video: Any = None  # PyAV types add_stream() as any kind of stream
        if frame_times is not None:
            video = container.add_stream(codec, rate=rate)
            video.width, video.height = size
            video.pix_fmt = "yuv420p"
            video.time_base = _VIDEO_TIME_BASE
            video.codec_context.time_base = _VIDEO_TIME_BASE
            video.bit_rate = 4_000_000  # near-lossless at these sizes: patch levels survive
            if gop is not None:
                video.gop_size = gop
            if sample_aspect_ratio is not None:
                video.codec_context.sample_aspect_ratio = sample_aspect_ratio
            if rotation or hflip:
                video.set_display_rotation(rotation, hflip=hflip)
        sound: Any = None
        if audio is not None:
            layout = "mono" if audio.shape[0] == 1 else "stereo"
            sound = container.add_stream(audio_codec, rate=audio_rate, layout=layout)
        if video is not None and frame_times is not None:
            for index, time in enumerate(frame_times):
                picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame(index)), format="rgb24")
                picture.pts = round(time / _VIDEO_TIME_BASE)
                picture.time_base = _VIDEO_TIME_BASE
                container.mux(video.encode(picture))
            container.mux(video.encode())
        if sound is not None and audio is not None:
            _write_audio(container, sound, audio, audio_rate=audio_rate, audio_start=audio_start)
    return path


def make_video(
    path: Path,
    *,
    seconds: float = 2.0,
    fps: float = 10.0,
    audio: str | None = "sine",
    frequency: float = 440.0,
    **kwargs,
) -> Path:
    """A constant frame rate pattern video, with a sine soundtrack by default ("sine", "clicks", None)."""
    times = np.arange(round(seconds * fps)) / fps
    wave = None
    if audio == "sine":
        wave = sine(frequency, seconds=seconds)
    elif audio == "clicks":
        wave = clicks(np.arange(0.25, seconds, 0.5), seconds=seconds)
    return write_media(path, frame_times=times, rate=round(fps), audio=wave, **kwargs)


def make_late_video(path: Path, *, video_start: float = 1.0, seconds: float = 3.0) -> Path:
    """Audio from 0 s, video frames (pattern 0, 1, ...) at 10 FPS from `video_start` to `seconds`."""
    times = video_start + np.arange(round((seconds - video_start) * 10)) / 10
    return write_media(path, frame_times=times, audio=sine(440.0, seconds=seconds))


def make_image(path: Path, *, index: int = 0, size: tuple[int, int] = SIZE) -> Path:
    """A still picture (`pattern_frame(index)`) in the format the extension names (.png, .jpg, ...)."""
    with av.open(str(path), "w", format="image2") as container:
        codec = {".jpg": "mjpeg", ".jpeg": "mjpeg"}.get(Path(path).suffix.lower(), "png")
        stream: Any = container.add_stream(codec, rate=1)
        stream.width, stream.height = size
        stream.pix_fmt = "rgb24" if codec == "png" else "yuvj420p"
        picture = av.VideoFrame.from_ndarray(pattern_frame(index, size=size), format="rgb24")
        container.mux(stream.encode(picture.reformat(format=stream.pix_fmt)))
        container.mux(stream.encode())
    return Path(path)


def make_audio_only(path: Path, *, seconds: float = 2.0, frequency: float = 440.0) -> Path:
    return write_media(path, audio=sine(frequency, seconds=seconds))


def make_truncated(path: Path, *, source: Path, keep: float = 0.5) -> Path:
    """The first `keep` fraction of `source`'s bytes, as a download cut short would leave it."""
    data = Path(source).read_bytes()
    Path(path).write_bytes(data[: int(len(data) * keep)])
    return Path(path)


def make_corrupt(path: Path, *, size: int = 4096, seed: int = 0) -> Path:
    """Random bytes under a media file name."""
    Path(path).write_bytes(np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes())
    return Path(path)


def _write_audio(container, stream, audio: np.ndarray, *, audio_rate: int, audio_start: float) -> None:
    layout = "mono" if audio.shape[0] == 1 else "stereo"
    offset = round(audio_start * audio_rate)
    chunk = 1024
    for at in range(0, audio.shape[1], chunk):
        block = np.ascontiguousarray(audio[:, at : at + chunk], dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
        frame.sample_rate = audio_rate
        frame.pts = offset + at
        frame.time_base = Fraction(1, audio_rate)
        container.mux(stream.encode(frame))
    container.mux(stream.encode())


def _level(code: int) -> int:
    return code * (256 // _LEVELS) + 8


def _unlevel(value: float) -> int:
    return int(np.clip(round((value - 8) / (256 // _LEVELS)), 0, _LEVELS - 1))
