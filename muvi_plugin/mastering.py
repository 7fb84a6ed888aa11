"""Mastering: the finish every take gets, in the scoring API (`muvi_plugin.api.Scorer.score`).

    audio, record = master(audio, sample_rate, Mastering(loudness_lufs=-16.0, ceiling_dbtp=-1.0))

Three steps, with Spotify's pedalboard for the processing and pyloudnorm for the measurement:
1. DC and rumble: the mean is subtracted (a high-pass alone would turn a take that starts on an offset
   into a click), then a second-order high-pass at `highpass_hz` (two of pedalboard's first-order
   `HighpassFilter`s, 12 dB/octave) removes what drifts below it.
2. Gain to the integrated loudness target (ITU-R BS.1770-4, gated, pyloudnorm's `Meter`).
3. A true-peak limiter (pedalboard's `BrickwallLimiter`, lookahead, 4x-oversampled sidechain) holds the
   ceiling. Limiting lowers the loudness, so the gain and the limiter's ceiling are adjusted and the result
   measured again, until the loudness is within `TOLERANCE_LU` of the target and the true peak (measured on
   4x-oversampled audio, BS.1770-4 Annex 2) is at or below the ceiling. The ceiling is a promise: if the
   iterations run out, a last trim gain enforces it and the record says how loud the take came out.

Silence stays silence (nothing to measure: no gain, loudness and true peak recorded as None). Audio shorter
than one 400 ms gating block has no integrated loudness (BS.1770 needs a whole block): it gets the DC and
rumble removal and the ceiling, not the loudness gain, and its loudness is recorded as None. A target the
ceiling cannot allow (say -6 LUFS of dense noise under -1 dBTP) is approached for `MAX_ITERATIONS` passes,
then the ceiling wins and the record says what was reached. Deterministic: the same input and settings give
the same samples. `loudness_lufs=None` is "off": the audio comes back untouched (and
is only measured).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from muvi_plugin.errors import load_library

TOLERANCE_LU = 0.2  # how close to the target the integrated loudness must land
OVERSAMPLING = 4  # BS.1770-4 Annex 2: true peak on 4x-oversampled audio
MAX_ITERATIONS = 12
GATE_BLOCK_SECONDS = 0.4  # BS.1770's gating block; shorter audio has no integrated loudness
# The limiter's timing. pedalboard 0.9.26's BrickwallLimiter holds its gain down while overs keep coming
# within its hold time (about the lookahead), so a long lookahead or release traps the gain at the depth of
# the deepest transient: 2 ms and 50 ms keep that short (a click over a loud pad: -12.5 LUFS reachable,
# against -15.5 with 5 ms and 100 ms) and are still slow enough not to distort a 40 Hz bass.
_RELEASE_MS = 50.0
_LOOKAHEAD_MS = 2.0
_MARGIN_DB = 1e-3  # below the ceiling after a trim, so float rounding cannot land a hair above it


@dataclass(frozen=True)
class Mastering:
    """How a take is finished.

    Attributes:
        loudness_lufs: Integrated loudness target (LUFS); None for off (the audio is left untouched).
        ceiling_dbtp: The true-peak ceiling (dBTP); the result never passes it.
        highpass_hz: Corner of the DC and rumble high-pass (Hz).
    """

    loudness_lufs: float | None = -16.0
    ceiling_dbtp: float = -1.0
    highpass_hz: float = 30.0

    @property
    def off(self) -> bool:
        return self.loudness_lufs is None


@dataclass(frozen=True)
class Mastered:
    """What mastering reached (levels in LUFS / dBTP; None where undefined: silence, or a take too short).

    Attributes:
        target_lufs: The loudness target; None when mastering was off.
        ceiling_dbtp: The true-peak ceiling.
        loudness_lufs: Integrated loudness of the result.
        true_peak_dbtp: True peak of the result (4x oversampled).
        dc_offset: Mean sample value of the result.
        input_loudness_lufs: Integrated loudness before mastering.
        input_true_peak_dbtp: True peak before mastering.
        input_dc_offset: Mean sample value before mastering.
        gain_db: Gain applied before the limiter (dB), after the last trim; 0 when off.
        limiter_ceiling_dbtp: The limiter's ceiling in the last pass (below `ceiling_dbtp` where the
            limiter overshot between samples); None when the limiter did not run.
        iterations: Passes of gain + limiter + measurement.
    """

    target_lufs: float | None
    ceiling_dbtp: float
    loudness_lufs: float | None
    true_peak_dbtp: float | None
    dc_offset: float
    input_loudness_lufs: float | None
    input_true_peak_dbtp: float | None
    input_dc_offset: float
    gain_db: float = 0.0
    limiter_ceiling_dbtp: float | None = None
    iterations: int = 0


def integrated_loudness(audio: np.ndarray, sample_rate: int) -> float | None:
    """BS.1770-4 gated integrated loudness in LUFS (pyloudnorm); None for silence or under 400 ms."""
    pyloudnorm = _library("pyloudnorm")  # imported here: it pulls in scipy, which only mastering needs
    if audio.size < GATE_BLOCK_SECONDS * sample_rate or not np.any(audio):
        return None
    meter = pyloudnorm.Meter(sample_rate, block_size=GATE_BLOCK_SECONDS)
    value = meter.integrated_loudness(np.asarray(audio, dtype=np.float64))
    return float(value) if math.isfinite(value) else None  # -inf: every block under the -70 LUFS gate


def true_peak(audio: np.ndarray) -> float | None:
    """True peak in dBTP: the largest magnitude of the 4x-oversampled signal (BS.1770-4 Annex 2).

    The interpolation is scipy's polyphase FIR (`resample_poly`, Kaiser window), which meets Annex 2's
    filter requirements; float audio needs none of the annex's 12 dB fixed-point headroom. None for silence.
    """
    resample_poly = _library("scipy.signal").resample_poly
    if audio.size == 0 or not np.any(audio):
        return None
    peak = float(np.max(np.abs(resample_poly(np.asarray(audio, dtype=np.float64), OVERSAMPLING, 1))))
    peak = max(peak, float(np.max(np.abs(audio))))  # the samples themselves are points of the waveform
    return 20 * math.log10(peak)


def master(
    audio: np.ndarray, sample_rate: int, settings: Mastering | None = None
) -> tuple[np.ndarray, Mastered]:
    """Remove DC and rumble, bring the loudness to the target, hold the true-peak ceiling.

    Args:
        audio: float `(samples,)` mono.
        sample_rate: Samples per second.
        settings: Target, ceiling and high-pass; None for `Mastering()` (-16 LUFS, -1 dBTP).

    Returns:
        float32 `(samples,)` of the same length, and the record of what was reached. With
        `settings.loudness_lufs` None the audio is returned as it came (as float32).
    """
    pedalboard = _library("pedalboard")  # imported here: only mastering needs it
    settings = settings if settings is not None else Mastering()
    audio = np.asarray(audio, dtype=np.float32)
    before = _levels(audio, sample_rate)
    if settings.off:
        return audio, Mastered(None, settings.ceiling_dbtp, *before, *before)
    if audio.size == 0 or not np.any(audio):
        return audio, Mastered(settings.loudness_lufs, settings.ceiling_dbtp, *before, *before)

    highpass = pedalboard.Pedalboard(
        [pedalboard.HighpassFilter(cutoff_frequency_hz=settings.highpass_hz) for _ in range(2)]
    )
    clean = highpass((audio - np.float32(np.mean(audio, dtype=np.float64)))[None], sample_rate)[0]
    target, ceiling = settings.loudness_lufs, settings.ceiling_dbtp
    loudness = integrated_loudness(clean, sample_rate)
    gain_db, limiter_ceiling, iterations, out = 0.0, None, 0, clean
    if loudness is not None:
        gain_db, limiter_ceiling, iterations, out = _loudness_and_ceiling(
            clean, sample_rate, loudness, settings
        )
    else:  # too short to have a loudness: only the ceiling
        peak = true_peak(out)
        if peak is not None and peak > ceiling:
            gain_db = ceiling - peak - _MARGIN_DB
            out = out * np.float32(10 ** (gain_db / 20))
    out = out.astype(np.float32)
    after = _levels(out, sample_rate)
    return out, Mastered(
        target,
        ceiling,
        *after,
        *before,
        gain_db=gain_db,
        limiter_ceiling_dbtp=limiter_ceiling,
        iterations=iterations,
    )


def _loudness_and_ceiling(
    clean: np.ndarray, sample_rate: int, loudness: float, settings: Mastering
) -> tuple[float, float | None, int, np.ndarray]:
    """Gain + limiter passes until both the target and the ceiling are met; (gain, limiter ceiling,
    passes made, audio) of the pass closest to the target.

    Every pass is trimmed to the ceiling when the limiter let an inter-sample peak through (and the next
    pass lowers the limiter's ceiling by that much), so every candidate keeps the promise. The gain steps
    by the measured slope of loudness against gain (limiting flattens it), inside the bracket of gains
    found too quiet and too loud: pedalboard 0.9.26's `BrickwallLimiter` keeps its gain down while overs
    follow each other within its hold time, so a louder input can come out quieter, and the bracket stops
    the search from running away there.
    """
    pedalboard = _library("pedalboard")
    target, ceiling = settings.loudness_lufs, settings.ceiling_dbtp
    assert target is not None  # the caller handles "off"
    gain_db, limiter_ceiling = target - loudness, ceiling
    too_quiet, too_loud = -math.inf, math.inf  # the bracket of gains
    best: tuple[float, float, float, int, np.ndarray] | None = None  # miss, gain, limiter ceiling, pass, out
    previous: tuple[float, float] | None = None  # (gain, loudness) of the last pass, for the slope
    for iteration in range(1, MAX_ITERATIONS + 1):
        limiter = pedalboard.BrickwallLimiter(
            ceiling_db=limiter_ceiling, release_ms=_RELEASE_MS, lookahead_ms=_LOOKAHEAD_MS, true_peak=True
        )
        out = limiter((clean * np.float32(10 ** (gain_db / 20)))[None], sample_rate)[0]
        peak = true_peak(out)
        if peak is None:  # the limiter silenced it (cannot happen with audio above the gate)
            break
        trim = min(ceiling - peak - _MARGIN_DB, 0.0) if peak > ceiling else 0.0
        if trim:
            out = out * np.float32(10 ** (trim / 20))
            limiter_ceiling += trim  # next pass: the limiter aims as far below as it overshot
        reached = integrated_loudness(out, sample_rate)
        if reached is None:
            break
        miss = reached - target
        if best is None or abs(miss) < best[0]:
            best = (abs(miss), gain_db + trim, limiter_ceiling - trim, iteration, out)
        if abs(miss) <= TOLERANCE_LU:
            break
        slope = 1.0
        if previous is not None and gain_db != previous[0]:
            slope = (reached - previous[1]) / (gain_db - previous[0])
        # Louder in, quieter out: past the top.
        if miss > 0 or (slope <= 0 and previous is not None and gain_db > previous[0]):
            too_loud = min(too_loud, gain_db)
        else:
            too_quiet = max(too_quiet, gain_db)
        slope = min(max(slope, 0.2), 1.0)
        previous = (gain_db, reached)
        step = gain_db - miss / slope
        if not too_quiet < step < too_loud:
            step = (too_quiet + too_loud) / 2 if math.isfinite(too_quiet + too_loud) else gain_db - miss
        gain_db = step
    if best is None:
        return 0.0, None, iteration, clean
    _, gain_db, limiter_ceiling, _, out = best
    return gain_db, limiter_ceiling, iteration, out


def _library(name: str) -> ModuleType:
    """A library only mastering needs (pyloudnorm, scipy.signal, pedalboard), imported on first use."""
    return load_library(name, "mastering")


def _levels(audio: np.ndarray, sample_rate: int) -> tuple[float | None, float | None, float]:
    """(integrated loudness, true peak, DC offset) of `audio`."""
    dc = float(np.mean(audio, dtype=np.float64)) if audio.size else 0.0
    return integrated_loudness(audio, sample_rate), true_peak(audio), dc


__all__ = ["Mastered", "Mastering", "integrated_loudness", "master", "true_peak"]
