"""Many timelines: ranges scored in a local process pool, resumable, one summary (docs/architecture.md).

Each timeline is read and planned once, in the parent (`open_job`: ranges chosen, media checked); every
range is then a job, and a worker receives its range, the plan's settings and the timeline itself (as OTIO
JSON, parsed once per worker and timeline, `RangeJob`): it never re-reads or re-checks the file. A job
manifest (`<out dir>/muvi-batch.json`, rewritten atomically after each job) records what is done, so a
re-run after a crash or a kill scores only what is missing. A timeline that cannot be read, has a bad range
or missing media fails on its own, with its reason; the others go on, and so do they when a worker process
is killed or crashes (`_run_pool`). When all of a timeline's ranges are done its new timeline is written
(`<out dir>/<stem>.muvi.otio`) from the plan's timeline.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from muvi_plugin import guard
from muvi_plugin.atomic import atomic_path
from muvi_plugin.errors import MuviError
from muvi_plugin.timeline.picture import TimelinePicture
from muvi_plugin.timeline.ranges import ScoreRange
from muvi_plugin.timeline.score import TimelineJob, TimelinePlan, TimelineSettings, open_job, score_range
from muvi_plugin.timeline.writing import ScoredRange, audio_folder_for, with_score, write_timeline

MANIFEST = "muvi-batch.json"
SUMMARY = "muvi-batch-summary.json"


@dataclass(frozen=True)
class BatchOptions:
    """How to run a batch.

    Attributes:
        out_dir: Where the new timelines, their audio, the job manifest and the summary go.
        template: The settings of every timeline (its `timeline` and `out` are filled in per timeline).
        jobs: Worker processes.
        bundle: The bundle (None: the built-in one).
        device: ONNX Runtime device for every worker.
        threads: ONNX Runtime threads per graph in each worker.
        suffix: The new timelines' format.
    """

    out_dir: Path
    template: TimelineJob = field(default_factory=lambda: TimelineJob(Path(), Path()))
    jobs: int = 1
    bundle: Path | None = None
    device: str = "cpu"
    threads: int | None = 1
    suffix: str = ".otio"


@dataclass
class TimelineSummary:
    """One timeline's outcome: `status` is "scored", "skipped" (all done before) or "failed"."""

    timeline: str
    status: str
    out: str = ""
    scored: int = 0
    skipped: int = 0
    failed: int = 0
    reason: str = ""


_SCORER = None  # one loaded bundle per worker process
_PICTURES: dict[str, TimelinePicture] = {}  # per worker: each timeline's picture, built once


def _load(bundle: Path | None, device: str, threads: int | None) -> None:
    global _SCORER
    from muvi_plugin.api import load_bundle

    _SCORER = load_bundle(bundle, device=device, threads=threads)


@dataclass(frozen=True)
class RangeJob:
    """What a worker receives for one range: the planned timeline as OTIO JSON, its settings, the range
    and where its audio goes (all picklable; the worker reads no file but the media)."""

    timeline: str
    settings: TimelineSettings
    range: ScoreRange
    audio: Path

    @classmethod
    def of(cls, plan: TimelinePlan, text: str, index: int) -> RangeJob:
        return cls(text, plan.settings, plan.ranges[index], plan.audio_path(index))


def _score_job(job: RangeJob) -> dict[str, Any]:
    """In a worker: score one range; returns its manifest record."""
    import opentimelineio as otio

    assert _SCORER is not None, "_load (the pool initializer) runs first in every worker"
    picture = _PICTURES.get(job.timeline)
    if picture is None:
        picture = _PICTURES[job.timeline] = job.settings.picture(otio.adapters.read_from_string(job.timeline))
    scored = score_range(_SCORER, picture, job.range, job.settings, job.audio)
    return {"status": "done", "audio": os.fspath(scored.audio), "metadata": dict(scored.metadata)}


def _key(job: TimelineJob, index: int, r: ScoreRange) -> str:
    """A job's identity: the range and every setting that changes its music (new settings: new jobs)."""
    settings = (
        f"seed={job.seed},steps={job.steps},cfg={job.guidance},lufs={job.loudness},missing={job.missing}"
    )
    return f"{Path(job.timeline).resolve()}#{index}:{r.name}:{r.start}+{r.frames}|{settings}"


def _read_manifest(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"version": 1, "jobs": {}}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise MuviError(f"{path}: unreadable job manifest ({error}); remove it to start over") from error


def _write_json(path: Path, data: Any) -> None:
    """Atomically: a failure or a kill mid-write leaves the previous manifest, never half of one."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as file:
        json.dump(data, file, indent=2, default=str)


def _outputs(timelines: list[Path], options: BatchOptions) -> list[Path]:
    """`<stem>.muvi<suffix>`, numbered where two inputs share a stem."""
    outs: list[Path] = []
    for path in timelines:
        out = options.out_dir / f"{path.stem}.muvi{options.suffix}"
        count = 2
        while out in outs:
            out = options.out_dir / f"{path.stem}-{count}.muvi{options.suffix}"
            count += 1
        outs.append(out)
    return outs


WORKER_DIED = "its worker process died (killed, or crashed) while scoring it"


def _run_pool(work: list[RangeJob], items: list, options: BatchOptions, finished) -> None:
    """Score every `work` item in a process pool, calling `finished(item, record or None, reason)` once each.

    A worker that dies (SIGKILL, the OOM killer, a crash in a native library) breaks the whole pool: every
    unfinished future then fails, though only the range that worker held was at fault. The unfinished
    ranges are run again one at a time in a one-worker pool (a fresh one after each death): a range whose
    worker dies while it runs alone is marked failed (`WORKER_DIED`), the others finish. A range caught in
    a death that was not its own (another worker's, a one-off kill) thus gets one more try.
    """
    context = get_context("spawn")  # no fork of a process holding threads (ONNX Runtime, PyAV)
    init = (options.bundle, options.device, options.threads)

    def pool(workers: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(workers, mp_context=context, initializer=_load, initargs=init)

    suspects: list[int] = []  # indices into `work` left unfinished by a broken pool
    with pool(max(1, options.jobs)) as executor:
        futures = {executor.submit(_score_job, work[k]): k for k in range(len(work))}
        for future in as_completed(futures):
            k = futures[future]
            try:
                record = future.result()
            except BrokenProcessPool:
                suspects.append(k)
                continue
            except Exception as error:
                finished(items[k], None, _reason(error))
                continue
            finished(items[k], record, "")
    retry: ProcessPoolExecutor | None = None
    try:
        for k in sorted(suspects):
            retry = retry or pool(1)
            try:
                finished(items[k], retry.submit(_score_job, work[k]).result(), "")
            except BrokenProcessPool:
                finished(items[k], None, WORKER_DIED)
                retry.shutdown(wait=True)
                retry = None
            except Exception as error:
                finished(items[k], None, _reason(error))
    finally:
        if retry is not None:
            retry.shutdown(wait=True)


def run_batch(timelines: list[Path], options: BatchOptions) -> list[TimelineSummary]:
    """Score every timeline's ranges, resuming from the job manifest; never raises for one timeline.

    Returns:
        One summary per timeline, in input order (also written to `<out dir>/muvi-batch-summary.json`).
    """
    guard.check_folder(options.out_dir)  # an existing file, or a missing parent: one clear line
    guard.make_folder(options.out_dir)
    manifest_path = options.out_dir / MANIFEST
    manifest = _read_manifest(manifest_path)
    done: dict[str, dict] = manifest["jobs"]
    summaries: list[TimelineSummary] = []
    plans: list[tuple[TimelineSummary, TimelineJob, TimelinePlan, str]] = []
    pending: list[tuple[int, int]] = []  # (plan, range index)
    for path, out in zip(timelines, _outputs(timelines, options), strict=True):
        summary = TimelineSummary(os.fspath(path), "scored", os.fspath(out))
        summaries.append(summary)
        job = replace(options.template, timeline=Path(path), out=out, audio_dir=audio_folder_for(out))
        try:
            plan = open_job(job)  # read once: ranges chosen, media checked; fails early, named
        except Exception as error:  # one failing timeline never stops the others: failed, with its reason
            summary.status, summary.reason = "failed", _reason(error)
            continue
        plans.append((summary, job, plan, plan.timeline.to_json_string()))
        for index, r in enumerate(plan.ranges):
            record = done.get(_key(job, index, r))
            if record is not None and record.get("status") == "done" and Path(record["audio"]).exists():
                summary.skipped += 1
            else:
                pending.append((len(plans) - 1, index))

    def finished(item: tuple[int, int], record: dict[str, Any] | None, reason: str) -> None:
        p, index = item
        summary, job, plan, _ = plans[p]
        ranges = plan.ranges
        if record is None:  # one failing range must not stop the batch
            summary.failed += 1
            summary.reason = summary.reason or f"range {ranges[index].name!r}: {reason}"
            return
        done[_key(job, index, ranges[index])] = record
        _write_json(manifest_path, manifest)
        summary.scored += 1

    if pending:
        work = [RangeJob.of(plans[p][2], plans[p][3], i) for p, i in pending]
        _run_pool(work, pending, options, finished)
    for summary, job, plan, _ in plans:
        if summary.failed:
            summary.status = "failed"
            continue
        if not summary.scored:
            summary.status = "skipped"
        try:
            scored = [
                ScoredRange(r, Path(done[_key(job, i, r)]["audio"]), done[_key(job, i, r)]["metadata"])
                for i, r in enumerate(plan.ranges)
            ]
            if summary.scored or not Path(job.out).exists():
                write_timeline(with_score(plan.timeline, scored), job.out, source=Path(job.timeline))
        except Exception as error:
            summary.status, summary.reason = "failed", _reason(error)
    _write_json(options.out_dir / SUMMARY, [asdict(s) for s in summaries])
    return summaries


def _reason(error: BaseException) -> str:
    """One line for the summary: muvi's own message, or the unexpected error's type and message."""
    text = str(error) if isinstance(error, MuviError | OSError) else f"{type(error).__name__}: {error}"
    return " ".join(text.split()) or type(error).__name__


def summary_table(summaries: list[TimelineSummary]) -> str:
    """A plain-text table: one row per timeline."""
    rows = [("timeline", "status", "scored", "skipped", "failed", "output / reason")]
    rows += [
        (
            Path(s.timeline).name,
            s.status,
            str(s.scored),
            str(s.skipped),
            str(s.failed),
            s.reason or s.out or "",
        )
        for s in summaries
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:5], widths, strict=True)) + "  " + row[5]
        for row in rows
    )


__all__ = ["MANIFEST", "SUMMARY", "BatchOptions", "TimelineSummary", "run_batch", "summary_table"]
