"""Beat tracking and the beat-synchronisation metrics MuVi reports (BCS, BHS) plus their capped variants.

MuVi (Sec. 4.1, App. E) tracks beats in the generated and the reference music with Ellis's dynamic-
programming beat tracker driven by a *time-varying* tempo ("the sliding window size is 8 seconds, the
stride is 512 frames, and the BPM range is from 30 to 240"), then pairs generated beats with reference
beats one-to-one within 100 ms by bipartite matching. In librosa those settings read:

- **stride 512** -> ``hop_length=512`` samples at ``ANALYSIS_RATE`` (22,050 Hz, librosa's default rate, so
  one onset-envelope frame is 23.2 ms). Every input is resampled to that rate first, so the numbers do not
  depend on the rate a file was written at.
- **8 s sliding window** -> ``librosa.feature.tempo(ac_size=8.0, aggregate=None)``: the tempogram's
  autocorrelation window is 8 s, and ``aggregate=None`` keeps one tempo per frame instead of one per file.
- **BPM 30-240** -> ``max_tempo=240`` and a prior that is zero outside [30, 240]. Inside the range the prior
  is librosa's own default (log-normal around 120 BPM, one octave wide), so the range only removes tempi,
  it does not change which of two admissible octaves wins.
- **Ellis's tracker** -> ``librosa.beat.beat_track(bpm=<per-frame tempo>)`` with librosa's defaults
  otherwise (tightness 100; weak leading and trailing beats trimmed).

Metric names (lists of beat times in seconds; "matched" is the size of the maximum one-to-one matching):

- ``bcs`` = 100 * generated / reference: MuVi's Beats Coverage Score; it can exceed 100.
- ``bhs`` = 100 * matched / reference: MuVi's Beats Hit Score.
- ``precision`` = matched / generated, ``recall`` = matched / reference, ``f_measure``: the capped variants,
  equal to ``mir_eval.beat.f_measure(reference, generated, f_measure_threshold=0.1)`` on the same lists
  (mir_eval's default window is 70 ms, and its users usually call ``trim_beats`` first, which drops the
  first 5 s: neither is done here).

Empty lists: both empty -> every score is perfect (100 / 1.0: nothing to cover, nothing spurious). No
reference beats but some generated -> ``bcs``, ``bhs`` and ``recall`` are undefined (NaN) and
``precision`` = ``f_measure`` = 0. No generated beats but some reference -> ``bcs`` = ``bhs`` = ``recall``
= ``f_measure`` = 0 and ``precision`` is undefined (NaN). (mir_eval returns 0 for every empty case.)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

ANALYSIS_RATE = 22_050  # Hz; librosa's default analysis rate
HOP = 512  # samples at ANALYSIS_RATE between onset-envelope frames: MuVi's "stride is 512 frames"
TEMPO_WINDOW = 8.0  # seconds of tempogram autocorrelation: MuVi's "sliding window size is 8 seconds"
MIN_BPM = 30.0
MAX_BPM = 240.0
TOLERANCE = 0.1  # seconds: MuVi App. E, "a 100ms tolerance"
_PRIOR_CENTRE_BPM = 120.0  # librosa.feature.tempo's default start_bpm ...
_PRIOR_OCTAVES = 1.0  # ... and std_bpm: its default log-normal prior, kept inside the range


@dataclass(frozen=True)
class BeatScores:
    """Beat agreement between a generated and a reference beat list.

    Attributes:
        bcs: Beats Coverage Score, 100 * generated / reference (MuVi; can exceed 100).
        bhs: Beats Hit Score, 100 * matched / reference (MuVi).
        precision: matched / generated.
        recall: matched / reference.
        f_measure: harmonic mean of precision and recall.
        generated: number of generated beats.
        reference: number of reference beats.
        matched: size of the maximum one-to-one matching within the tolerance.
        tolerance: the matching window in seconds (a pair counts when |g - r| <= tolerance).
    """

    bcs: float
    bhs: float
    precision: float
    recall: float
    f_measure: float
    generated: int
    reference: int
    matched: int
    tolerance: float

    def as_dict(self) -> dict[str, float | int]:
        """The fields as a flat dict (NaN where a score is undefined)."""
        return asdict(self)


def analysis_wave(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono float32 `wave` resampled to `ANALYSIS_RATE` (channels first when 2-D are averaged)."""
    import librosa

    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim == 2:
        wave = wave.mean(axis=0)
    if wave.ndim != 1:
        raise ValueError(f"wave must be (samples,) or (channels, samples), got shape {wave.shape}")
    if sample_rate != ANALYSIS_RATE:
        wave = librosa.resample(wave, orig_sr=sample_rate, target_sr=ANALYSIS_RATE)
    return np.ascontiguousarray(wave, dtype=np.float32)


def onset_envelope(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """librosa's spectral-flux onset strength of `wave`, one value per `HOP` samples at `ANALYSIS_RATE`."""
    import librosa

    return librosa.onset.onset_strength(y=analysis_wave(wave, sample_rate), sr=ANALYSIS_RATE, hop_length=HOP)


def tempo_curve(envelope: np.ndarray) -> np.ndarray:
    """Time-varying tempo in BPM, one value per onset-envelope frame (8 s window, 30-240 BPM).

    Args:
        envelope: an `onset_envelope` result.

    Returns:
        float array with the envelope's length; every value lies in [MIN_BPM, MAX_BPM].
    """
    import librosa

    return librosa.feature.tempo(
        onset_envelope=envelope,
        sr=ANALYSIS_RATE,
        hop_length=HOP,
        ac_size=TEMPO_WINDOW,
        max_tempo=MAX_BPM,
        aggregate=None,
        prior=_RangePrior(),
    )


def global_tempo(envelope: np.ndarray) -> float:
    """One tempo in BPM for the whole envelope: the tempogram averaged over time, same window and range."""
    import librosa

    tempo = librosa.feature.tempo(
        onset_envelope=envelope,
        sr=ANALYSIS_RATE,
        hop_length=HOP,
        ac_size=TEMPO_WINDOW,
        max_tempo=MAX_BPM,
        aggregate=np.mean,
        prior=_RangePrior(),
    )
    return float(tempo.reshape(-1)[0])


def track_beats(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """Beat times of `wave` in seconds: Ellis's DP tracker driven by the time-varying tempo.

    Args:
        wave: float audio, (samples,) or (channels, samples).
        sample_rate: its rate in Hz (resampled to `ANALYSIS_RATE` for the analysis).

    Returns:
        Sorted float64 beat times in seconds from the start of `wave`; empty for silence.
    """
    import librosa

    envelope = onset_envelope(wave, sample_rate)
    if not np.any(envelope > 0):
        return np.zeros(0)  # silence: no onset strength, no beats (librosa returns int frames here)
    _, beats = librosa.beat.beat_track(
        onset_envelope=envelope, sr=ANALYSIS_RATE, hop_length=HOP, bpm=tempo_curve(envelope), units="time"
    )
    return np.asarray(beats, dtype=np.float64)


def match_beats(
    generated: np.ndarray | list[float], reference: np.ndarray | list[float], tolerance: float = TOLERANCE
) -> list[tuple[int, int]]:
    """A maximum one-to-one matching of generated to reference beats with |g - r| <= `tolerance`.

    Greedy on sorted times: take generated beats g_1 <= g_2 <= ... in order and pair each with the
    earliest still-free reference beat inside its window W_k = [g_k - tol, g_k + tol].

    Why this is a maximum matching: by induction, some maximum matching M agrees with the greedy on
    g_1..g_{k-1}; show one agrees on g_k too. Both leave the same reference beats free before g_k. If the
    greedy leaves g_k unpaired, no free beat lies in W_k, so M leaves it unpaired too. Otherwise greedy
    pairs g_k with r. (a) M leaves g_k unpaired: r is then paired in M (else M + (g_k, r) is larger) with
    a later g'; give r to g_k instead, same size. (b) M pairs g_k with r' != r: r < r', r being the
    earliest free beat in W_k. If r is free in M, move g_k to r. Else M pairs r with a later g' >= g_k;
    swap partners: (g', r') is valid because g' - tol <= r < r' <= g_k + tol <= g' + tol. Every step keeps
    the size, so the greedy matching is maximum. And since the chosen beat is always the earliest free one
    and windows only move right, the free beats still useful lie after one cursor: one pass, O(n + m)
    after sorting. The tests check it against `scipy.optimize.linear_sum_assignment` and
    `mir_eval.util.match_events`.

    Args:
        generated: generated beat times in seconds (any order).
        reference: reference beat times in seconds (any order).
        tolerance: the window in seconds (a pair counts when |g - r| <= tolerance, as in mir_eval).

    Returns:
        (i, j) pairs: generated[i] is matched with reference[j], indices into the lists as given, sorted
        by i.
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    gen = np.asarray(generated, dtype=np.float64).reshape(-1)
    ref = np.asarray(reference, dtype=np.float64).reshape(-1)
    gen_order = np.argsort(gen, kind="stable")
    ref_order = np.argsort(ref, kind="stable")
    pairs = []
    j = 0
    for i in gen_order:
        g = gen[i]
        while j < len(ref_order) and ref[ref_order[j]] < g - tolerance:
            j += 1  # too early for this window, so for every later one too
        if j < len(ref_order) and abs(ref[ref_order[j]] - g) <= tolerance:
            pairs.append((int(i), int(ref_order[j])))
            j += 1
    return sorted(pairs)


def beat_scores(
    generated: np.ndarray | list[float], reference: np.ndarray | list[float], tolerance: float = TOLERANCE
) -> BeatScores:
    """BCS, BHS and precision / recall / F-measure of `generated` beats against `reference` beats.

    Args:
        generated: generated beat times in seconds.
        reference: reference beat times in seconds.
        tolerance: matching window in seconds (MuVi: 0.1).

    Returns:
        The scores; empty-list cases as the module docstring defines them.
    """
    n_gen = int(np.size(generated))
    n_ref = int(np.size(reference))
    matched = len(match_beats(generated, reference, tolerance))
    counts = {"generated": n_gen, "reference": n_ref, "matched": matched, "tolerance": float(tolerance)}
    if n_gen == 0 and n_ref == 0:
        return BeatScores(bcs=100.0, bhs=100.0, precision=1.0, recall=1.0, f_measure=1.0, **counts)
    nan = math.nan
    precision = matched / n_gen if n_gen else nan
    recall = matched / n_ref if n_ref else nan
    f_measure = 2 * precision * recall / (precision + recall) if n_gen and n_ref and matched else 0.0
    return BeatScores(
        bcs=100.0 * n_gen / n_ref if n_ref else nan,
        bhs=100.0 * recall if n_ref else nan,
        precision=precision,
        recall=recall,
        f_measure=f_measure,
        **counts,
    )


class _RangePrior:
    """librosa's default tempo prior (log-normal around 120 BPM) set to zero outside [MIN_BPM, MAX_BPM].

    `librosa.feature.tempo` only calls ``prior.logpdf(bpms)``, so this duck-types a scipy distribution.
    """

    def logpdf(self, bpm: np.ndarray) -> np.ndarray:
        bpm = np.asarray(bpm, dtype=np.float64)
        inside = (bpm >= MIN_BPM) & (bpm <= MAX_BPM)
        with np.errstate(divide="ignore", invalid="ignore"):  # the 0-lag bin is an infinite tempo
            log_normal = -0.5 * ((np.log2(bpm) - np.log2(_PRIOR_CENTRE_BPM)) / _PRIOR_OCTAVES) ** 2
        return np.where(inside, log_normal, -np.inf)
