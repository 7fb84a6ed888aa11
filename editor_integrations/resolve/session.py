"""Score the current timeline's In/Out inside Resolve: render the range, score it out of process, place it.

    result = score_in_out(resolve, Options(takes_dir=Path("~/muvi takes").expanduser()),
                          progress=lambda stage, fraction: ..., cancel=threading.Event())

The user's In/Out marks are saved first and put back after the render (the Deliver page can clobber
them). A cancel stops the render or muvi (`muvi_plugin.host`) and leaves no clip and no file. The
rendered picture is kept beside the take, so the take's record can make it again.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from editor_integrations.resolve.frames import FrameRange, restore_marks, saved_marks, score_range
from editor_integrations.resolve.host import Project, Resolve, ResolveScriptError, Timeline, current_timeline
from editor_integrations.resolve.place import (
    BIN_NAME,
    Placement,
    add_provenance_marker,
    import_take,
    place_take,
)
from editor_integrations.resolve.runner import Cancelled, Progress, run_muvi_score

# Tried in order until Resolve accepts one (codecs differ by OS and edition); else the project's format.
RENDER_FORMATS = (("mp4", "H264"), ("mov", "H264"), ("mov", "DNxHR"), ("mov", "ProRes422"))
_DONE, _FAILED = "complete", ("failed", "cancelled", "canceled")


@dataclass(frozen=True)
class Options:
    """How to score.

    Attributes:
        takes_dir: Where the takes' audio files are kept (Resolve links to them; never a temp folder).
        seed: The seed (stored in the marker, so a take can be made again).
        steps: Euler steps; None for the bundle's default.
        bundle: A bundle folder or .zip; None for muvi's built-in one.
        command: How to start muvi (`muvi_plugin.host.default_command()` when None).
        bin_name: The media-pool bin for takes.
        poll: Seconds between render-status polls.
    """

    takes_dir: Path
    seed: int = 0
    steps: int | None = None
    bundle: Path | None = None
    command: Sequence[str] | None = None
    bin_name: str = BIN_NAME
    poll: float = 0.1


@dataclass(frozen=True)
class Result:
    """A placed take: its audio, the range it scores, where it landed and its provenance."""

    audio: Path
    span: FrameRange
    placement: Placement
    provenance: dict[str, Any]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "timeline"


def render_range(
    project: Project,
    span: FrameRange,
    folder: Path,
    name: str,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    poll: float = 0.1,
) -> Path:
    """Render the picture of `span` (absolute MarkIn/MarkOut) to `folder/name.<ext>` and return the file.

    Raises:
        Cancelled: `cancel` was set; the render is stopped and its job deleted.
        ResolveScriptError: Resolve refused the settings or the render failed.
    """
    chooser = getattr(project, "SetCurrentRenderFormatAndCodec", None)
    if callable(chooser):
        next((True for fmt, codec in RENDER_FORMATS if chooser(fmt, codec)), False)
    settings = {
        "SelectAllFrames": False,
        "MarkIn": span.absolute_in,
        "MarkOut": span.absolute_out,
        "TargetDir": os.fspath(folder),
        "CustomName": name,
        "ExportVideo": True,
        "ExportAudio": False,
    }
    if not project.SetRenderSettings(settings):
        raise ResolveScriptError(f"DaVinci Resolve refused the render settings {settings}")
    job = project.AddRenderJob()
    if not job:
        raise ResolveScriptError("DaVinci Resolve could not add a render job (is the Deliver page usable?)")
    try:
        if not project.StartRendering([job]):
            raise ResolveScriptError("DaVinci Resolve could not start rendering the range")
        while project.IsRenderingInProgress():
            if cancel is not None and cancel.is_set():
                project.StopRendering()
                raise Cancelled
            status = project.GetRenderJobStatus(job) or {}
            if progress is not None:
                progress("render", float(status.get("CompletionPercentage", 0)) / 100)
            time.sleep(poll)
        status = project.GetRenderJobStatus(job) or {}
    finally:
        project.DeleteRenderJob(job)
    state = str(status.get("JobStatus", "")).lower()
    if state != _DONE:
        raise ResolveScriptError(
            f"the render of frames {span.absolute_in}-{span.absolute_out} ended {state!r}"
        )
    found = sorted(p for p in folder.glob(f"{name}.*") if p.is_file())
    if not found:
        raise ResolveScriptError(f"the render reported success but wrote nothing to {folder}")
    return found[0]


def _stages(progress: Progress | None) -> Callable[[float, float], Progress]:
    """Map each stage's 0..1 onto its share of the whole job."""

    def part(lo: float, hi: float) -> Progress:
        def report(stage: str, fraction: float) -> None:
            if progress is not None:
                progress(stage, lo + (hi - lo) * min(max(fraction, 0.0), 1.0))

        return report

    return part


def score_in_out(
    resolve: Resolve,
    options: Options,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> Result:
    """Score the current timeline's In/Out (else all of it) and place the take on a new audio track.

    Raises:
        ResolveScriptError: No project or timeline, a failed render, import or placement, or muvi failed.
        Cancelled: The user cancelled; no clip was added and no file was left.
    """
    project, timeline = current_timeline(resolve)
    marks = saved_marks(timeline)
    span = score_range(timeline, marks)
    part = _stages(progress)
    name = f"{_slug(timeline.GetName())}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
    options.takes_dir.mkdir(parents=True, exist_ok=True)
    audio = options.takes_dir / f"{name}.wav"
    # The rendered picture is kept beside the take: the take's record names it, so the same take can be
    # made again from the record (`ScoreReport.from_dict(record).request()`); both go or stay together.
    picture = f"{name}-picture"
    try:
        try:
            stage = part(0.0, 0.2)
            video = render_range(
                project, span, options.takes_dir, picture, progress=stage, cancel=cancel, poll=options.poll
            )
        finally:
            restore_marks(timeline, marks)
        take = run_muvi_score(
            video,
            audio,
            seconds=span.seconds,
            seed=options.seed,
            steps=options.steps,
            bundle=options.bundle,
            command=options.command,
            progress=part(0.2, 0.95),
            cancel=cancel,
        )
        if cancel is not None and cancel.is_set():
            raise Cancelled
    except BaseException:  # a failure or a cancel leaves no file: neither the take nor its picture
        audio.unlink(missing_ok=True)
        for path in options.takes_dir.glob(f"{picture}.*"):
            path.unlink(missing_ok=True)
        raise
    part(0.95, 1.0)("place", 0.0)
    provenance = _provenance(take.record, timeline, span, audio)
    return _place(project, timeline, span, take.out, provenance, options)


def _provenance(report: dict[str, Any], timeline: Timeline, span: FrameRange, audio: Path) -> dict[str, Any]:
    """What the marker's customData keeps: the take's record, and where the take sits in Resolve."""
    return {
        "report": report,  # the take's whole record (ScoreReport.to_dict): the one shape, nothing copied
        "timeline": timeline.GetName(),
        "range": {"first": span.first, "frames": span.frames, "marked": span.marked},
        "rate": str(span.rate),
        "audio": os.fspath(audio),
        "picture": report.get("video"),  # the rendered range muvi scored, kept beside the take
    }


def _place(
    project: Project,
    timeline: Timeline,
    span: FrameRange,
    audio: Path,
    provenance: dict[str, Any],
    options: Options,
) -> Result:
    pool = project.GetMediaPool()
    item = import_take(pool, audio, options.bin_name)
    try:
        placed, track, corrections = place_take(pool, timeline, item, span)
    except ResolveScriptError as error:
        raise ResolveScriptError(f"{error} (the take is kept at {audio})") from None
    marker = add_provenance_marker(timeline, span, provenance)
    placement = Placement(placed, track, placed.GetStart(), placed.GetDuration(), corrections, marker)
    return Result(audio, span, placement, provenance)


__all__ = ["Options", "RENDER_FORMATS", "Result", "render_range", "score_in_out"]
