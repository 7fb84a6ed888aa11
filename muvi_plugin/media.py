"""Decode video frames and audio with PyAV (runtime code: numpy and av only, never torch).

Conventions shared by every function here:

- **One clock.** Times are seconds from the start of the media, i.e. from the container's start time (the
  earliest stream start). Audio and video of one file therefore share one clock, even when one stream
  starts late, and a range means the same moment in both readers.
- **Frame rule.** Output frame ``i`` of a range starting at ``start`` shows the picture on screen at
  ``start + i / fps``: the last decoded frame whose presentation timestamp is at or before that time. This
  is exact for variable frame rate files. A range ``[start, end)`` has ``frame_count(end - start, fps)``
  frames, and ``round((end - start) * sample_rate)`` audio samples.
- **Geometry.** Pictures are shown as a player would: the sample (pixel) aspect ratio is applied, then the
  display matrix (rotation and mirroring), then the picture is scaled to the requested size keeping its
  proportions, either centre-cropped to fill it (``fit="crop"``, the default: the visual encoders are
  trained on full frames, and black bars would read as content) or letterboxed (``fit="pad"``). Only the
  frames shown at the requested times are converted, each in one libswscale call straight to the output
  size (BILINEAR filter; with ``fit="crop"`` only the kept centre of a 4:2:0 picture), never a
  full-resolution RGB picture (`_upright_rgb`). In H.264 files, pictures that are neither shown nor
  referred to by another picture are not decoded at all (`_unseen_dropped`); the frames are the same.
- **Tolerance.** A range may overrun the media or a stream by up to ``TOLERANCE`` seconds (containers
  disagree by a frame or an audio packet about where streams end); that margin repeats the last (or
  first) video frame, or is silence. Anything beyond it is a ``MediaError``.

Memory stays bounded by the output: decoding seeks to the keyframe before ``start`` and converts frames
one at a time.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
import numpy as np
from av.sidedata.sidedata import SideDataContainer
from av.video.reformatter import VideoReformatter

from muvi_plugin.errors import MuviError
from muvi_plugin.guard import input_problem

TOLERANCE = 0.1  # seconds a range may overrun the media or a stream (one frame at 10 FPS)
# Audio sample rates muvi reads. A corrupt header can claim 2 Hz: resampled to 24 kHz, each of its samples
# becomes 12,000, and a 7 KB file took 657 MB (found by fuzzing).
AUDIO_RATES = (1000, 768_000)
FITS = ("crop", "pad")
# Timestamps this close count as equal: Matroska stores milliseconds, so a frame meant for exactly t
# may be stored a hair late.
_PTS_EPS = 1e-3
_PREROLL = 0.2  # seconds of audio decoded before `start` and dropped


class MediaError(MuviError):
    """A media file cannot give what was asked of it.

    Attributes:
        path: the file, as given.
        reason: what is wrong, without the path.
    """

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):
        # Exceptions pickle their args; ours has two (DataLoader workers send errors across processes).
        return (type(self), (self.path, self.reason))


@dataclass(frozen=True)
class MediaInfo:
    """What `probe` found. Stream fields are 0 when that stream is absent.

    Attributes:
        path: the file.
        duration: seconds from the media start to its end.
        has_video: a video stream exists (cover art in music files does not count).
        has_audio: an audio stream exists.
        width: coded picture width in pixels.
        height: coded picture height in pixels.
        display_width: width as shown, after the pixel aspect ratio and rotation.
        display_height: height as shown, after the pixel aspect ratio and rotation.
        rotation: counter-clockwise rotation applied for display, one of 0, 90, 180, 270 degrees.
        mirrored: the picture is also mirrored left-right, after the rotation.
        sample_aspect_ratio: pixel width / pixel height (1.0 for square pixels).
        fps: average frame rate (0.0 when the container does not say).
        video_start: first video frame time in seconds (late-starting streams have it > 0).
        video_end: end of the video stream in seconds.
        audio_start: first audio sample time in seconds.
        audio_end: end of the audio stream in seconds.
        sample_rate: audio sample rate in Hz.
        channels: audio channel count.
    """

    path: str
    duration: float
    has_video: bool
    has_audio: bool
    width: int = 0
    height: int = 0
    display_width: int = 0
    display_height: int = 0
    rotation: int = 0
    mirrored: bool = False
    sample_aspect_ratio: float = 1.0
    fps: float = 0.0
    video_start: float = 0.0
    video_end: float = 0.0
    audio_start: float = 0.0
    audio_end: float = 0.0
    sample_rate: int = 0
    channels: int = 0


def frame_count(duration: float, fps: float) -> int:
    """Number of frames in a range of `duration` seconds sampled at `fps`.

    Frame i samples time start + i / fps, for every such time before the end of the range; the 1e-6 keeps
    float error from adding a frame (3.0-13.5 s at 10 FPS is 105 frames, not 106).
    """
    return max(0, math.ceil(duration * fps - 1e-6))


def probe(path: str | os.PathLike) -> MediaInfo:
    """Read a file's streams and geometry (decodes one video frame for its display matrix).

    Raises:
        MediaError: the file is missing, unreadable or truncated, or has no decodable video frame.
    """
    with _open(path) as container:
        origin = _origin(container)
        duration = _duration(path, container, origin)
        fields: dict = {"path": os.fspath(path), "duration": duration}
        video = _video_stream(container)
        audio = _audio_stream(container)
        fields["has_video"] = video is not None
        fields["has_audio"] = audio is not None
        if video is not None:
            fields["video_start"], fields["video_end"] = _stream_span(video, origin, duration)
            first = next(iter(container.decode(video)), None)
            if first is None:
                raise MediaError(path, "unreadable or truncated file (no decodable video frame)")
            sar = _sample_aspect_ratio(video)
            orientation = _orientation(first)
            shown = (max(1, round(first.width * sar)), first.height)
            fields["display_width"], fields["display_height"] = shown[::-1] if orientation[0] else shown
            fields["rotation"], fields["mirrored"] = _ROTATIONS[orientation]
            fields.update(
                width=first.width,
                height=first.height,
                sample_aspect_ratio=sar,
                fps=float(video.average_rate or video.guessed_rate or 0.0),
            )
        if audio is not None:
            fields["audio_start"], fields["audio_end"] = _stream_span(audio, origin, duration)
            fields["sample_rate"] = audio.rate or 0
            fields["channels"] = audio.channels or 0
    return MediaInfo(**fields)


def read_video_frames(
    path: str | os.PathLike,
    *,
    start: float,
    end: float,
    fps: float,
    size: tuple[int, int],
    fit: str = "crop",
) -> np.ndarray:
    """Decode the frames of [start, end) at `fps`, upright and scaled to `size`.

    Args:
        path: the media file.
        start: range start in seconds from the media start.
        end: range end (exclusive) in seconds.
        fps: output frame rate; frame i shows the picture on screen at start + i / fps.
        size: output (width, height) in pixels.
        fit: "crop" (centre-crop to fill `size`) or "pad" (letterbox with black).

    Returns:
        uint8 array (n, height, width, 3), RGB, n = frame_count(end - start, fps).

    Raises:
        MediaError: no video stream, an empty range, a range outside the media or its video stream, or an
            unreadable or truncated file.
    """
    width, height = _check_size(size)
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, got {fit!r}")
    n = frame_count(end - start, fps)
    if n == 0:
        raise MediaError(path, f"empty range {_interval(start, end)}")
    times = start + np.arange(n) / fps
    return _decode_at(
        path,
        times,
        size=(width, height),
        fit=fit,
        what=f"range {_interval(start, end)} is",
        within=(start, end),
    )


def read_frames_at(
    path: str | os.PathLike, times: np.ndarray, *, size: tuple[int, int], fit: str = "crop"
) -> np.ndarray:
    """The frames on screen at arbitrary `times` (seconds from the media start, non-decreasing).

    `read_video_frames` for times that are not evenly spaced (a timeline's frames sampled at another rate,
    a speed change): only the frames shown are converted, and the file is decoded once, forward.

    Returns:
        uint8 array (len(times), height, width, 3), RGB, upright, scaled to `size` as `fit` says.

    Raises:
        MediaError: no video stream, times outside it, or an unreadable or truncated file.
    """
    width, height = _check_size(size)
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, got {fit!r}")
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1 or len(times) == 0 or np.any(np.diff(times) < 0):
        raise ValueError("times must be a non-empty, non-decreasing 1-D sequence")
    what = f"frames at {_interval(times[0], times[-1])} are"
    return _decode_at(path, times, size=(width, height), fit=fit, what=what)


def _decode_at(
    path: str | os.PathLike,
    times: np.ndarray,
    *,
    size: tuple[int, int],
    fit: str,
    what: str,
    within: tuple[float, float] | None = None,
) -> np.ndarray:
    """The frames on screen at `times` (non-decreasing seconds), decoded forward in one pass.

    `what` names the request in errors ("range 1-2 s is"); `within`, when given, must lie inside the media.
    """
    width, height = size
    with _open(path) as container:
        stream = _video_stream(container)
        if stream is None:
            raise MediaError(path, _no_stream(container.streams.video, "video"))
        origin = _origin(container)
        duration = _duration(path, container, origin)
        if within is not None:
            _check_inside(path, *within, duration)
        span = _stream_span(stream, origin, duration)
        if times[0] < span[0] - TOLERANCE or times[-1] > span[1] + TOLERANCE:
            raise MediaError(path, f"{what} outside the video stream ({_interval(*span)})")
        # Frame and slice threads; `codec_context.thread_count` stays 0, FFmpeg's own count from the cores
        # (pinned to 1 or 2 it was no faster on this busy 2-core machine: 720p 0.77-0.85 s, 1080p 2.5-2.6 s).
        stream.thread_type = "AUTO"
        sar = _sample_aspect_ratio(stream)
        out = np.empty((len(times), height, width, 3), dtype=np.uint8)
        reformatter = VideoReformatter()  # one libswscale context for the whole decode

        def convert(frame: av.VideoFrame) -> np.ndarray:
            return _upright_rgb(
                frame, size=(width, height), fit=fit, sample_aspect_ratio=sar, reformatter=reformatter
            )

        fill = functools.partial(
            _fill_frames, path, container, stream, origin=origin, times=times, convert=convert, out=out
        )
        try:
            fill()
        except _SeekOvershoot:
            # Some files seek past the requested time (bad index); decoding from the start is exact.
            fill(seek=False)
    return out


def read_image(path: str | os.PathLike, *, size: tuple[int, int], fit: str = "crop") -> np.ndarray:
    """One still picture (an image of a sequence: PNG, JPEG, EXR, DPX...) upright and scaled to `size`.

    Returns:
        uint8 array (height, width, 3), RGB.

    Raises:
        MediaError: a missing or unreadable file, or no picture in it.
    """
    size = _check_size(size)
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, got {fit!r}")
    with _open(path) as container:
        stream = _video_stream(container)
        frame = None if stream is None else next(iter(container.decode(stream)), None)
        if stream is None or frame is None:
            raise MediaError(path, "no picture")
        return _upright_rgb(frame, size=size, fit=fit, sample_aspect_ratio=_sample_aspect_ratio(stream))


def read_audio(
    path: str | os.PathLike,
    *,
    start: float,
    end: float,
    sample_rate: int,
    channels: int = 1,
) -> np.ndarray:
    """Decode and resample the audio of [start, end).

    Args:
        path: the media file.
        start: range start in seconds from the media start.
        end: range end (exclusive) in seconds.
        sample_rate: output sample rate in Hz.
        channels: 1 (mono downmix) or 2 (stereo).

    Returns:
        float32 array of exactly round((end - start) * sample_rate) samples: shape (samples,) for mono,
        (channels, samples) otherwise. Up to `TOLERANCE` seconds missing at either end are zeros.

    Raises:
        MediaError: no audio stream, an empty range, a range outside the media or its audio stream, or an
            unreadable or truncated file.
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    if channels not in (1, 2):
        raise ValueError(f"channels must be 1 or 2, got {channels}")
    n = round((end - start) * sample_rate)
    if n <= 0:
        raise MediaError(path, f"empty range {_interval(start, end)}")
    with _open(path) as container:
        stream = _audio_stream(container)
        if stream is None:
            raise MediaError(path, _no_stream(container.streams.audio, "audio"))
        origin = _origin(container)
        duration = _duration(path, container, origin)
        _check_inside(path, start, end, duration)
        span = _stream_span(stream, origin, duration)
        if start < span[0] - TOLERANCE or end > span[1] + TOLERANCE:
            raise MediaError(
                path,
                f"range {_interval(start, end)} is outside the audio stream ({_interval(*span)})",
            )
        out = np.zeros((channels, n), dtype=np.float32)
        fill = functools.partial(
            _fill_audio, path, container, stream, origin=origin, start=start, sample_rate=sample_rate, out=out
        )
        try:
            fill()
        except _SeekOvershoot:
            out[:] = 0.0
            fill(seek=False)
    return out[0] if channels == 1 else out


class _SeekOvershoot(Exception):
    """The first frame after a seek lies past the requested start."""


@contextmanager
def _open(path: str | os.PathLike) -> Iterator[av.container.InputContainer]:
    """Open a file for reading, turning every FFmpeg failure inside the block into a MediaError.

    A FIFO, a device or a folder is refused before opening (`muvi_plugin.guard`): a FIFO would block.
    """
    problem = input_problem(path)
    if problem is not None:
        raise MediaError(path, problem)
    try:
        container = av.open(os.fspath(path))
    except FileNotFoundError as error:
        raise MediaError(path, "no such file") from error
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as error:
        raise MediaError(path, f"unreadable or truncated file ({_describe(error)})") from error
    try:
        yield container
    except av.error.FFmpegError as error:
        raise MediaError(path, f"unreadable or truncated file ({_describe(error)})") from error
    finally:
        container.close()


def _at(ticks: int, time_base: Fraction | None) -> float:
    """Seconds of a timestamp in `time_base` units (streams and frames always have one when decoding)."""
    return float(ticks * (time_base or Fraction(1, av.time_base)))


def _describe(error: Exception) -> str:
    # FFmpeg errors repeat the file name in str(); the path already leads our message.
    return getattr(error, "strerror", None) or str(error)


def _video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream | None:
    # Cover art in music files is a one-picture "video" stream: not a video.
    for stream in container.streams.video:
        if stream.codec_context is not None and not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


def _audio_stream(container: av.container.InputContainer) -> av.audio.stream.AudioStream | None:
    """The first audio stream FFmpeg can decode (a stream of a codec it does not know has no decoder:
    PyAV gives it no codec context, and asking its rate raises AttributeError; found by fuzzing)."""
    return next((s for s in container.streams.audio if s.codec_context is not None), None)


def _no_stream(streams, kind: str) -> str:
    return (
        f"no {kind} stream" if not streams else f"no decodable {kind} stream (a codec FFmpeg does not know)"
    )


def _origin(container: av.container.InputContainer) -> float:
    """The media start in container seconds: every public time is relative to it."""
    if container.start_time is not None:
        return container.start_time / av.time_base
    starts = [_at(s.start_time, s.time_base) for s in container.streams if s.start_time is not None]
    return min(starts, default=0.0)


def _duration(path: str | os.PathLike, container: av.container.InputContainer, origin: float) -> float:
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    ends = [
        _at((s.start_time or 0) + s.duration, s.time_base) - origin for s in container.streams if s.duration
    ]
    if not ends:
        raise MediaError(path, "unreadable or truncated file (duration unknown)")
    return max(ends)


def _stream_span(stream: av.stream.Stream, origin: float, duration: float) -> tuple[float, float]:
    """(start, end) of a stream in seconds from the media start; the container's end if it has none."""
    start = _at(stream.start_time, stream.time_base) - origin if stream.start_time is not None else 0.0
    end = start + _at(stream.duration, stream.time_base) if stream.duration else duration
    return max(0.0, start), end


def _sample_aspect_ratio(stream: av.video.stream.VideoStream) -> float:
    sar = stream.sample_aspect_ratio
    return float(sar) if sar else 1.0  # None or 0/1 mean "unknown", i.e. square pixels


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    width, height = (int(v) for v in size)
    if width <= 0 or height <= 0:
        raise ValueError(f"size must be a positive (width, height), got {size}")
    return width, height


def _seconds(value: float) -> str:
    """12.0, 13.25: short, yet with at least one decimal, for messages."""
    text = f"{value:.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _interval(start: float, end: float) -> str:
    return f"{_seconds(start)}-{_seconds(end)} s"


def _check_inside(path: str | os.PathLike, start: float, end: float, duration: float) -> None:
    if start < -TOLERANCE or end > duration + TOLERANCE:
        raise MediaError(
            path, f"range {_interval(start, end)} is outside the media (duration {_seconds(duration)} s)"
        )


def _orientation(frame: av.VideoFrame) -> tuple[bool, bool, bool]:
    """(transpose, flip_rows, flip_cols) turning the decoded picture upright, from its display matrix.

    FFmpeg's matrix maps a source pixel (p, q) to (a*p + c*q, b*p + d*q) with a, b, c, d = m[0], m[1],
    m[3], m[4]. Rotations are snapped to multiples of 90 degrees, so the map is a signed permutation:
    either p and q keep their axes (flip where a or d is negative) or they swap (a transpose, then flip
    where c or b is negative). This covers all eight EXIF orientations, mirrors included.
    """
    # A container of our own, not `frame.side_data`: that one is cached on the frame and points back at
    # it, a reference cycle that keeps every decoded frame (and the decoder's buffer pool) alive until
    # the garbage collector's rare full pass: +450 MiB over 30 decodes of 720p H.264 (benchmarks/soak.py).
    side_data: Any = SideDataContainer(frame)  # type: ignore[call-arg]
    try:
        side = side_data["DISPLAYMATRIX"]
    except KeyError:
        return False, False, False
    m = np.frombuffer(bytes(side), dtype=np.int32)[:9].astype(np.int64)
    a, b, c, d = m[0], m[1], m[3], m[4]
    if abs(a) + abs(d) >= abs(b) + abs(c):
        return False, bool(d < 0), bool(a < 0)
    return True, bool(b < 0), bool(c < 0)


# (transpose, flip_rows, flip_cols) -> (counter-clockwise rotation, then mirrored left-right), as PyAV's
# set_display_rotation(degrees, hflip) writes them. A transpose alone is 270 degrees and a mirror.
_ROTATIONS = {
    (False, False, False): (0, False),
    (True, True, False): (90, False),
    (False, True, True): (180, False),
    (True, False, True): (270, False),
    (False, False, True): (0, True),
    (True, True, True): (90, True),
    (False, True, False): (180, True),
    (True, False, False): (270, True),
}


def _upright_rgb(
    frame: av.VideoFrame,
    *,
    size: tuple[int, int],
    fit: str,
    sample_aspect_ratio: float,
    reformatter: VideoReformatter | None = None,
) -> np.ndarray:
    """One decoded frame as upright RGB uint8 (height, width, 3) of `size`, proportions kept.

    Scaling and the YUV-to-RGB conversion are one libswscale call at the output size, with its BILINEAR
    filter (which widens with the scale factor when shrinking, so a 720p picture is averaged, not
    point-sampled, down to the model's 96x96). For `fit="crop"` on 4:2:0 pictures (almost every camera and
    web file) only the part of the coded picture that ends up in the output is handed to libswscale: the
    cropped-away sides are neither converted nor scaled. Rotation and mirroring are then applied to the
    small result. A `reformatter` given by the caller keeps one libswscale context for every frame of a
    decode (a fresh one per frame costs its filter set-up each time).
    """
    transpose, flip_rows, flip_cols = _orientation(frame)
    width, height = size
    reformatter = reformatter or VideoReformatter()
    # Work in the coded orientation (cheaper: only the small result is rotated), so a transposed
    # picture aims for the transposed size.
    target_w, target_h = (height, width) if transpose else (width, height)
    shown_w, shown_h = frame.width * sample_aspect_ratio, frame.height
    rgb = None
    if fit == "crop":
        scale = max(target_w / shown_w, target_h / shown_h)
        # The centre of the coded picture that fills the target once scaled.
        keep = _centre(frame, round(target_w / scale / sample_aspect_ratio), round(target_h / scale))
        if keep is not None:
            rgb = _scaled(reformatter, keep, target_w, target_h)
        else:
            scaled_w = max(target_w, round(shown_w * scale))
            scaled_h = max(target_h, round(shown_h * scale))
    else:
        scale = min(target_w / shown_w, target_h / shown_h)
        scaled_w = min(target_w, max(1, round(shown_w * scale)))
        scaled_h = min(target_h, max(1, round(shown_h * scale)))
    if rgb is None:
        rgb = _scaled(reformatter, frame, scaled_w, scaled_h)
        top, left = abs(scaled_h - target_h) // 2, abs(scaled_w - target_w) // 2
        if fit == "crop":
            rgb = rgb[top : top + target_h, left : left + target_w]
        else:
            canvas = np.zeros((target_h, target_w, 3), dtype=np.uint8)
            canvas[top : top + scaled_h, left : left + scaled_w] = rgb
            rgb = canvas
    if transpose:
        rgb = rgb.transpose(1, 0, 2)
    if flip_rows:
        rgb = rgb[::-1]
    if flip_cols:
        rgb = rgb[:, ::-1]
    return rgb


def _scaled(reformatter: VideoReformatter, frame: av.VideoFrame, width: int, height: int) -> np.ndarray:
    """`frame` scaled to (width, height) and converted to RGB in one libswscale call (BILINEAR filter)."""
    # threads=1: the decoder's threads already use the cores, and a 96x96 result is too small to split.
    scaled = reformatter.reformat(
        frame, width=width, height=height, format="rgb24", interpolation="BILINEAR", threads=1
    )
    return scaled.to_ndarray()


_CROPPABLE = ("yuv420p", "yuvj420p")  # 8-bit 4:2:0: the planes can be cut with even offsets


def _centre(frame: av.VideoFrame, keep_w: int, keep_h: int) -> av.VideoFrame | None:
    """A new frame holding the centre `keep_w` x `keep_h` coded pixels of `frame`, colour tags kept.

    None when nothing would be cut away or the pixel format is not one we cut (`_CROPPABLE`); the caller
    then scales the whole picture. Offsets are rounded down to even pixels so the half-size chroma planes
    are cut at the same place; the centre moves by at most one source pixel.
    """
    keep_w, keep_h = min(max(keep_w, 1), frame.width), min(max(keep_h, 1), frame.height)
    if frame.format.name not in _CROPPABLE or (keep_w, keep_h) == (frame.width, frame.height):
        return None
    left, top = (frame.width - keep_w) // 2 & ~1, (frame.height - keep_h) // 2 & ~1
    kept = av.VideoFrame(keep_w, keep_h, frame.format.name)
    for index, (src, dst) in enumerate(zip(frame.planes, kept.planes, strict=True)):
        x, y = (left, top) if index == 0 else (left // 2, top // 2)
        source = np.frombuffer(memoryview(src), dtype=np.uint8).reshape(-1, src.line_size)
        target = np.frombuffer(memoryview(dst), dtype=np.uint8).reshape(-1, dst.line_size)
        target[: dst.height, : dst.width] = source[y : y + dst.height, x : x + dst.width]
    kept.colorspace, kept.color_range = frame.colorspace, frame.color_range
    return kept


def _decoded(
    container: av.container.InputContainer,
    stream: av.stream.Stream,
    *,
    origin: float,
    seek_to: float | None,
    preroll: float = 0.0,
    shown: np.ndarray | None = None,
) -> Iterator[tuple[float, Any]]:
    """Decoded frames with their times in seconds from the media start.

    Decoding starts at the keyframe at or before `seek_to - preroll` (at the stream start when `seek_to`
    is None), so a long file is not decoded from zero. With `shown` (the times a video reader wants),
    frames nobody will see that no other frame refers to are not decoded at all (`_unseen_dropped`).
    """
    if seek_to is None:
        offset = stream.start_time or 0
    else:
        offset = math.floor((origin + max(seek_to - preroll, 0.0)) / _at(1, stream.time_base))
    container.seek(offset, stream=stream, backward=True)
    previous = None
    frame: Any  # decode() is typed as yielding any kind of frame
    packets: Iterator[av.Packet] = container.demux(stream)
    if shown is not None:
        packets = _unseen_dropped(packets, stream, origin=origin, times=shown)
    for frame in (frame for packet in packets for frame in packet.decode()):
        if frame.pts is not None:
            time = _at(frame.pts, frame.time_base) - origin
        elif previous is not None:  # no timestamp: assume it follows its predecessor
            time = previous + _at(frame.duration, frame.time_base) if frame.duration else previous
        else:
            time = 0.0
        previous = time
        yield time, frame


_LOOKAHEAD = 32  # packets: more than H.264's deepest reordering (16 frames), so every neighbour is seen


def _unseen_dropped(
    packets: Iterator[av.Packet], stream: av.stream.Stream, *, origin: float, times: np.ndarray
) -> Iterator[av.Packet]:
    """`packets` less the H.264 pictures that are neither shown at any of `times` nor a reference.

    A picture at `p` is shown when some time `t` has `p <= t` (within `_PTS_EPS`) and no other picture
    lies in `(p, t]`; a picture with `nal_ref_idc == 0` is never used to decode another, so leaving it out
    changes no other picture's pixels (what the decoder's own `skip_frame` does, but only for pictures we
    know are not wanted). The reader's frame rule then picks exactly the frames it would pick with every
    picture decoded. Only length-prefixed (MP4/MOV/MKV) H.264 with a timestamp on every packet; any other
    stream, or the first packet without a timestamp, passes everything through.
    """
    codec = stream.codec_context
    extradata = codec.extradata or b""
    if codec.name != "h264" or len(extradata) < 5 or extradata[0] != 1:
        yield from packets
        return
    length_size = (extradata[4] & 3) + 1
    seen: list[float] = []  # times of the packets around the one being decided, in decode order
    ahead: list[tuple[av.Packet, float | None]] = []
    for packet in packets:
        time = None if packet.pts is None else _at(packet.pts, packet.time_base) - origin
        if time is None and packet.size:
            yield from (held for held, _ in ahead)
            yield packet
            yield from packets
            return
        ahead.append((packet, time))
        if len(ahead) > _LOOKAHEAD:
            seen = seen[-_LOOKAHEAD:]
            yield from _kept(ahead.pop(0), seen, ahead, times, length_size)
    while ahead:
        yield from _kept(ahead.pop(0), seen, ahead, times, length_size)


def _kept(
    item: tuple[av.Packet, float | None],
    seen: list[float],
    ahead: list[tuple[av.Packet, float | None]],
    times: np.ndarray,
    length_size: int,
) -> Iterator[av.Packet]:
    """The packet of `item`, unless it is an unshown non-reference picture (see `_unseen_dropped`)."""
    packet, time = item
    if time is not None:
        seen.append(time)
    if time is None or not packet.size or not _non_reference(packet, length_size):
        yield packet
        return
    index = int(np.searchsorted(times, time - _PTS_EPS, side="left"))
    if index == len(times):  # after the last time: the reader decodes up to here and stops
        yield packet
        return
    limit = times[index] + _PTS_EPS
    others = [t for t in seen[:-1] if t is not None] + [t for _, t in ahead if t is not None]
    if not any(time < other <= limit for other in others):
        yield packet  # on screen at times[index]


def _non_reference(packet: av.Packet, length_size: int) -> bool:
    """Whether a length-prefixed H.264 access unit holds only pictures no other picture refers to.

    Every slice (NAL unit types 1 and 5) of the packet must have `nal_ref_idc == 0`: all slices of one
    picture agree on it (H.264 7.4.1), and looking at all of them also covers a packet holding two fields.
    Anything unexpected counts as a reference (kept).
    """
    data = memoryview(packet)
    position, slices = 0, 0
    while position + length_size < len(data):
        size = int.from_bytes(data[position : position + length_size], "big")
        position += length_size
        if size <= 0 or position + size > len(data):
            return False
        header = data[position]
        if header & 0x1F in (1, 5):  # a slice of a non-IDR or an IDR picture
            if header & 0x60:
                return False
            slices += 1
        position += size
    return slices > 0


def _frame_end(time: float, frame: av.VideoFrame, stream: av.video.stream.VideoStream) -> float:
    """When a frame stops being on screen, if nothing follows it."""
    if frame.duration:
        return time + _at(frame.duration, frame.time_base)
    rate = stream.average_rate or stream.guessed_rate
    return time + (1.0 / float(rate) if rate else 0.0)


def _fill_frames(
    path: str | os.PathLike,
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    *,
    origin: float,
    times: np.ndarray,
    convert,
    out: np.ndarray,
    seek: bool = True,
) -> None:
    """Fill out[i] with the frame on screen at times[i] (the last one with pts <= times[i])."""
    n, i = len(times), 0
    shown = shown_rgb = None  # the frame on screen at the time we look at, and its conversion
    shown_end = 0.0
    frames = _decoded(container, stream, origin=origin, seek_to=times[0] if seek else None, shown=times)
    for time, frame in frames:
        if shown is None and time > times[0] + _PTS_EPS:
            if time > times[0] + TOLERANCE:
                if seek:
                    raise _SeekOvershoot
                raise MediaError(path, f"range starts at {_seconds(times[0])} s, before the first frame")
            shown, shown_rgb = frame, convert(frame)  # a hair before the first frame: show it
        while i < n and shown is not None and time > times[i] + _PTS_EPS:
            if shown_rgb is None:
                shown_rgb = convert(shown)
            out[i] = shown_rgb
            i += 1
        if i == n:
            return
        shown, shown_rgb, shown_end = frame, None, _frame_end(time, frame, stream)
    if shown is None:
        raise MediaError(path, "unreadable or truncated file (no decodable video frame in range)")
    if times[-1] > shown_end + TOLERANCE:
        raise MediaError(
            path,
            f"unreadable or truncated file (video frames stop at {_seconds(shown_end)} s, "
            f"range ends at {_seconds(times[-1])} s)",
        )
    out[i:] = convert(shown)  # the last frame stays on screen to the end of the stream


def _fill_audio(
    path: str | os.PathLike,
    container: av.container.InputContainer,
    stream: av.audio.stream.AudioStream,
    *,
    origin: float,
    start: float,
    sample_rate: int,
    out: np.ndarray,
    seek: bool = True,
) -> None:
    """Fill out (channels, n) with audio resampled to `sample_rate` from `start`.

    Samples are placed by counting from the first decoded frame's timestamp (audio is contiguous after a
    seek); samples the stream lacks within the tolerance stay zero.
    """
    n = out.shape[1]
    # Mono and stereo keep their channels (layout None) and are mixed in `_place`: FFmpeg's stereo-to-mono
    # matrix sums both channels at -3 dB, which boosts correlated music by 3 dB and can exceed 1.0.
    # Surround is folded to stereo by FFmpeg's standard matrix first. The resampler is set up from the
    # first frame (not the stream's header, which can disagree with what the decoder gives).
    resampler, source = None, None
    position = None  # index in `out` of the next resampled sample (negative: before `start`)
    # Audio decoders and the resampler need a little signal before `start` to settle (AAC overlaps
    # each packet with the previous one), hence the pre-roll.
    frames = _decoded(container, stream, origin=origin, seek_to=start if seek else None, preroll=_PREROLL)
    for time, frame in frames:
        if position is None:
            if time > start + TOLERANCE:
                if seek:
                    raise _SeekOvershoot
                raise MediaError(path, f"range starts at {_seconds(start)} s, before the first sample")
            position = round((time - start) * sample_rate)
        if not AUDIO_RATES[0] <= frame.sample_rate <= AUDIO_RATES[1]:
            raise MediaError(
                path, f"audio at {frame.sample_rate} Hz (muvi reads {AUDIO_RATES[0]} to {AUDIO_RATES[1]} Hz)"
            )
        if (frame.format.name, frame.layout.name, frame.sample_rate) != source:
            # A stream may change its layout or rate midway (a broadcast switching 5.1 and stereo; a
            # corrupt AAC header): the resampler only takes what it was set up for, so the old one is
            # flushed and a new one set up (found by fuzzing: "Frame does not match AudioResampler setup").
            if resampler is not None:
                position = _place(resampler.resample(None), out, position)
            source = (frame.format.name, frame.layout.name, frame.sample_rate)
            layout = None if len(frame.layout.channels) <= 2 else "stereo"
            resampler = av.AudioResampler(format="fltp", layout=layout, rate=sample_rate)
        assert resampler is not None  # set up for the first frame above
        position = _place(resampler.resample(frame), out, position)
        if position >= n:
            return
    if position is None or resampler is None:
        raise MediaError(path, "unreadable or truncated file (no decodable audio in range)")
    position = _place(resampler.resample(None), out, position)  # flush the resampler's delay line
    if position < n - TOLERANCE * sample_rate:
        raise MediaError(
            path,
            f"unreadable or truncated file (audio stops at {_seconds(start + position / sample_rate)} s, "
            f"range ends at {_seconds(start + n / sample_rate)} s)",
        )


def _place(chunks: list[av.AudioFrame], out: np.ndarray, position: int) -> int:
    """Copy resampled chunks into out from `position` (clipping to it); returns the next position.

    Channels are mixed to out's count: averaged down to mono, or a mono source copied to both sides.
    """
    for chunk in chunks:
        data = chunk.to_ndarray()  # planar float: (channels, samples)
        if data.shape[0] != out.shape[0]:
            data = data.mean(axis=0, keepdims=True) if out.shape[0] == 1 else data[:1].repeat(2, axis=0)
        lo, hi = max(position, 0), min(position + data.shape[1], out.shape[1])
        if hi > lo:
            out[:, lo:hi] = data[:, lo - position : hi - position]
        position += data.shape[1]
    return position
