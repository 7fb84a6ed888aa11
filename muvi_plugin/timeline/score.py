"""Score chosen ranges of one timeline and write the new timeline (the API the CLI and batch call).

scorer = load_bundle()
result = score_timeline(scorer, TimelineJob("cut.otio", out="cut.muvi.otio", marker_name="music"))
result.out, [s.audio for s in result.scored], result.warnings
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import opentimelineio as otio

from muvi_plugin import guard, limits
from muvi_plugin.api import Scorer, ScoreRequest
from muvi_plugin.audio_io import AUDIO_FORMATS
from muvi_plugin.errors import MuviError
from muvi_plugin.pipeline import CancelFlag, Progress
from muvi_plugin.timeline.picture import TimelinePicture
from muvi_plugin.timeline.ranges import ScoreRange, select_ranges
from muvi_plugin.timeline.source import Relinker, media_url, read_timeline
from muvi_plugin.timeline.writing import (
    ADAPTERS,
    REFUSED,
    ScoredRange,
    audio_folder_for,
    with_score,
    write_timeline,
)


@dataclass(frozen=True)
class TimelineJob:
    """One timeline to score.

    Attributes:
        timeline: The input timeline file (never modified).
        out: The new timeline (`.otio` lossless; `.otioz`, `.otiod`, `.xml`, `.fcpxml`).
        ranges: Typed ranges (`muvi_plugin.timeline.ranges.parse_range`).
        marker_name: Score the ranges marked by markers of this name.
        marker_color: ... or of this colour (both: both must match).
        whole: Score the whole timeline. With nothing chosen: the timeline's in/out, else the whole.
        seed: The seed of every range (stored on each clip, so a take can be reproduced).
        steps: Euler steps; None for the bundle's default.
        guidance: Guidance scale; None for the bundle's default.
        loudness: Target LUFS; None for the bundle's default, NaN for none.
        search_roots: Folders where moved media is looked for (`Relinker`).
        missing: "error" or "black" for media that cannot be found.
        audio_dir: Where the audio files go; None for `<out stem>.audio/` next to `out` (`audio_folder_for`).
        audio_format: ".wav" or ".flac".
        edl_rate: The frame rate of an EDL input (EDLs do not say; OTIO assumes 24).
    """

    timeline: Path
    out: Path
    ranges: tuple[str, ...] = ()
    marker_name: str | None = None
    marker_color: str | None = None
    whole: bool = False
    seed: int = 0
    steps: int | None = None
    guidance: float | None = None
    loudness: float | None = None
    search_roots: tuple[Path, ...] = field(default_factory=tuple)
    missing: str = "error"
    audio_dir: Path | None = None
    audio_format: str = ".wav"
    edl_rate: float | None = None

    @property
    def audio_folder(self) -> Path:
        return self.audio_dir if self.audio_dir is not None else audio_folder_for(self.out)


@dataclass(frozen=True)
class TimelineResult:
    """What `score_timeline` did: the new timeline, one entry per range, and any warnings."""

    out: Path
    scored: tuple[ScoredRange, ...]
    warnings: tuple[str, ...] = ()


def check_output(job: TimelineJob) -> None:
    """Refuse a bad job before any work: a setting out of range, a refused or unknown format, the input
    as output, an output in a missing folder or over a folder muvi did not create (`muvi_plugin.guard`)."""
    check_settings(job)
    check_format(job)
    guard.check_outputs({"--out": job.out}, inputs=[("timeline", job.timeline)], folders=_folder_outputs(job))
    if not job.audio_folder.is_dir():
        guard.check_folder(job.audio_folder, what="audio folder")


def check_format(job: TimelineJob) -> None:
    """A timeline format muvi writes (and keeps the music in), and an audio format it writes."""
    suffix = Path(job.out).suffix.lower()
    if suffix in REFUSED:
        raise MuviError(f"{job.out}: {REFUSED[suffix]}")
    if suffix not in ADAPTERS:
        raise MuviError(f"{job.out}: unsupported timeline format (use one of {', '.join(ADAPTERS)})")
    if job.audio_format not in AUDIO_FORMATS:
        raise MuviError(f"{job.audio_format}: unsupported audio format (use {' or '.join(AUDIO_FORMATS)})")


def _folder_outputs(job: TimelineJob) -> list[str]:
    return ["--out"] if ADAPTERS.get(Path(job.out).suffix.lower()) == "otiod" else []


def check_settings(job: TimelineJob) -> None:
    """Every setting of the job within its documented range (`muvi_plugin.limits`), as `ScoreRequest`."""
    ScoreRequest(job.timeline, seed=job.seed, steps=job.steps, guidance=job.guidance).validate()
    limits.loudness(job.loudness)
    if job.edl_rate is not None:
        limits.number("EDL rate", job.edl_rate, limits.EDL_RATE, unit="frames/s")


def media_files(timeline: otio.schema.Timeline, relinker: Relinker) -> list[Path]:
    """Every existing media file the timeline's clips reference (an image sequence: its first image)."""
    found = (relinker.find(url) for c in timeline.find_clips() if (url := media_url(c)) is not None)
    return sorted({path for path in found if path is not None})


def open_job(job: TimelineJob) -> tuple[otio.schema.Timeline, TimelinePicture, list[ScoreRange]]:
    """Read the timeline, choose its ranges and check their media (all before any scoring)."""
    check_output(job)
    timeline = read_timeline(job.timeline, edl_rate=job.edl_rate)
    relinker = Relinker(base=Path(job.timeline).resolve().parent, search_roots=tuple(job.search_roots))
    name = os.fspath(Path(job.timeline).resolve())
    picture = TimelinePicture(timeline, relinker=relinker, missing=job.missing, name=name)
    ranges = select_ranges(
        timeline,
        ranges=job.ranges,
        marker_name=job.marker_name,
        marker_color=job.marker_color,
        whole_timeline=job.whole,
    )
    for r in ranges:
        picture.check_media(*r.seconds)
    # No output may be the timeline or any of its media (through links too), nor two outputs one file.
    inputs = [("timeline", job.timeline), *(("media file", path) for path in media_files(timeline, relinker))]
    outputs: dict[str, Path] = {"--out": Path(job.out)}
    if job.audio_folder.is_dir():  # else muvi creates it, and nothing in it can be an input
        outputs |= {f"audio of range {r.name!r}": audio_path(job, i, r) for i, r in enumerate(ranges)}
    guard.check_outputs(outputs, inputs, folders=_folder_outputs(job))
    return timeline, picture, ranges


def audio_path(job: TimelineJob, index: int, score_range: ScoreRange) -> Path:
    """`<audio folder>/<index>-<range name>.wav`: stable, so a re-run finds what it made."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", score_range.name).strip("_") or "range"
    return job.audio_folder / f"{index:02d}-{slug}{job.audio_format}"


def score_range(
    scorer: Scorer,
    picture: TimelinePicture,
    score_range: ScoreRange,
    *,
    job: TimelineJob,
    path: Path,
    progress: Progress | None = None,
    cancel: CancelFlag | None = None,
) -> ScoredRange:
    """Music for one range, written atomically to `path`, with its take record in the metadata.

    The metadata is the take's `ScoreReport.to_dict()` (read back with `ScoreReport.from_dict`) plus the
    timeline's own keys: `timeline`, `range`, `rate`, `sample_rate`, `warnings`.
    """
    start, end = score_range.seconds
    request = ScoreRequest(
        picture,
        start=start,
        end=end,
        seed=job.seed,
        steps=job.steps,
        guidance=job.guidance,
        loudness=job.loudness,
    )
    result = scorer.score(request, progress=progress, cancel=cancel)
    guard.make_folder(path.parent)  # its parent must exist: muvi creates one folder, never a tree
    if path.exists() and not guard.made_by_muvi(path.parent):
        raise MuviError(f"{path}: already exists in a folder muvi did not create; muvi never overwrites it")
    result.write(path)
    # The take's record (ScoreReport.to_dict: settings, mastering reached, versions) plus where it sits.
    metadata: dict[str, Any] = {
        **result.report.to_dict(),
        "timeline": picture.name,
        "range": {"name": score_range.name, "start_frame": score_range.start, "frames": score_range.frames},
        "rate": score_range.rate,
        "sample_rate": result.sample_rate,
        "warnings": list(picture.warnings),
    }
    return ScoredRange(score_range, path, metadata)


def score_timeline(
    scorer: Scorer,
    job: TimelineJob,
    *,
    progress: Progress | None = None,
    cancel: CancelFlag | None = None,
    on_range: Callable[[ScoredRange], None] | None = None,
) -> TimelineResult:
    """Score every chosen range of a timeline and write the new timeline.

    Args:
        scorer: A loaded bundle.
        job: What to score and where to write it.
        progress: `progress(stage, fraction)` over the whole job.
        cancel: Checked between stages and steps.
        on_range: Called after each range's audio is written.

    Raises:
        MuviError: A bad timeline, range, output or setting; `MediaError` for missing media (named).
    """
    timeline, picture, ranges = open_job(job)
    scored = []
    for index, r in enumerate(ranges):

        def part(stage: str, fraction: float, index: int = index) -> None:
            if progress is not None:
                progress(stage, (index + fraction) / len(ranges))

        scored.append(
            score_range(
                scorer, picture, r, job=job, path=audio_path(job, index, r), progress=part, cancel=cancel
            )
        )
        if on_range is not None:
            on_range(scored[-1])
    out = write_timeline(with_score(timeline, scored), job.out, source=Path(job.timeline))
    return TimelineResult(out, tuple(scored), tuple(picture.warnings))


__all__ = ["TimelineJob", "TimelineResult", "audio_path", "open_job", "score_range", "score_timeline"]
