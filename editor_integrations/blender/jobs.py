"""Score jobs: each runs `muvi score --progress json` in a child process with Blender's Python, through the
host protocol's client (`muvi_plugin.host.ScoreProcess`, docs/hosts.md), so a crash in a native library
(ONNX Runtime, FFmpeg) ends that process, never Blender. The main thread drains the results into the scene.

Threads here never touch `bpy`: the client's reader threads only record a child's progress on its `Job`.
Everything that touches Blender (starting the next job, inserting a finished one's strip) is in `drain()`,
which Blender calls from the main thread as a `bpy.app.timers` callback. (In bpy-as-a-module timers never
fire, so tests call `drain()` themselves.) Jobs run one at a time, in the order they were queued.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import bpy

from muvi_plugin.errors import MuviError
from muvi_plugin.host import ScoreProcess

from . import timeline

POLL_SECONDS = 0.25
_ids = itertools.count(1)

# Job states; a job goes queued -> running -> done | failed | cancelled.
QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINISHED = {DONE, FAILED, CANCELLED}


@dataclass(eq=False)
class Job:
    """One score request and where its music goes, captured when it was queued.

    Attributes:
        scene: Name of the scene to insert into.
        start: First frame of the range (where the strip starts).
        length: Range length in frames (the strip's exact length).
        channel: The free channel found at queue time (another is used if it is taken by then).
        spec: The request: video, start, end, seed, steps, guidance, style, bundle, device, out.
        out_dir: Where the finished music file is kept.
        props: What the strip keeps beside the take's record (`muvi_report`), as `muvi_*` properties.
        cleanup: Temporary files and folders removed when the job ends (the range render, the work folder).
    """

    scene: str
    start: int
    length: int
    channel: int
    spec: dict
    out_dir: str
    props: dict
    cleanup: list[str] = field(default_factory=list)
    id: int = field(default_factory=lambda: next(_ids))
    status: str = QUEUED
    stage: str = ""
    progress: float = 0.0
    log: list[str] = field(default_factory=list)
    error: str = ""
    result: str = ""  # the music file, once done
    strip: str = ""  # the inserted strip's name, once done
    report: dict = field(default_factory=dict)
    process: ScoreProcess | None = None

    @property
    def label(self) -> str:
        return f"#{self.id} {self.scene} {self.start}-{self.start + self.length} seed {self.spec['seed']}"


JOBS: list[Job] = []


def queue(job: Job) -> Job:
    """Add a job to the list and start it if nothing else is running."""
    work = tempfile.mkdtemp(prefix="muvi-job-")
    job.cleanup.append(work)
    job.spec["out"] = os.path.join(work, "music.wav")
    JOBS.append(job)
    _start_next()
    return job


def cancel(job: Job) -> None:
    """Stop a job: muvi stops cleanly (`ScoreProcess.cancel`), its files are removed; nothing is inserted."""
    if job.status in FINISHED:
        return
    if job.process is not None:
        job.process.cancel()
    job.status, job.stage = CANCELLED, "cancelled"
    _clean(job)
    _start_next()


def cancel_all() -> None:
    for job in JOBS:
        cancel(job)


def drain() -> float:
    """Finish the jobs whose process has ended (insert their strip) and start the next queued one.

    Main thread only. Returns the seconds until the next call, as `bpy.app.timers` expects.
    """
    for job in JOBS:
        if job.status == RUNNING and job.process is not None and job.process.poll() is not None:
            _finish(job)
    _start_next()
    return POLL_SECONDS


def _start_next() -> None:
    if any(job.status == RUNNING for job in JOBS):
        return
    job = next((job for job in JOBS if job.status == QUEUED), None)
    if job is None:
        return
    # The child sees the same packages as Blender: the extension's wheels are on sys.path, not in the env.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p), PYTHONIOENCODING="utf-8")
    job.status, job.stage = RUNNING, "starting"
    try:
        job.process = ScoreProcess(
            _arguments(job.spec),
            command=[sys.executable, "-m", "muvi_plugin"],  # Blender's own Python, not a `muvi` on PATH
            env=env,
            on_progress=lambda stage, fraction: _progress(job, stage, fraction),
        )
    except MuviError as error:
        _fail(job, str(error))
        return
    job.log = job.process.log  # muvi's log lines, as they come


def _arguments(spec: dict) -> list:
    """`muvi score`'s arguments for a job's request."""
    args = [spec["video"], "--start", spec["start"], "--end", spec["end"], "--seed", spec["seed"]]
    args += ["--out", spec["out"], "--device", spec.get("device") or "auto"]
    options = {"--steps": "steps", "--cfg": "guidance", "--style": "style", "--bundle": "bundle"}
    for option, key in options.items():
        if spec.get(key):
            args += [option, spec[key]]
    return args


def _progress(job: Job, stage: str, fraction: float) -> None:
    # A reader thread: plain attribute writes on the job only (the panel reads them on the main thread).
    job.stage, job.progress = stage, fraction


def _finish(job: Job) -> None:
    assert job.process is not None
    try:
        take = job.process.result()
    except MuviError as error:  # muvi's error line: one line naming the file and the problem
        _fail(job, str(error))
        return
    job.report = take.record  # the take's record (muvi_plugin.api.ScoreReport.to_dict)
    music = os.fspath(take.out)
    try:
        job.result = _keep(job, music)
        scene = bpy.data.scenes.get(job.scene)
        if scene is None:
            raise RuntimeError(f"the scene {job.scene!r} no longer exists; the music is in {job.result}")
        props = dict(job.props, report=json.dumps(job.report, sort_keys=True))  # the record, whole
        strip = timeline.insert_sound(
            scene,
            name=f"muvi seed {job.spec['seed']}",
            filepath=job.result,
            start=job.start,
            length=job.length,
            channel=job.channel,
            props=props,
        )
        job.strip = strip.name
    except (OSError, RuntimeError) as error:
        _fail(job, f"{error} (the music is kept in {job.result})" if job.result else str(error))
        return
    job.status, job.stage, job.progress = DONE, "done", 1.0
    _clean(job)
    _undo_step(job)


def _keep(job: Job, music: str) -> str:
    """Move the finished file from the job's work folder to its output folder, under a unique name."""
    os.makedirs(job.out_dir, exist_ok=True)
    name = f"{bpy.path.clean_name(job.scene)}_{job.start}-{job.start + job.length}_seed{job.spec['seed']}"
    target = Path(job.out_dir) / f"{name}_job{job.id}.wav"
    shutil.move(music, target)
    return os.fspath(target)


def _undo_step(job: Job) -> None:
    # One undo step for the insertion where Blender allows it; a timer has no operator context, so this
    # can fail (and does in bpy-as-a-module), which only means the insertion merges into the next step.
    with contextlib.suppress(RuntimeError):
        bpy.ops.ed.undo_push(message=f"muvi: insert {job.strip}")


def _fail(job: Job, error: str) -> None:
    job.status, job.stage, job.error = FAILED, "failed", error
    job.log.append(error)
    _clean(job)


def _clean(job: Job) -> None:
    for path in job.cleanup:
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.exists(path):
            os.remove(path)
    job.cleanup.clear()
