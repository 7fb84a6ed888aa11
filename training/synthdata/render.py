"""Rendering MIDI to audio with the FluidSynth command and a General MIDI SoundFont; loudness envelopes.

FluidSynth runs as a subprocess in fast-render mode (no audio device), writing raw 32-bit float samples,
which are deterministic for a given MIDI file, SoundFont and FluidSynth build.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

DEFAULT_SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"


class RenderError(RuntimeError):
    """FluidSynth or the SoundFont is missing, or FluidSynth failed."""


def render_midi(
    midi: bytes,
    *,
    samples: int,
    sample_rate: int,
    soundfont: str | os.PathLike = DEFAULT_SOUNDFONT,
    executable: str = "fluidsynth",
    gain: float = 0.4,
    reverb: bool = True,
    chorus: bool = True,
) -> np.ndarray:
    """Render a MIDI file to mono float32 audio of exactly `samples` samples (cut or zero-padded).

    Args:
        midi: the Standard MIDI File.
        samples: output length.
        sample_rate: in Hz.
        soundfont: a .sf2 General MIDI SoundFont.
        executable: the fluidsynth command.
        gain: FluidSynth's master gain (0-10).
        reverb: FluidSynth's reverb on or off.
        chorus: FluidSynth's chorus on or off.

    Raises:
        RenderError: fluidsynth or the SoundFont is missing, or fluidsynth fails.
    """
    command = shutil.which(executable)
    if command is None:
        raise RenderError(f"{executable}: command not found (install FluidSynth, e.g. Debian's `fluidsynth`)")
    if not Path(soundfont).is_file():
        raise RenderError(f"{soundfont}: SoundFont not found (e.g. Debian's `fluid-soundfont-gm`)")
    with tempfile.TemporaryDirectory(prefix="muvi-synth-") as folder:
        midi_path, raw_path = Path(folder) / "in.mid", Path(folder) / "out.raw"
        midi_path.write_bytes(midi)
        arguments = [
            command,
            "-n",  # no MIDI input driver
            "-i",  # no shell
            "-q",
            "-g", f"{gain:g}",
            "-R", "1" if reverb else "0",
            "-C", "1" if chorus else "0",
            "-r", str(sample_rate),
            "-o", "synth.dynamic-sample-loading=1",  # load only the samples the piece plays: 5x faster start
            "-F", str(raw_path),
            "-T", "raw",
            "-O", "float",  # no dither (16-bit output is dithered)
            "-E", "little",
            str(soundfont),
            str(midi_path),
        ]  # fmt: skip
        result = subprocess.run(arguments, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not raw_path.is_file():
            message = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise RenderError(f"fluidsynth failed (exit {result.returncode}): {' / '.join(message)}")
        stereo = np.fromfile(raw_path, dtype="<f4")
    mono = stereo[: stereo.size // 2 * 2].reshape(-1, 2).mean(axis=1, dtype=np.float32)
    out = np.zeros(samples, dtype=np.float32)
    out[: min(samples, mono.size)] = mono[:samples]
    return out


def normalise(audio: np.ndarray, *, rms_db: float, peak: float = 0.98, fade: int = 240) -> np.ndarray:
    """Scale to an RMS of `rms_db` dBFS (less if that would exceed `peak`), fade the last `fade` samples
    out (no click where the clip cuts the music), and quantise to int16."""
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    if rms == 0.0:
        return np.zeros(audio.shape, dtype=np.int16)
    scale = min(10 ** (rms_db / 20) / rms, peak / float(np.max(np.abs(audio))))
    out = audio.astype(np.float64) * scale
    tail = min(fade, out.size)
    if tail:
        out[out.size - tail :] *= np.linspace(1.0, 0.0, tail)
    return np.round(out * 32767).astype(np.int16)


def loudness_envelope(audio: np.ndarray, *, sample_rate: int, rate: float) -> np.ndarray:
    """RMS level in dBFS of consecutive windows of 1/`rate` s (value k covers [k/rate, (k+1)/rate)); a
    last partial window is padded with zeros; silence is -100 dB.

    Args:
        audio: mono samples, int16 or float in [-1, 1].
        sample_rate: in Hz.
        rate: envelope values per second.
    """
    x = audio.astype(np.float64) / 32768 if audio.dtype == np.int16 else audio.astype(np.float64)
    hop = round(sample_rate / rate)
    frames = -(-x.size // hop)
    padded = np.zeros(frames * hop)
    padded[: x.size] = x
    rms = np.sqrt(np.mean(padded.reshape(frames, hop) ** 2, axis=1))
    return np.maximum(20 * np.log10(np.maximum(rms, 1e-12)), -100.0).astype(np.float32)
