"""Score chosen ranges of a timeline: the one timeline API every front end shares.

In memory (the OTIO hook, and anything holding a timeline object):

    scorer = load_bundle()
    scored = score_timeline(scorer, timeline, TimelineSettings(marker_name="music"), audio_dir=Path("music"))
    scored.timeline, [s.audio for s in scored.scored], scored.warnings   # a new timeline; the input untouched

From a file to a file (`muvi timeline score`; `muvi batch` plans each timeline once and hands its workers
the ranges, `muvi_plugin.timeline.batch`):

    result = score_job(scorer, TimelineJob("cut.otio", out="cut.muvi.otio", marker_name="music"))
    result.out, [s.audio for s in result.scored], result.warnings

Both go through `plan_timeline` (choose the ranges, check their media, name their audio files: all before
any scoring) and `score_range` (one range: score, write its audio atomically, keep its take record).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
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


@dataclass(frozen=True, kw_only=True)
class Choices:
    """What to score in a timeline and how: shared by `TimelineSettings` (in memory) and `TimelineJob`
    (a file), keyword-only.

    Attributes:
        ranges: Typed ranges (`muvi_plugin.timeline.ranges.parse_range`).
        marker_name: Score the ranges marked by markers of this name.
        marker_color: ... or of this colour (both: both must match).
        whole: Score the whole timeline. With nothing chosen: the timeline's in/out, else the whole.
        seed: The seed of every range (stored on each clip, so a take can be reproduced).
        steps: Euler steps; None for the bundle's default.
        guidance: Guidance scale; None for the bundle's default.
        loudness: Target LUFS; None for the bundle's default, NaN for none.
        missing: "error" or "black" for media that cannot be found.
        search_roots: Folders where moved media is looked for (`Relinker`).
        audio_format: ".wav" or ".flac".
    """

    ranges: tuple[str, ...] = ()
    marker_name: str | None = None
    marker_color: str | None = None
    whole: bool = False
    seed: int = 0
    steps: int | None = None
    guidance: float | None = None
    loudness: float | None = None
    missing: str = "error"
    search_roots: tuple[Path, ...] = field(default_factory=tuple)
    audio_format: str = ".wav"


@dataclass(frozen=True, kw_only=True)
class TimelineSettings(Choices):
    """`Choices` for a timeline object; the timeline itself and where its music goes are passed apart.

    Attributes:
        base: The folder relative media references are relative to (a timeline file's folder), or None.
        name: What the takes' records call the timeline (its file, usually); None for its own name.
    """

    base: Path | None = None
    name: str | None = None

    def check(self) -> None:
        """Every setting within its documented range (`muvi_plugin.limits`), as `ScoreRequest`, and an
        audio format muvi writes; before any work."""
        ScoreRequest(Path(), seed=self.seed, steps=self.steps, guidance=self.guidance).validate()
        limits.loudness(self.loudness)
        if self.audio_format not in AUDIO_FORMATS:
            raise MuviError(
                f"{self.audio_format}: unsupported audio format (use {' or '.join(AUDIO_FORMATS)})"
            )

    @property
    def relinker(self) -> Relinker:
        return Relinker(base=self.base, search_roots=tuple(self.search_roots))

    def picture(self, timeline: otio.schema.Timeline) -> TimelinePicture:
        """The timeline's picture as these settings find its media (nothing is checked yet)."""
        return TimelinePicture(timeline, relinker=self.relinker, missing=self.missing, name=self.name)


@dataclass(frozen=True)
class TimelinePlan:
    """A timeline with its ranges chosen and their media checked: ready to score, range by range.

    Attributes:
        timeline: The timeline (never modified).
        picture: Its picture (`TimelinePicture`).
        ranges: The ranges to score.
        settings: How.
        audio_dir: Where each range's audio goes (`audio_path`).
    """

    timeline: otio.schema.Timeline
    picture: TimelinePicture
    ranges: tuple[ScoreRange, ...]
    settings: TimelineSettings
    audio_dir: Path

    def audio_path(self, index: int) -> Path:
        """`<audio dir>/<index>-<range name><format>`: stable, so a re-run finds what it made."""
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", self.ranges[index].name).strip("_") or "range"
        return self.audio_dir / f"{index:02d}-{slug}{self.settings.audio_format}"


@dataclass(frozen=True)
class ScoredTimeline:
    """What `score_timeline` made: the new timeline (a copy with the music tracks), one entry per range,
    and any warnings (clips scored as black, effects not applied)."""

    timeline: otio.schema.Timeline
    scored: tuple[ScoredRange, ...]
    warnings: tuple[str, ...] = ()


def plan_timeline(
    timeline: otio.schema.Timeline, settings: TimelineSettings, audio_dir: str | os.PathLike
) -> TimelinePlan:
    """Check the settings, choose the ranges and check their media (all before any scoring).

    Raises:
        MuviError: A setting out of range, a bad range or no range; `MediaError` for missing media (named).
    """
    settings.check()
    picture = settings.picture(timeline)
    ranges = select_ranges(
        timeline,
        ranges=settings.ranges,
        marker_name=settings.marker_name,
        marker_color=settings.marker_color,
        whole_timeline=settings.whole,
    )
    for r in ranges:
        picture.check_media(*r.seconds)
    return TimelinePlan(timeline, picture, tuple(ranges), settings, Path(audio_dir))


def score_range(
    scorer: Scorer,
    picture: TimelinePicture,
    score_range: ScoreRange,
    settings: TimelineSettings,
    path: Path,
    *,
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
        seed=settings.seed,
        steps=settings.steps,
        guidance=settings.guidance,
        loudness=settings.loudness,
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


def score_plan(
    scorer: Scorer,
    plan: TimelinePlan,
    *,
    progress: Progress | None = None,
    cancel: CancelFlag | None = None,
    on_range: Callable[[ScoredRange], None] | None = None,
) -> ScoredTimeline:
    """Score every range of a plan (`plan_timeline`); the new timeline is returned, not written."""
    scored = []
    for index, r in enumerate(plan.ranges):

        def part(stage: str, fraction: float, index: int = index) -> None:
            if progress is not None:
                progress(stage, (index + fraction) / len(plan.ranges))

        path = plan.audio_path(index)
        scored.append(score_range(scorer, plan.picture, r, plan.settings, path, progress=part, cancel=cancel))
        if on_range is not None:
            on_range(scored[-1])
    return ScoredTimeline(with_score(plan.timeline, scored), tuple(scored), tuple(plan.picture.warnings))


def score_timeline(
    scorer: Scorer,
    timeline: otio.schema.Timeline,
    settings: TimelineSettings,
    audio_dir: str | os.PathLike,
    *,
    progress: Progress | None = None,
    cancel: CancelFlag | None = None,
    on_range: Callable[[ScoredRange], None] | None = None,
) -> ScoredTimeline:
    """Score the chosen ranges of a timeline in memory: the one timeline API.

    Args:
        scorer: A loaded bundle.
        timeline: The timeline (never modified).
        settings: What to score and how.
        audio_dir: Where the audio files go (created if missing; its parent must exist).
        progress: `progress(stage, fraction)` over the whole timeline.
        cancel: Checked between stages and steps.
        on_range: Called after each range's audio is written.

    Returns:
        A new timeline with the music on new audio tracks, the scored ranges, the warnings.

    Raises:
        MuviError: A bad range or setting; `MediaError` for missing media (named); `Cancelled`.
    """
    plan = plan_timeline(timeline, settings, Path(audio_dir))
    return score_plan(scorer, plan, progress=progress, cancel=cancel, on_range=on_range)


@dataclass(frozen=True)
class TimelineJob(Choices):
    """One timeline file to score into a new one: `Choices` (keywords) and where things are.

    Attributes:
        timeline: The input timeline file (never modified).
        out: The new timeline (`.otio` lossless; `.otioz`, `.otiod`, `.xml`, `.fcpxml`).
        audio_dir: Where the audio files go; None for `<out stem>.audio/` next to `out` (`audio_folder_for`).
        edl_rate: The frame rate of an EDL input (EDLs do not say; OTIO assumes 24).
    """

    timeline: Path
    out: Path
    audio_dir: Path | None = None
    edl_rate: float | None = None

    @property
    def audio_folder(self) -> Path:
        return self.audio_dir if self.audio_dir is not None else audio_folder_for(self.out)

    @property
    def settings(self) -> TimelineSettings:
        """The job's settings; relative media is relative to the timeline file's folder."""
        source = Path(self.timeline).resolve()
        choices = {f.name: getattr(self, f.name) for f in fields(Choices)}
        return TimelineSettings(**choices, base=source.parent, name=os.fspath(source))


@dataclass(frozen=True)
class TimelineResult:
    """What `score_job` did: the new timeline file, one entry per range, and any warnings."""

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


def _folder_outputs(job: TimelineJob) -> list[str]:
    return ["--out"] if ADAPTERS.get(Path(job.out).suffix.lower()) == "otiod" else []


def check_settings(job: TimelineJob) -> None:
    """Every setting of the job within its documented range (`TimelineSettings.check`, the EDL rate)."""
    job.settings.check()
    if job.edl_rate is not None:
        limits.number("EDL rate", job.edl_rate, limits.EDL_RATE, unit="frames/s")


def media_files(timeline: otio.schema.Timeline, relinker: Relinker) -> list[Path]:
    """Every existing media file the timeline's clips reference (an image sequence: its first image)."""
    found = (relinker.find(url) for c in timeline.find_clips() if (url := media_url(c)) is not None)
    return sorted({path for path in found if path is not None})


def open_job(job: TimelineJob) -> TimelinePlan:
    """Read the timeline file once and plan it (`plan_timeline`); no output may be an input."""
    check_output(job)
    timeline = read_timeline(job.timeline, edl_rate=job.edl_rate)
    plan = plan_timeline(timeline, job.settings, job.audio_folder)
    # No output may be the timeline or any of its media (through links too), nor two outputs one file.
    inputs = [("timeline", job.timeline)]
    inputs += [("media file", path) for path in media_files(timeline, plan.settings.relinker)]
    outputs: dict[str, Path] = {"--out": Path(job.out)}
    if job.audio_folder.is_dir():  # else muvi creates it, and nothing in it can be an input
        outputs |= {f"audio of range {r.name!r}": plan.audio_path(i) for i, r in enumerate(plan.ranges)}
    guard.check_outputs(outputs, inputs, folders=_folder_outputs(job))
    return plan


def score_job(
    scorer: Scorer,
    job: TimelineJob,
    *,
    plan: TimelinePlan | None = None,
    progress: Progress | None = None,
    cancel: CancelFlag | None = None,
    on_range: Callable[[ScoredRange], None] | None = None,
) -> TimelineResult:
    """Score a timeline file's ranges and write the new timeline file (`muvi timeline score`).

    Args:
        plan: `open_job(job)` when the caller already opened it (to fail before loading a bundle).

    Raises:
        MuviError: A bad timeline, range, output or setting; `MediaError` for missing media (named).
    """
    plan = plan if plan is not None else open_job(job)
    scored = score_plan(scorer, plan, progress=progress, cancel=cancel, on_range=on_range)
    out = write_timeline(scored.timeline, job.out, source=Path(job.timeline))
    return TimelineResult(out, scored.scored, scored.warnings)


__all__ = [
    "Choices",
    "ScoredTimeline",
    "TimelineJob",
    "TimelinePlan",
    "TimelineResult",
    "TimelineSettings",
    "open_job",
    "plan_timeline",
    "score_job",
    "score_plan",
    "score_range",
    "score_timeline",
]
