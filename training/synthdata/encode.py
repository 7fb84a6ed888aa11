"""Writing a clip: H.264 video and lossless FLAC audio in Matroska, atomically, byte-for-byte reproducible.

FLAC keeps the soundtrack exactly the samples that were rendered (`muvi_plugin.media.read_audio` gives them
back bit-exact), where AAC would add an encoder delay and coding noise. Matroska's random segment id is
turned off (`bitexact`), and x264 runs single-threaded, so the same frames and samples give the same file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from muvi_plugin.atomic import atomic_path

_AUDIO_CHUNK = 4096  # samples per audio frame handed to the encoder


def write_clip(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray],
    *,
    audio: np.ndarray,
    sample_rate: int,
    fps: int,
    width: int,
    height: int,
    crf: int = 20,
    preset: str = "veryfast",
) -> None:
    """Encode `frames` and `audio` into a Matroska file at `path` (written to a temporary name in the same
    folder, then renamed: a crash never leaves a partial file under the final name).

    Args:
        path: output file, normally `.mkv`.
        frames: uint8 (height, width, 3) RGB pictures; frame i is shown from i / fps.
        audio: int16 mono samples.
        sample_rate: audio rate in Hz.
        fps: frames per second.
        width, height: frame size.
        crf, preset: x264 quality and speed.
    """
    path = Path(path)
    if audio.dtype != np.int16 or audio.ndim != 1:
        raise ValueError("audio must be int16 mono samples")
    with (
        atomic_path(path) as temporary,
        av.open(str(temporary), "w", format="matroska", options={"fflags": "+bitexact"}) as container,
    ):
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.thread_count = 1
        video.codec_context.gop_size = fps  # a keyframe a second: segment reads seek little
        video.options = {"crf": str(crf), "preset": preset}
        sound = container.add_stream("flac", rate=sample_rate, layout="mono")
        sound.codec_context.flags |= av.codec.context.Flags.bitexact
        written = 0  # audio samples muxed so far: kept just ahead of the pictures
        for index, picture in enumerate(frames):
            if picture.shape != (height, width, 3):
                raise ValueError(f"frame {index} has shape {picture.shape}, expected {(height, width, 3)}")
            until = min(round((index + 1) * sample_rate / fps), audio.size)
            written = _mux_audio(container, sound, audio, written, until, sample_rate)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, fps)
            container.mux(video.encode(frame))
        _mux_audio(container, sound, audio, written, audio.size, sample_rate)
        container.mux(video.encode(None))
        container.mux(sound.encode(None))


def _mux_audio(container, stream, audio: np.ndarray, start: int, end: int, sample_rate: int) -> int:
    for first in range(start, end, _AUDIO_CHUNK):
        chunk = audio[first : min(first + _AUDIO_CHUNK, end)]
        frame = av.AudioFrame.from_ndarray(chunk[None, :], format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = sample_rate, first, Fraction(1, sample_rate)
        container.mux(stream.encode(frame))
    return max(start, end)
