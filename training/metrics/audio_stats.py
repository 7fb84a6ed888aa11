"""Embedding-free statistics of a piece of music: they need no weights, so they are always in the report.

Every analysis except loudness runs on `beats.analysis_wave` (mono, 22,050 Hz, hop 512), the same front
end as the beat metrics, so onset and tempo figures agree across the report. Loudness follows ITU-R
BS.1770 / EBU R 128 through pyloudnorm on the signal at its own rate (the K-weighting filters are defined
per rate). Levels are in dB relative to full scale, where a sample value of 1.0 is 0 dBFS.

`audio_stats` returns a flat dict (names carry their unit):

| key | meaning |
|---|---|
| ``duration_s`` | length in seconds |
| ``onset_rate_per_s`` | detected onsets per second (librosa peak picking, no backtracking) |
| ``onset_strength_mean`` / ``_std`` / ``_max`` | spectral-flux onset envelope statistics |
| ``tempo_bpm`` | one tempo for the whole piece (8 s tempogram averaged over time, 30-240 BPM) |
| ``tempo_std_bpm`` / ``tempo_min_bpm`` / ``tempo_max_bpm`` | spread of the per-frame tempo over time |
| ``loudness_lufs`` | integrated loudness (gated, BS.1770-4); -inf for silence, NaN under 0.4 s |
| ``loudness_range_lu`` | EBU Tech 3342 range (10th-95th percentile of 3 s loudness); NaN if short or quiet |
| ``spectral_flatness_mean`` / ``_std`` | Wiener entropy per frame: ~0 for a tone, ~0.5+ for white noise |
| ``rms_dbfs`` | RMS of the whole signal |
| ``rms_std_db`` | spread of the per-frame RMS level (frames above -80 dBFS) |
| ``peak_dbfs`` | largest absolute sample |
"""

from __future__ import annotations

import math

import numpy as np

from training.metrics.beats import (
    ANALYSIS_RATE,
    HOP,
    analysis_wave,
    global_tempo,
    onset_envelope,
    tempo_curve,
)

_SILENT_DBFS = -80.0  # frames quieter than this are left out of the level spread
_EPS = 1e-10
_RANGE_BLOCK_SECONDS = 3.0  # EBU Tech 3342: the loudness range is taken over 3 s short-term blocks


def onset_times(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """Onset times of `wave` in seconds: librosa's peak picking on the onset envelope, no backtracking.

    Backtracking would move each onset to the preceding energy minimum; sync is measured against the
    attack itself, so it stays off.
    """
    return onsets_from_envelope(onset_envelope(wave, sample_rate))


def onsets_from_envelope(envelope: np.ndarray) -> np.ndarray:
    """Onset times in seconds from an `onset_envelope` result (shared with the other statistics)."""
    import librosa

    if not np.any(envelope > 0):
        return np.zeros(0)
    frames = librosa.onset.onset_detect(
        onset_envelope=envelope, sr=ANALYSIS_RATE, hop_length=HOP, backtrack=False, units="frames"
    )
    return librosa.frames_to_time(frames, sr=ANALYSIS_RATE, hop_length=HOP).astype(np.float64)


def loudness(wave: np.ndarray, sample_rate: int) -> tuple[float, float]:
    """(integrated loudness in LUFS, loudness range in LU) of a mono or (channels, samples) signal.

    Returns NaN for the integrated loudness of a signal shorter than one 400 ms gating block, -inf for
    silence, and NaN for the range of a signal shorter than one 3 s short-term block or when no block
    passes the gates. (pyloudnorm appends 1.5 s of silence before the range, as EBU Tech 3342's reference
    code does, so the range of a steady tone only settles to 0 LU on signals of ~20 s.)
    """
    import pyloudnorm

    data = np.asarray(wave, dtype=np.float64)
    data = data.T if data.ndim == 2 else data  # pyloudnorm wants (samples, channels)
    meter = pyloudnorm.Meter(sample_rate)
    if data.shape[0] < round(meter.block_size * sample_rate):
        return math.nan, math.nan
    integrated = float(meter.integrated_loudness(data))
    if not np.any(data) or data.shape[0] < round(_RANGE_BLOCK_SECONDS * sample_rate):
        return integrated, math.nan
    return integrated, float(meter.loudness_range(data))


def audio_stats(wave: np.ndarray, sample_rate: int) -> dict[str, float]:
    """The embedding-free statistics of `wave` as a flat dict (keys and units in the module docstring).

    Args:
        wave: float audio in [-1, 1], (samples,) or (channels, samples).
        sample_rate: its rate in Hz.
    """
    import librosa

    wave = np.asarray(wave, dtype=np.float32)
    mono = analysis_wave(wave, sample_rate)
    duration = wave.shape[-1] / sample_rate
    envelope = onset_envelope(mono, ANALYSIS_RATE)
    onsets = onsets_from_envelope(envelope)
    # Silence has no onset strength, so no tempo: NaN rather than the prior's favourite.
    tempo = tempo_curve(envelope) if np.any(envelope > 0) else np.full(1, math.nan)
    integrated, loudness_range = loudness(wave, sample_rate)
    flatness = librosa.feature.spectral_flatness(y=mono, hop_length=HOP)[0]
    frame_rms = librosa.feature.rms(y=mono, hop_length=HOP)[0]
    frame_db = 20 * np.log10(frame_rms + _EPS)
    audible = frame_db[frame_db > _SILENT_DBFS]
    return {
        "duration_s": float(duration),
        "onset_rate_per_s": float(len(onsets) / duration) if duration > 0 else math.nan,
        "onset_strength_mean": float(envelope.mean()),
        "onset_strength_std": float(envelope.std()),
        "onset_strength_max": float(envelope.max()),
        "tempo_bpm": global_tempo(envelope) if np.any(envelope > 0) else math.nan,
        "tempo_std_bpm": float(tempo.std()),
        "tempo_min_bpm": float(tempo.min()),
        "tempo_max_bpm": float(tempo.max()),
        "loudness_lufs": integrated,
        "loudness_range_lu": loudness_range,
        "spectral_flatness_mean": float(flatness.mean()),
        "spectral_flatness_std": float(flatness.std()),
        "rms_dbfs": float(10 * np.log10(np.mean(np.square(mono, dtype=np.float64)) + _EPS**2)),
        "rms_std_db": float(audible.std()) if audible.size else math.nan,
        "peak_dbfs": float(20 * np.log10(np.max(np.abs(wave)) + _EPS)) if wave.size else math.nan,
    }
