"""Score jobs: each runs `job.py` in a child process; the main thread drains the results into the scene.

Threads here never touch `bpy`: reader threads only record a child's output on its `Job`. Everything that
touches Blender (starting the next job, inserting a finished one's strip) happens in `drain()`, which
Blender calls from the main thread as a `bpy.app.timers` callback. (In bpy-as-a-module timers never fire,
so tests call `drain()` themselves.) Jobs run one at a time, in the order they were queued.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import bpy

from . import timeline

JOB_SCRIPT = Path(__file__).with_name("job.py")
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
        spec: The child's request (`job.py`): video, start, end, seed, steps, guidance, style, bundle, out.
        out_dir: Where the finished music file is kept.
        props: Provenance stored on the strip as `muvi_*` custom properties.
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
    process: subprocess.Popen | None = None
    readers: list[threading.Thread] = field(default_factory=list)

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
    """Stop a job: kill its process, remove its files; nothing is inserted."""
    if job.status in FINISHED:
        return
    if job.process is not None and job.process.poll() is None:
        job.process.kill()  # the child writes atomically into its own work folder, removed below
        job.process.wait()
    _join(job)
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
        job.process = subprocess.Popen(
            [sys.executable, os.fspath(JOB_SCRIPT), json.dumps(job.spec)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            encoding="utf-8",
            errors="replace",  # a log line is worth showing even if a library wrote bytes we cannot decode
            env=env,
            creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),  # Windows: no console window pops up
        )
    except OSError as error:
        _fail(job, f"cannot start {sys.executable}: {error}")
        return
    job.readers = [
        threading.Thread(target=_read_progress, args=(job, job.process.stdout), daemon=True),
        threading.Thread(target=_read_log, args=(job, job.process.stderr), daemon=True),
    ]
    for reader in job.readers:
        reader.start()


def _read_progress(job: Job, stream) -> None:
    # Reader thread: plain attribute writes on the job only (the panel reads them on the main thread).
    for line in stream:
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            job.log.append(line.rstrip())
            continue
        if "done" in message:
            job.report = message.get("report", {})
        else:
            job.stage, job.progress = message.get("stage", ""), float(message.get("fraction", 0.0))


def _read_log(job: Job, stream) -> None:
    for line in stream:
        job.log.append(line.rstrip())


def _join(job: Job) -> None:
    for reader in job.readers:
        reader.join(timeout=5)


def _finish(job: Job) -> None:
    _join(job)
    code = job.process.returncode
    music = job.spec["out"]
    if code != 0 or not os.path.isfile(music):
        errors = [line for line in job.log if line.startswith("muvi: error:")]
        _fail(job, errors[-1] if errors else f"the job process ended with code {code}")
        return
    try:
        job.result = _keep(job, music)
        scene = bpy.data.scenes.get(job.scene)
        if scene is None:
            raise RuntimeError(f"the scene {job.scene!r} no longer exists; the music is in {job.result}")
        r = job.report  # the take's record (muvi_plugin.api.ScoreReport.to_dict), kept whole on the strip
        props = dict(job.props, bundle_id=r.get("bundle_id", ""), report=json.dumps(r, sort_keys=True))
        props.update(steps=r.get("steps", 0), guidance=r.get("guidance", 0.0))
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
