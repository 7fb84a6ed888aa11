"""Extra negatives for contrastive music-visual pre-training, built on waveforms (MuVi Sec. 3.2).

Two negatives per positive pair force the encoders to look at synchrony rather than at style:

* temporal shift: the clip's own music rolled by whole video frames that are *not* near a multiple of the
  beat period or of a half beat, so the shifted music is off-beat with the picture;
* random replacement: a random inner segment replaced by another clip's music with equal-power crossfades,
  so the pair is in sync only on part of the time axis.

When a negative cannot be built (no beat found, clip too short, no other clip in the batch) it is silence,
as in the paper. Everything here is numpy on CPU and meant for data-loader workers: beat tracking a batch
of 160 clips in the training step would stall the GPU, so compute ``minimal_beat_period`` per clip in the
dataset and pass the periods to ``build_negatives`` in the collate function.

Shapes: ``b`` clips, ``k`` negatives per clip (2: shift, replacement), ``s`` samples at SAMPLE_RATE.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from numpy.typing import ArrayLike

from muvi_plugin.constants import SAMPLE_RATE, VIDEO_FPS

SHIFT_SLOT = 0
REPLACEMENT_SLOT = 1
NUM_NEGATIVES = 2

# librosa's onset analysis uses 2048-sample FFTs; shorter clips carry no usable beat information.
_MIN_ANALYSIS_SAMPLES = 2048
# Float slack when a shift sits exactly `tolerance` frames from a (half) beat, e.g. 1 frame at 120 BPM.
_DISTANCE_EPS = 1e-6


class NegativeKind(IntEnum):
    """What a negative slot actually holds."""

    SHIFT = 0
    REPLACEMENT = 1
    SILENCE = 2


@dataclass(frozen=True)
class NegativesConfig:
    """How the extra negatives are built. One config for every model size: nothing here scales.

    Attributes:
        shift_tolerance_frames: A shift is rejected when it lies closer than this many video frames to a
            multiple of half the beat period. 1 frame = 100 ms at 10 FPS, the beat-hit tolerance MuVi uses
            for BHS (App. E): a shift that keeps beats within 100 ms of a beat or half beat would still
            count as synchronised.
        margin: Fraction of the clip kept untouched at both ends by the replacement (MuVi: 5%).
        crossfade_seconds: Length of each equal-power crossfade; 50 ms removes clicks while staying well
            inside one 100 ms video frame (the paper gives no value).
        min_fraction: Shortest replaced segment, as a fraction of the clip.
        max_fraction: Longest replaced segment, as a fraction of the clip. The paper's bounds are lost in
            our copy of the text; 10%-50% changes a visible but minority part of the timeline.
        hop_length: Onset-envelope hop of the beat tracker. 256 samples (10.7 ms at 24 kHz) rather than
            librosa's 512 halves the tempo quantisation, which matters once shifts span many beats.
        max_bpm: Upper bound of the tempo search (MuVi App. E uses 30-240 BPM).
    """

    shift_tolerance_frames: float = 1.0
    margin: float = 0.05
    crossfade_seconds: float = 0.05
    min_fraction: float = 0.1
    max_fraction: float = 0.5
    hop_length: int = 256
    max_bpm: float = 240.0

    def __post_init__(self) -> None:
        if self.shift_tolerance_frames < 0:
            raise ValueError(f"shift_tolerance_frames must be >= 0, got {self.shift_tolerance_frames}")
        if not 0.0 <= self.margin < 0.5:
            raise ValueError(f"margin must be in [0, 0.5), got {self.margin}")
        if self.crossfade_seconds < 0:
            raise ValueError(f"crossfade_seconds must be >= 0, got {self.crossfade_seconds}")
        if not 0.0 < self.min_fraction <= self.max_fraction <= 1.0 - 2.0 * self.margin:
            raise ValueError(
                "need 0 < min_fraction <= max_fraction <= 1 - 2 * margin, got "
                f"{self.min_fraction}, {self.max_fraction} with margin {self.margin}"
            )
        if self.hop_length <= 0 or self.max_bpm <= 0:
            raise ValueError(f"hop_length and max_bpm must be > 0, got {self.hop_length}, {self.max_bpm}")


DEFAULT_NEGATIVES = NegativesConfig()


@dataclass(frozen=True)
class Negatives:
    """The negatives of a batch.

    Attributes:
        waves: ``(b, k, s)`` negative waveforms; slot 0 the shift, slot 1 the replacement.
        kinds: ``(b, k)`` ``NegativeKind`` values: what each slot holds after fallbacks.
        shifts: ``(b,)`` shift of slot 0 in video frames (positive = later), 0 where it is silence.
        segments: ``(b, 2)`` replaced ``[start, end)`` in samples for slot 1, -1 where it is silence.
    """

    waves: np.ndarray
    kinds: np.ndarray
    shifts: np.ndarray
    segments: np.ndarray


def minimal_beat_period(
    wave: np.ndarray,
    *,
    sample_rate: int = SAMPLE_RATE,
    fps: float = VIDEO_FPS,
    hop_length: int = DEFAULT_NEGATIVES.hop_length,
    max_bpm: float = DEFAULT_NEGATIVES.max_bpm,
) -> float | None:
    """The clip's longest beat period (from its minimum BPM), in video frames.

    MuVi: "we leverage a dynamic beat tracking algorithm (Ellis, 2007) to obtain the minimum BPM and its
    corresponding minimal cycle". We take librosa's time-varying tempo (``feature.tempo`` with
    ``aggregate=None``: the tempo of a sliding 8 s window, the same estimate MuVi's App. E evaluation
    uses), run Ellis's dynamic-programming beat tracker with that tempo curve, and return the period of
    the *minimum* tempo. The slowest tempo gives the longest cycle; together with skipping half beats it
    also rules out the true beat when the tracker halves the tempo (an octave error).

    Args:
        wave: Mono waveform ``(s,)``.
        sample_rate: Sample rate of ``wave``.
        fps: Video frame rate the period is expressed in.
        hop_length: Onset-envelope hop in samples.
        max_bpm: Highest tempo considered.

    Returns:
        The period in (fractional) video frames, or ``None`` when the tracker finds fewer than two beats
        (silence, clips too short to analyse).
    """
    # librosa is heavy to import and only data workers need it.
    import librosa

    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim != 1:
        raise ValueError(f"expected a mono waveform (samples,), got shape {wave.shape}")
    if wave.shape[0] < _MIN_ANALYSIS_SAMPLES or not np.any(wave):
        return None
    envelope = librosa.onset.onset_strength(y=wave, sr=sample_rate, hop_length=hop_length)
    tempo_curve = librosa.feature.tempo(
        onset_envelope=envelope, sr=sample_rate, hop_length=hop_length, aggregate=None, max_tempo=max_bpm
    )
    _, beats = librosa.beat.beat_track(
        onset_envelope=envelope, sr=sample_rate, hop_length=hop_length, bpm=tempo_curve
    )
    min_bpm = float(np.min(tempo_curve))
    if len(beats) < 2 or not min_bpm > 0:
        return None
    return 60.0 * fps / min_bpm


def allowed_shifts(n_frames: int, period: float | None, *, tolerance: float = 1.0) -> list[int]:
    """Shifts (in frames) that move the music off both the beat grid and the half-beat grid.

    A shift ``s`` with ``0 < |s| < n_frames`` is allowed when its distance to every multiple of
    ``period / 2`` is at least ``tolerance`` frames: even multiples are whole beats (the shifted music
    would still be on the beat, MuVi Sec. 3.2), odd ones half beats (MuVi: "we also intentionally skipped
    the half-beat areas to avoid backbeat synchronization"). Exact multiples are always rejected.

    Args:
        n_frames: Clip length in video frames.
        period: Beat period in frames; ``None`` (no beat) allows nothing.
        tolerance: Minimum distance in frames to a beat or half beat.

    Returns:
        The allowed shifts, sorted, negative and positive (the set is symmetric). Empty when the clip is
        shorter than two frames, has no beat, or beats so fast that every shift is near a half beat
        (with the 1-frame default at 10 FPS: above about 150 BPM).
    """
    if period is None or n_frames < 2:
        return []
    if not period > 0:
        raise ValueError(f"period must be positive, got {period}")
    half = period / 2.0
    min_distance = max(tolerance - _DISTANCE_EPS, _DISTANCE_EPS)
    positive = [s for s in range(1, n_frames) if abs(s - round(s / half) * half) >= min_distance]
    return [-s for s in reversed(positive)] + positive


def temporal_shift(
    wave: np.ndarray, shift_frames: int, *, sample_rate: int = SAMPLE_RATE, fps: float = VIDEO_FPS
) -> np.ndarray:
    """Shifts the music by whole video frames, circularly (positive = later).

    A circular roll keeps music on every frame: padding with silence instead would let the encoder spot
    the negative from the silent stretch rather than from the asynchrony.

    Args:
        wave: Waveform ``(..., s)``.
        shift_frames: Shift in video frames.
        sample_rate: Sample rate of ``wave``.
        fps: Video frame rate.

    Returns:
        The shifted waveform, a new array.
    """
    return np.roll(wave, round(shift_frames * sample_rate / fps), axis=-1)


def equal_power_fade(length: int) -> tuple[np.ndarray, np.ndarray]:
    """Equal-power crossfade gains ``(fade_out, fade_in)``, ``cos`` and ``sin`` of a quarter turn.

    ``fade_out**2 + fade_in**2 == 1`` everywhere, so two uncorrelated signals keep their power through
    the transition (a linear crossfade dips by 3 dB in the middle). Sampled at bin centres so neither
    end is exactly 0 or 1.
    """
    theta = (np.arange(length, dtype=np.float64) + 0.5) * (math.pi / 2.0) / max(length, 1)
    return np.cos(theta), np.sin(theta)


def random_replacement(
    wave: np.ndarray,
    other: np.ndarray,
    *,
    generator: np.random.Generator,
    sample_rate: int = SAMPLE_RATE,
    margin: float = DEFAULT_NEGATIVES.margin,
    crossfade_seconds: float = DEFAULT_NEGATIVES.crossfade_seconds,
    min_fraction: float = DEFAULT_NEGATIVES.min_fraction,
    max_fraction: float = DEFAULT_NEGATIVES.max_fraction,
) -> tuple[np.ndarray, tuple[int, int]] | None:
    """Replaces a random inner segment with the same time span of another clip's music.

    The segment length is drawn uniformly in ``[min_fraction, max_fraction]`` of the clip, placed
    uniformly inside the clip minus ``margin`` at both ends (MuVi: "we leave 5% of the length at both
    ends") and within ``other``'s length. Its first and last ``crossfade_seconds`` are equal-power
    crossfades, so the result equals ``wave`` outside ``[start, end)`` and ``other`` strictly between
    the two crossfades.

    Args:
        wave: This clip's waveform ``(s,)``.
        other: Another clip's waveform ``(s_other,)``, from a different video.
        generator: Source of randomness.
        sample_rate: Sample rate of both waveforms.
        margin: Fraction of ``wave`` kept untouched at each end.
        crossfade_seconds: Length of each crossfade.
        min_fraction: Shortest segment, as a fraction of ``wave``.
        max_fraction: Longest segment, as a fraction of ``wave``.

    Returns:
        ``(negative, (start, end))`` with the replaced span in samples, or ``None`` when no segment fits
        (the clip or ``other`` too short to hold two crossfades).
    """
    if wave.ndim != 1 or other.ndim != 1:
        raise ValueError(f"expected mono waveforms, got shapes {wave.shape} and {other.shape}")
    length = wave.shape[0]
    keep = math.ceil(margin * length)
    lo, hi = keep, min(length - keep, other.shape[0])
    fade = round(crossfade_seconds * sample_rate)
    seg = min(round(generator.uniform(min_fraction, max_fraction) * length), hi - lo)
    if seg < 2 * fade + 1:
        return None
    start = int(generator.integers(lo, hi - seg, endpoint=True))
    end = start + seg
    fade_out, fade_in = equal_power_fade(fade)
    out = wave.copy()
    out[start:end] = other[start:end]
    head, tail = slice(start, start + fade), slice(end - fade, end)
    out[head] = wave[head] * fade_out + other[head] * fade_in
    out[tail] = wave[tail] * fade_in + other[tail] * fade_out
    return out, (start, end)


def build_negatives(
    waves: ArrayLike,
    *,
    generator: np.random.Generator,
    sample_rate: int = SAMPLE_RATE,
    fps: float = VIDEO_FPS,
    lengths: Sequence[int] | None = None,
    periods: Sequence[float | None] | None = None,
    config: NegativesConfig = DEFAULT_NEGATIVES,
) -> tuple[np.ndarray, np.ndarray]:
    """Builds the shift and replacement negatives of a batch; ``draw_negatives`` without the details.

    Returns:
        ``(waves, kinds)``: ``(b, 2, s)`` negatives (slot 0 shift, slot 1 replacement) and ``(b, 2)``
        ``NegativeKind`` values saying what each slot holds after the silence fallbacks.
    """
    negatives = draw_negatives(
        waves,
        generator=generator,
        sample_rate=sample_rate,
        fps=fps,
        lengths=lengths,
        periods=periods,
        config=config,
    )
    return negatives.waves, negatives.kinds


def draw_negatives(
    waves: ArrayLike,
    *,
    generator: np.random.Generator,
    sample_rate: int = SAMPLE_RATE,
    fps: float = VIDEO_FPS,
    lengths: Sequence[int] | None = None,
    periods: Sequence[float | None] | None = None,
    config: NegativesConfig = DEFAULT_NEGATIVES,
) -> Negatives:
    """Draws the shift and replacement negatives of a batch, falling back to silence per slot.

    Args:
        waves: Music of the positive pairs ``(b, s)`` (numpy, or a CPU tensor), zero-padded past each
            clip's length.
        generator: Source of randomness.
        sample_rate: Sample rate of ``waves``.
        fps: Video frame rate (shifts are whole frames).
        lengths: Valid samples per clip; ``None`` when no clip is padded. Shifts roll only the valid part
            and replacements stay inside it, so padding stays silent.
        periods: Beat periods in frames from ``minimal_beat_period`` (``None`` entries: no beat), e.g.
            computed in the dataset workers; ``None`` to compute them here.
        config: Negative construction settings.

    Returns:
        The negatives, their kinds, shifts and replaced segments.
    """
    waves = np.asarray(waves)
    if waves.ndim != 2:
        raise ValueError(f"expected waves (batch, samples), got shape {waves.shape}")
    b, total = waves.shape
    lengths = [total] * b if lengths is None else [int(x) for x in lengths]
    if len(lengths) != b or any(not 0 < x <= total for x in lengths):
        raise ValueError(f"need {b} lengths in (0, {total}], got {lengths}")
    if periods is None:
        periods = [
            minimal_beat_period(
                waves[i, : lengths[i]],
                sample_rate=sample_rate,
                fps=fps,
                hop_length=config.hop_length,
                max_bpm=config.max_bpm,
            )
            for i in range(b)
        ]
    if len(periods) != b:
        raise ValueError(f"need {b} periods, got {len(periods)}")

    out = np.zeros((b, NUM_NEGATIVES, total), dtype=waves.dtype)
    kinds = np.full((b, NUM_NEGATIVES), NegativeKind.SILENCE, dtype=np.int64)
    shifts = np.zeros(b, dtype=np.int64)
    segments = np.full((b, 2), -1, dtype=np.int64)
    for i in range(b):
        wave = waves[i, : lengths[i]]
        n_frames = int(lengths[i] * fps // sample_rate)
        choices = allowed_shifts(n_frames, periods[i], tolerance=config.shift_tolerance_frames)
        if choices:
            shifts[i] = choices[int(generator.integers(len(choices)))]
            out[i, SHIFT_SLOT, : lengths[i]] = temporal_shift(
                wave, int(shifts[i]), sample_rate=sample_rate, fps=fps
            )
            kinds[i, SHIFT_SLOT] = NegativeKind.SHIFT
        if b < 2:
            continue
        # MuVi samples every clip of a batch from a different video, so any other clip is foreign music.
        j = int(generator.integers(b - 1))
        j = j + 1 if j >= i else j
        replaced = random_replacement(
            wave,
            waves[j, : lengths[j]],
            generator=generator,
            sample_rate=sample_rate,
            margin=config.margin,
            crossfade_seconds=config.crossfade_seconds,
            min_fraction=config.min_fraction,
            max_fraction=config.max_fraction,
        )
        if replaced is not None:
            out[i, REPLACEMENT_SLOT, : lengths[i]], segments[i] = replaced
            kinds[i, REPLACEMENT_SLOT] = NegativeKind.REPLACEMENT
    return Negatives(waves=out, kinds=kinds, shifts=shifts, segments=segments)
