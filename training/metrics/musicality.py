"""Is it music? Comb share, tuning, key, tempo stability and note transcription of generated audio.

The measures that tell a buzz from music (issue 14): a vocoder that has not learnt pitch puts its energy
on the multiples of the mel frame rate (80 Hz = 24000 / 300) whatever the notes were, plays nothing in
tune and always lands in the same key. Every function takes mono float audio `(samples,)` and its rate.

- `comb_share`: share of the power in [fmin, fmax] within +-tol of a multiple of `base_hz`, from a Welch
  power spectrum with 4 s segments (0.25 Hz bins). Chance is about `2 * tol / base` (5 % at the defaults);
  rendered music gives a few per cent, an 80 Hz buzz most of it.
- `in_tune_share`: pYIN (`librosa.pyin`) on the harmonic part (`librosa.effects.harmonic`); the share of
  voiced frames within +-25 cents of 12-TET at A4 = 440 Hz, the voiced share (silence shows as 0), and
  librosa's own tuning estimate in cents for reference (not used by the share).
- `estimate_key`: Krumhansl-Kessler key profiles correlated (Pearson) with the mean CQT chroma of the
  harmonic part; the best of the 24 keys and its clarity (best minus second-best correlation).
- `tempo_stability`: the project's beat tracker (`metrics.beats.track_beats`, time-varying tempo) once
  over the audio; the tempo of each whole `window_s` window from its beats and the spread: the largest
  octave-folded relative deviation of a window's tempo from their median.
- `transcribe` / `note_f1`: Spotify's basic-pitch (its ONNX model, run with ONNX Runtime; its own
  windowing, unwrapping and note-creation functions) and the onset-only note F1 of
  `mir_eval.transcription` (50 ms onsets, pitch within 50 cents, offsets ignored).
- `musicality`: all of the above as one flat JSON-ready dict.

basic-pitch declares TensorFlow as a requirement; muvi installs it without its dependencies
(`pip install --no-deps basic-pitch==0.4.0`) plus the two it imports on this path, `pretty_midi` and
`resampy` (both in the `train` extra). resampy 0.4.3 or later: 0.4.2 imports `pkg_resources`, which recent
setuptools no longer has (basic-pitch's pin `resampy<0.4.3` predates that; only its sonification uses it).
"""

from __future__ import annotations

import functools
import logging
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

BASE_HZ = 80.0  # the mel frame rate, 24000 / 300: where a vocoder's frame-rate buzz sits
WELCH_SECONDS = 4.0  # Welch segment: 0.25 Hz bins, well inside the +-2 Hz comb teeth
IN_TUNE_CENTS = 25.0
A4_HZ = 440.0
PYIN_RATE = 16_000  # pYIN runs at this rate: 5x faster than at 24 kHz, and C7 (2.1 kHz) is far below Nyquist
PYIN_FMIN, PYIN_FMAX = 65.41, 2093.0  # C2 .. C7
NOTE_ONSET_TOLERANCE = 0.05  # seconds (mir_eval's default)
# The same names as the data's sidecars (training.synthdata.music), so an estimate compares as a string.
PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
# Krumhansl & Kessler (1982) probe-tone ratings, tonic first.
MAJOR_PROFILE = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)
MINOR_PROFILE = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)
BASIC_PITCH_VERSION = "0.4.0"
_INSTALL = (
    f"pip install --no-deps basic-pitch=={BASIC_PITCH_VERSION} && pip install pretty_midi 'resampy>=0.4.3'"
)

Notes = tuple[np.ndarray, np.ndarray]  # (intervals (n, 2) seconds, pitches (n,) Hz), onset order


@dataclass(frozen=True)
class InTune:
    """Tuning of the voiced frames against 12-TET at A4 = 440 Hz.

    Attributes:
        share: voiced frames within +-25 cents of a 12-TET pitch / voiced frames (NaN when none is voiced).
        voiced_share: voiced frames / all frames (0 for silence).
        tuning_cents: `librosa.estimate_tuning` of the harmonic part in cents, in [-50, 50) (NaN for
            silence); reported only, the share always measures against A440.
        frames: pYIN frames analysed.
    """

    share: float
    voiced_share: float
    tuning_cents: float
    frames: int


@dataclass(frozen=True)
class Key:
    """The best Krumhansl-Kessler key.

    Attributes:
        name: e.g. "C major", "A minor"; None for silence.
        correlation: its Pearson correlation with the mean chroma.
        clarity: best minus second-best correlation over the 24 keys (near 0: ambiguous).
    """

    name: str | None
    correlation: float
    clarity: float


@dataclass(frozen=True)
class TempoStability:
    """Tempo per window and its spread.

    Attributes:
        tempo: overall tempo in BPM from every beat (NaN with fewer than 2 beats).
        window_tempi: tempo of each whole window in BPM (NaN for a window with fewer than 2 beats); one
            window over the whole audio when it is shorter than a window.
        spread: largest octave-folded relative deviation of a window's tempo from their median
            (0 = steady; 0.1 = a window 10 % off; a window at double or half tempo counts as 0).
        window_s: the window length in seconds.
    """

    tempo: float
    window_tempi: tuple[float, ...]
    spread: float
    window_s: float


def _mono(audio: np.ndarray, sr: int, what: str) -> np.ndarray:
    audio = np.asarray(audio)
    if audio.ndim != 1 or not np.issubdtype(audio.dtype, np.floating):
        raise ValueError(f"{what}: expected mono float audio (samples,), got {audio.dtype} {audio.shape}")
    if sr <= 0:
        raise ValueError(f"{what}: sample rate must be positive, got {sr}")
    if not np.all(np.isfinite(audio)):
        raise ValueError(f"{what}: audio holds NaN or infinite samples")
    return audio.astype(np.float32, copy=False)


def comb_share(
    audio: np.ndarray,
    sr: int,
    *,
    base_hz: float = BASE_HZ,
    fmin: float = 40.0,
    fmax: float = 4000.0,
    tol_hz: float = 2.0,
) -> float:
    """Share of the power in [fmin, fmax] lying within +-`tol_hz` of a multiple of `base_hz`.

    Welch's averaged power spectrum (Hann, segments of `WELCH_SECONDS` or the whole audio if shorter, half
    overlap) resolves `sr / nperseg` Hz, 0.25 Hz at 4 s.

    Returns:
        The share in [0, 1]; NaN for silence (no power in the band).

    Raises:
        ValueError: bad audio or settings, or audio too short to resolve the teeth (bins wider than
            `tol_hz / 2`: under 1 s at the defaults).
    """
    from scipy.signal import welch

    audio = _mono(audio, sr, "comb_share")
    if not (0 < tol_hz < base_hz / 2 and 0 <= fmin < fmax <= sr / 2):
        raise ValueError(
            f"comb_share: need 0 < tol_hz < base_hz / 2 and 0 <= fmin < fmax <= sr / 2, got tol {tol_hz}, "
            f"base {base_hz}, band [{fmin}, {fmax}] at {sr} Hz"
        )
    nperseg = min(len(audio), round(WELCH_SECONDS * sr))
    if nperseg == 0 or sr / nperseg > tol_hz / 2:
        raise ValueError(
            f"comb_share: {len(audio) / sr:.2f} s of audio resolves {sr / max(nperseg, 1):.2f} Hz; "
            f"need at least {2 / tol_hz:.2f} s for +-{tol_hz} Hz teeth"
        )
    freqs, power = welch(audio.astype(np.float64), fs=sr, window="hann", nperseg=nperseg)
    band = (freqs >= fmin) & (freqs <= fmax)
    distance = np.abs(freqs - base_hz * np.round(freqs / base_hz))
    total = power[band].sum()
    if not total > 0:
        return math.nan
    return float(power[band & (distance <= tol_hz)].sum() / total)


def _harmonic(audio: np.ndarray) -> np.ndarray:
    import librosa

    return librosa.effects.harmonic(audio)


def _in_tune(harmonic: np.ndarray, sr: int) -> InTune:
    import librosa

    wave = harmonic if sr == PYIN_RATE else librosa.resample(harmonic, orig_sr=sr, target_sr=PYIN_RATE)
    if len(wave) < 1024:
        raise ValueError(f"in_tune_share: {len(harmonic) / sr:.3f} s of audio is too short for pYIN")
    # 64 ms frames hold four periods of C2; 16 ms hop.
    f0, voiced, _ = librosa.pyin(
        wave, fmin=PYIN_FMIN, fmax=PYIN_FMAX, sr=PYIN_RATE, frame_length=1024, hop_length=256
    )
    voiced = voiced & np.isfinite(f0)
    cents = 1200.0 * np.log2(f0[voiced] / A4_HZ)
    off = np.abs(cents - 100.0 * np.round(cents / 100.0))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tuning = 100.0 * float(librosa.estimate_tuning(y=harmonic, sr=sr))
    if any("empty frequency set" in str(w.message) for w in caught):
        tuning = math.nan  # no peak to measure (silence, noise): librosa answers 0 cents
    return InTune(
        share=float(np.mean(off <= IN_TUNE_CENTS)) if len(off) else math.nan,
        voiced_share=float(voiced.mean()) if len(voiced) else 0.0,
        tuning_cents=tuning,
        frames=len(voiced),
    )


def in_tune_share(audio: np.ndarray, sr: int) -> InTune:
    """pYIN pitch of the harmonic part: the share of voiced frames within +-25 cents of 12-TET (A440).

    Raises:
        ValueError: bad audio, or shorter than one pYIN frame (64 ms).
    """
    return _in_tune(_harmonic(_mono(audio, sr, "in_tune_share")), sr)


def _profiles() -> tuple[np.ndarray, list[str]]:
    """The 24 key profiles `(24, 12)` over chroma C..B, and their names."""
    rows, names = [], []
    for mode, profile in (("major", MAJOR_PROFILE), ("minor", MINOR_PROFILE)):
        for tonic in range(12):
            rows.append(np.roll(profile, tonic))
            names.append(f"{PITCH_NAMES[tonic]} {mode}")
    return np.array(rows, dtype=np.float64), names


def _key(harmonic: np.ndarray, sr: int) -> Key:
    import librosa

    if not np.any(np.abs(harmonic) > 1e-6):
        return Key(None, math.nan, math.nan)
    chroma = librosa.feature.chroma_cqt(y=harmonic, sr=sr).mean(axis=1).astype(np.float64)  # (12,) C..B
    profiles, names = _profiles()
    p = profiles - profiles.mean(axis=1, keepdims=True)
    c = chroma - chroma.mean()
    if not np.any(c):
        return Key(None, math.nan, math.nan)  # flat chroma: no pitch class stands out
    corr = p @ c / (np.linalg.norm(p, axis=1) * np.linalg.norm(c))
    order = np.argsort(corr)[::-1]
    return Key(names[order[0]], float(corr[order[0]]), float(corr[order[0]] - corr[order[1]]))


def estimate_key(audio: np.ndarray, sr: int) -> Key:
    """The Krumhansl-Kessler key of the mean CQT chroma of the harmonic part."""
    return _key(_harmonic(_mono(audio, sr, "estimate_key")), sr)


def _tempo(beats: np.ndarray) -> float:
    """BPM from beat times: the mean of the inter-beat intervals within 25 % of their median.

    The mean, not the median, of the intervals: beats sit on 23 ms onset frames, so single intervals are
    quantised (at 120 BPM to 117.5 or 123.0 BPM) while their mean is not.
    """
    intervals = np.diff(np.sort(beats))
    if len(intervals) == 0:
        return math.nan
    median = np.median(intervals)
    kept = intervals[np.abs(intervals - median) <= 0.25 * median]
    return float(60.0 / kept.mean())


def _folded_deviation(tempo: float, reference: float) -> float:
    """|ratio - 1| of `tempo / reference` after moving it by whole octaves to within [2^-0.5, 2^0.5]."""
    octaves = math.log2(tempo / reference)
    return abs(2.0 ** (octaves - round(octaves)) - 1.0)


def tempo_stability(audio: np.ndarray, sr: int, *, window_s: float = 15.0) -> TempoStability:
    """Tempo per `window_s` window (whole windows from the start; a shorter trailing part is left out)."""
    from training.metrics.beats import track_beats

    audio = _mono(audio, sr, "tempo_stability")
    if not window_s > 0:
        raise ValueError(f"tempo_stability: window_s must be positive, got {window_s}")
    beats = track_beats(audio, sr)
    duration = len(audio) / sr
    count = max(1, int(duration // window_s))
    span = window_s if duration >= window_s else duration
    tempi = tuple(_tempo(beats[(beats >= i * span) & (beats < (i + 1) * span)]) for i in range(count))
    finite = [t for t in tempi if math.isfinite(t)]
    median = float(np.median(finite)) if finite else math.nan
    spread = max((_folded_deviation(t, median) for t in finite), default=math.nan)
    return TempoStability(tempo=_tempo(beats), window_tempi=tempi, spread=spread, window_s=float(window_s))


@functools.cache
def _basic_pitch() -> tuple[Any, Any, Any, Any]:
    """basic-pitch's ONNX session, its `inference` and `note_creation` modules and `constants`."""
    try:
        logging.disable(logging.WARNING)  # its __init__ warns about every backend that is not installed
        try:
            import basic_pitch
            from basic_pitch import constants, inference, note_creation
        finally:
            logging.disable(logging.NOTSET)
    except ImportError as exc:
        raise ImportError(
            f"note transcription needs basic-pitch ({exc}); install it with: {_INSTALL}"
        ) from exc
    import onnxruntime as ort

    path = basic_pitch.build_icassp_2022_model_path(basic_pitch.FilenameSuffix.onnx)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session, inference, note_creation, constants


def transcribe(audio: np.ndarray, sr: int) -> Notes:
    """Notes of `audio` by basic-pitch at its default thresholds (onset 0.5, frame 0.3, 127.7 ms notes).

    The audio is resampled to 22,050 Hz and windowed, run and unwrapped as `basic_pitch.inference.predict`
    does (2 s windows overlapping by 30 frames), in one ONNX Runtime batch; the notes come from its
    `note_creation.model_output_to_notes` (melodia trick on, no pitch bends).

    Returns:
        `(intervals, pitches)`: float64 `(n, 2)` onset and offset seconds and `(n,)` pitches in Hz, sorted
        by onset then pitch.

    Raises:
        ImportError: basic-pitch (or pretty_midi, resampy) not installed; the message says how.
    """
    import librosa

    audio = _mono(audio, sr, "transcribe")
    session, inference, note_creation, c = _basic_pitch()
    wave = (
        audio
        if sr == c.AUDIO_SAMPLE_RATE
        else librosa.resample(audio, orig_sr=sr, target_sr=c.AUDIO_SAMPLE_RATE)
    )
    overlap_frames = 30  # basic_pitch.inference.run_inference's values
    overlap = overlap_frames * c.FFT_HOP
    padded = np.concatenate([np.zeros(overlap // 2, dtype=np.float32), wave.astype(np.float32)])
    windows = np.stack([w for w, _ in inference.window_audio_file(padded, c.AUDIO_N_SAMPLES - overlap)])
    # The output names of basic_pitch.inference.Model.predict's ONNX branch.
    outputs = session.run(
        ["StatefulPartitionedCall:1", "StatefulPartitionedCall:2", "StatefulPartitionedCall:0"],
        {"serving_default_input_2:0": windows.astype(np.float32)},
    )
    model_output = {
        k: inference.unwrap_output(v, len(wave), overlap_frames)
        for k, v in zip(("note", "onset", "contour"), outputs, strict=True)
    }
    min_note_len = int(np.round(127.70 / 1000 * (c.AUDIO_SAMPLE_RATE / c.FFT_HOP)))
    _, events = note_creation.model_output_to_notes(
        model_output, onset_thresh=0.5, frame_thresh=0.3, min_note_len=min_note_len, include_pitch_bends=False
    )
    events = sorted((float(s), float(e), int(p)) for s, e, p, *_ in events)
    intervals = np.array([[s, e] for s, e, _ in events], dtype=np.float64).reshape(-1, 2)
    pitches = librosa.midi_to_hz(np.array([p for *_, p in events], dtype=np.float64))
    return intervals, np.asarray(pitches, dtype=np.float64).reshape(-1)


def note_f1(ref: Notes, est: Notes) -> float:
    """Onset-only note F1 of `est` against `ref`: 50 ms onsets, 50-cent pitches, offsets ignored.

    Both empty: 1.0 (nothing to find, nothing spurious); one empty: 0.0.
    """
    import mir_eval

    (ref_i, ref_p), (est_i, est_p) = ref, est
    if len(ref_p) == 0 or len(est_p) == 0:
        return 1.0 if len(ref_p) == len(est_p) else 0.0
    _, _, f1, _ = mir_eval.transcription.precision_recall_f1_overlap(
        ref_i, ref_p, est_i, est_p, onset_tolerance=NOTE_ONSET_TOLERANCE, offset_ratio=None
    )
    return float(f1)


def musicality(
    audio: np.ndarray,
    sr: int,
    reference: np.ndarray | Notes | None = None,
    *,
    max_seconds: float | None = None,
) -> dict[str, Any]:
    """Every measure of this module on `audio`, as one flat JSON-ready dict.

    Args:
        audio: mono float audio `(samples,)`.
        sr: its rate in Hz.
        reference: the music `audio` should play, as audio at `sr` (transcribed here) or as a `transcribe`
            result; with it, `note_f1` and the note counts are added. None: no transcription at all.
        max_seconds: analyse only the first `max_seconds` of `audio` (and of a reference given as audio;
            a given transcription is cut to the notes starting before it). pYIN takes about 0.2 s per
            second of audio on one core.

    Returns:
        keys `seconds`, `comb_share`, `in_tune_share`, `voiced_share`, `tuning_cents`, `key`,
        `key_correlation`, `key_clarity`, `tempo`, `tempo_spread`, `window_tempi`, and with a reference
        `note_f1`, `notes`, `reference_notes`. NaN where a measure is undefined (e.g. silence).
    """
    audio = _mono(audio, sr, "musicality")
    if max_seconds is not None:
        audio = audio[: round(max_seconds * sr)]
    harmonic = _harmonic(audio)
    tune, key, tempo = _in_tune(harmonic, sr), _key(harmonic, sr), tempo_stability(audio, sr)
    result: dict[str, Any] = {
        "seconds": len(audio) / sr,
        "comb_share": comb_share(audio, sr),
        "in_tune_share": tune.share,
        "voiced_share": tune.voiced_share,
        "tuning_cents": tune.tuning_cents,
        "key": key.name,
        "key_correlation": key.correlation,
        "key_clarity": key.clarity,
        "tempo": tempo.tempo,
        "tempo_spread": tempo.spread,
        "window_tempi": list(tempo.window_tempi),
    }
    if reference is not None:
        if isinstance(reference, tuple):
            intervals, pitches = reference
            if max_seconds is not None:
                keep = intervals[:, 0] < max_seconds
                intervals, pitches = intervals[keep], pitches[keep]
            ref_notes: Notes = (intervals, pitches)
        else:
            ref_audio = _mono(reference, sr, "musicality reference")
            ref_notes = transcribe(
                ref_audio if max_seconds is None else ref_audio[: round(max_seconds * sr)], sr
            )
        notes = transcribe(audio, sr)
        result.update(
            note_f1=note_f1(ref_notes, notes), notes=len(notes[1]), reference_notes=len(ref_notes[1])
        )
    return result
