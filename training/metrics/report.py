"""Writing the evaluation: a JSON report (atomic) and one PNG timeline per generated file.

JSON has no NaN or infinity, and a bare ``null`` does not say why a number is missing. So a value that is
not a finite number is written as ``null`` next to a ``<key>_note`` that says why: the reason given with
`NotComputed` ("not computed: no VGGish weights given (--vggish-weights)"), or "undefined (NaN)" /
"not finite (-inf)" for a metric that came out so (a BHS with no reference beats, the loudness of
silence).

Files are written to a temporary file in the target folder and renamed over the target, so a reader
never sees half a report and a failure leaves no partial file.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from muvi_plugin.atomic import atomic_path


@dataclass(frozen=True)
class NotComputed:
    """A metric left out, and why (written as ``null`` with a ``<key>_note``)."""

    reason: str


def json_ready(value: Any) -> Any:
    """`value` with numpy types made plain, and every non-finite number or `NotComputed` made ``None``.

    In a dict, each such value also gets a ``<key>_note`` entry with the reason (a note already there is
    kept). In a list, it just becomes ``None``.
    """
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out[str(key)] = json_ready(item)
            note = _note(item)
            if note is not None:
                out.setdefault(f"{key}_note", note)
        return out
    if isinstance(value, list | tuple | np.ndarray):
        return [json_ready(item) for item in value]
    if isinstance(value, NotComputed):
        return None
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value


def _note(value: Any) -> str | None:
    if isinstance(value, NotComputed):
        return value.reason
    if isinstance(value, float | np.floating) and not math.isfinite(value):
        return "undefined (NaN)" if math.isnan(value) else f"not finite ({'-' if value < 0 else ''}inf)"
    return None


def _atomic_write(path: Path, write: Callable[[str], None]) -> Path:
    """Call ``write(temporary_path)``, then rename the temporary file over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        write(os.fspath(tmp))
    return path


def write_report(path: str | os.PathLike, report: Mapping[str, Any]) -> Path:
    """Write `report` as indented JSON, atomically, after `json_ready`; returns the path."""
    text = json.dumps(json_ready(report), indent=2, allow_nan=False) + "\n"

    def write(tmp: str) -> None:
        Path(tmp).write_text(text, encoding="utf-8")

    return _atomic_write(Path(path), write)


def plot_timeline(
    path: str | os.PathLike,
    *,
    wave: np.ndarray,
    sample_rate: int,
    title: str,
    beats: np.ndarray | None = None,
    onsets: np.ndarray | None = None,
    reference_beats: np.ndarray | None = None,
    cuts: np.ndarray | None = None,
    motion: np.ndarray | None = None,
) -> Path:
    """One PNG: waveform, mel spectrogram and event rows on one shared time axis (seconds from sample 0).

    The bottom panel has one row per event list given: the video's cuts and motion peaks, the music's
    onsets and beats, the reference's beats. Cuts are also drawn as lines across the waveform, so where
    the music does something at a cut is visible at a glance.

    Args:
        path: The output file (.png).
        wave: The music, (samples,) or (channels, samples).
        sample_rate: Its rate in Hz.
        title: Figure title (the file's name).
        beats: Generated beat times in seconds.
        onsets: Generated onset times.
        reference_beats: Reference beat times.
        cuts: Video cut times.
        motion: Video motion-peak times.
    """
    import librosa
    import matplotlib

    matplotlib.use("Agg")  # files only: no display, no GUI toolkit
    from matplotlib.figure import Figure

    mono = np.asarray(wave, dtype=np.float32)
    mono = mono.mean(axis=0) if mono.ndim == 2 else mono
    duration = mono.shape[0] / sample_rate
    rows = [  # bottom row first: the video's rows end up on top, next to the waveform
        (label, np.asarray(times, dtype=np.float64), colour)
        for label, times, colour in (
            ("reference beats", reference_beats, "tab:purple"),
            ("music beats", beats, "tab:green"),
            ("music onsets", onsets, "tab:blue"),
            ("video motion", motion, "tab:orange"),
            ("video cuts", cuts, "tab:red"),
        )
        if times is not None
    ]
    figure = Figure(figsize=(12, 6), layout="constrained")
    axes = figure.subplots(3, 1, sharex=True, height_ratios=(1.0, 1.6, 0.3 + 0.25 * max(1, len(rows))))
    figure.suptitle(title)

    step = max(1, mono.shape[0] // 20_000)  # plot at most ~20k points: the shape is what matters
    axes[0].plot(np.arange(0, mono.shape[0], step) / sample_rate, mono[::step], linewidth=0.5, color="0.2")
    axes[0].set_ylabel("amplitude")
    axes[0].set_ylim(-1.05, 1.05)

    hop = 512
    mel = librosa.feature.melspectrogram(y=mono, sr=sample_rate, hop_length=hop, n_mels=96)
    db = librosa.power_to_db(mel, ref=np.max(mel) if mel.size and np.max(mel) > 0 else 1.0, top_db=80.0)
    axes[1].imshow(
        db, origin="lower", aspect="auto", cmap="magma", extent=(0.0, mel.shape[1] * hop / sample_rate, 0, 96)
    )
    axes[1].set_ylabel("mel band")

    for row, (_, times, colour) in enumerate(rows):
        axes[2].vlines(times, row + 0.1, row + 0.9, color=colour, linewidth=1.2)
    axes[2].set_yticks([row + 0.5 for row in range(len(rows))], [label for label, _, _ in rows])
    axes[2].set_ylim(0, max(1, len(rows)))
    axes[2].set_xlabel("time (s)")
    axes[2].set_xlim(0.0, duration)
    if cuts is not None:
        for time in np.asarray(cuts, dtype=np.float64):
            axes[0].axvline(time, color="tab:red", linewidth=0.8, alpha=0.6)

    def write(tmp: str) -> None:
        figure.savefig(tmp, format="png", dpi=80)

    return _atomic_write(Path(path), write)
