"""Outputs: audio files and a copy of the video with the music in it (numpy, PyAV).

Every writer is atomic (`muvi_plugin.atomic`): it writes a temporary file in the destination folder and
renames it over the destination only when complete, so an error, a cancel or a crash never leaves a partial
file, and an existing file is replaced only by a whole one. Inputs are never opened for writing. Loudness
and peaks are mastering's job (`muvi_plugin.mastering`, applied by the scoring API), not the writers'.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

import av
import numpy as np
from av.audio.stream import AudioStream

from muvi_plugin.atomic import atomic_path
from muvi_plugin.errors import MuviError
from muvi_plugin.guard import input_problem, same_file
from muvi_plugin.media import MediaError

AUDIO_FORMATS = {".wav": ("wav", "pcm_s16le", "s16"), ".flac": ("flac", "flac", "s16")}
# Container -> (FFmpeg muxer, audio codec, sample format) for `mux_into_copy`. AAC is what mp4/mov players
# all decode; Matroska takes FLAC, which is lossless.
MUX_FORMATS = {
    ".mp4": ("mp4", "aac", "fltp"),
    ".m4v": ("mp4", "aac", "fltp"),
    ".mov": ("mov", "aac", "fltp"),
    ".mkv": ("matroska", "flac", "s16"),
}
_CHUNK = 1 << 15  # samples per encoded frame handed to PyAV (it re-frames to the codec's frame size)


def write_audio(path: str | os.PathLike, audio: np.ndarray, sample_rate: int) -> Path:
    """Write mono audio as 16-bit PCM WAV or FLAC, chosen by the file suffix, atomically.

    Args:
        path: Destination ending in `.wav` or `.flac`; its folder must exist.
        audio: float32 `(samples,)` in [-1, 1]; values outside are clipped.
        sample_rate: Samples per second.

    Returns:
        The written path.

    Raises:
        MuviError: Unsupported suffix, missing folder, or a write failure (no file is left behind).
    """
    path = Path(path)
    if path.suffix.lower() not in AUDIO_FORMATS:
        raise MuviError(f"{path}: unsupported audio format (use {' or '.join(AUDIO_FORMATS)})")
    muxer, codec, sample_format = AUDIO_FORMATS[path.suffix.lower()]
    audio = _mono(path, audio)
    with _atomic(path) as tmp, av.open(os.fspath(tmp), "w", format=muxer) as container:
        stream = cast(AudioStream, container.add_stream(codec, rate=sample_rate, layout="mono"))
        stream.format = sample_format
        _encode(container, stream, audio, sample_rate=sample_rate, sample_format=sample_format)
    return path


def mux_into_copy(
    video: str | os.PathLike,
    audio: np.ndarray,
    sample_rate: int,
    out_path: str | os.PathLike,
    *,
    start: float = 0.0,
) -> Path:
    """Write a copy of `video` whose sound is `audio`, the picture stream-copied (not re-encoded).

    The first video stream's packets are copied as they are, so the picture is bit-identical; the music is
    encoded as AAC (`.mp4`, `.m4v`, `.mov`) or FLAC (`.mkv`). Every other stream of the input (its own
    sound, subtitles, data) is dropped: the copy is a preview of the picture with its score, and a second
    sound track would play over the music in most players. The input file is only read.

    Args:
        video: The input media file.
        audio: float32 `(samples,)` mono music.
        sample_rate: Samples per second of `audio`.
        out_path: Destination; must differ from `video`. Written atomically.
        start: Where the music starts in the video, in seconds from the media start (the range's start);
            the sound is silent before it.

    Returns:
        The written path.

    Raises:
        MediaError: The input is unreadable or has no video stream.
        MuviError: Unsupported output suffix, output equal to the input, or a write failure.
    """
    out_path = Path(out_path)
    suffix = out_path.suffix.lower()
    if suffix not in MUX_FORMATS:
        raise MuviError(f"{out_path}: unsupported container for muxing (use one of {', '.join(MUX_FORMATS)})")
    problem = input_problem(video)
    if problem is not None:
        raise MediaError(video, problem)
    if same_file(video, out_path):
        raise MuviError(f"{out_path}: the output would overwrite the input video")
    if start < 0:
        raise MuviError(f"{out_path}: the music cannot start before the video (start {start} s)")
    muxer, codec, sample_format = MUX_FORMATS[suffix]
    music = np.concatenate([np.zeros(round(start * sample_rate), np.float32), _mono(out_path, audio)])
    try:
        source = av.open(os.fspath(video))
    except (av.error.FFmpegError, OSError) as error:
        raise MediaError(video, f"unreadable or truncated file ({error})") from error
    with source:
        picture = next(
            (s for s in source.streams.video if not s.disposition & av.stream.Disposition.attached_pic), None
        )
        if picture is None:
            raise MediaError(video, "no video stream")
        with _atomic(out_path) as tmp, av.open(os.fspath(tmp), "w", format=muxer) as container:
            copy = container.add_stream_from_template(picture, opaque=True)
            sound = cast(AudioStream, container.add_stream(codec, rate=sample_rate, layout="mono"))
            sound.format = sample_format
            try:
                for packet in source.demux(picture):
                    if packet.dts is None and packet.pts is None:  # the demuxer's end-of-stream marker
                        continue
                    packet.stream = copy
                    container.mux(packet)
            except av.error.FFmpegError as error:
                raise MediaError(video, f"unreadable or truncated file ({error})") from error
            # The media clock starts at the container's start time (muvi_plugin.media): so does the music.
            origin = 0 if source.start_time is None else source.start_time / av.time_base
            _encode(
                container, sound, music, sample_rate=sample_rate, sample_format=sample_format, origin=origin
            )
    return out_path


def _mono(path: Path, audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1 or audio.size == 0:
        raise MuviError(f"{path}: expected non-empty mono audio (samples,), got shape {audio.shape}")
    return audio


def _encode(
    container: av.container.OutputContainer,
    stream: AudioStream,
    audio: np.ndarray,
    *,
    sample_rate: int,
    sample_format: str,
    origin: float = 0.0,
) -> None:
    """Encode mono float audio into `stream` from `origin` seconds, flushing the encoder."""
    clipped = np.clip(audio, -1.0, 1.0)
    first = round(origin * sample_rate)
    for at in range(0, len(clipped), _CHUNK):
        chunk = clipped[at : at + _CHUNK]
        data = np.round(chunk * 32767.0).astype(np.int16) if sample_format == "s16" else chunk
        frame = av.AudioFrame.from_ndarray(data[None], format=sample_format, layout="mono")
        frame.sample_rate = sample_rate
        frame.pts = first + at  # the encoder's time base is 1 / sample_rate
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


@contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    """A temporary path next to `path`, renamed to it when the block completes and removed otherwise.

    Encoder and file-system failures inside the block become a `MuviError` naming `path`.
    """
    if not path.parent.is_dir():
        raise MuviError(f"{path}: the folder {path.parent} does not exist")
    try:
        with atomic_path(path) as tmp:
            yield tmp
    except (av.error.FFmpegError, OSError) as error:
        raise MuviError(f"{path}: cannot write ({getattr(error, 'strerror', None) or error})") from error
