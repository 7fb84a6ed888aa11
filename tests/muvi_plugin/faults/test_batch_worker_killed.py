"""A batch worker killed with SIGKILL mid-range: its range fails, named; every other range finishes.

A real `ProcessPoolExecutor` of spawned workers and the debug bundle. A watcher thread kills any worker
process of this test that has `b.mp4` open (it is decoding the one range of timeline `b`), every time.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest

from muvi_plugin.timeline.batch import WORKER_DIED, BatchOptions, run_batch
from muvi_plugin.timeline.score import TimelineJob
from tests import media_factory as mf

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
RATE = 25.0
FRAMES = 50


def timeline(folder: Path, name: str, media: Path) -> Path:
    ref = otio.schema.ExternalReference(
        target_url=media.name, available_range=TR(RT(0, RATE), RT(FRAMES, RATE))
    )
    clip = otio.schema.Clip(name=name, media_reference=ref, source_range=TR(RT(0, RATE), RT(FRAMES, RATE)))
    path = folder / f"{name}.otio"
    otio.adapters.write_to_file(otio.schema.Timeline(name=name, tracks=[otio.schema.Track(children=[clip])]),
                                str(path))  # fmt: skip
    return path


def children() -> list[int]:
    """Processes whose parent is this one (the pool's workers)."""
    me, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == me:
                found.append(int(entry))
    return found


def holds(pid: int, name: str) -> bool:
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}").endswith(name) for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


@pytest.mark.slow
def test_a_killed_worker_fails_its_range_and_the_rest_finish(debug_bundle, tmp_path):
    times = np.arange(FRAMES) / RATE
    media = {
        # b is large (1080p H.264), so decoding its range keeps the file open long enough to be seen.
        "a": mf.write_media(tmp_path / "a.mp4", frame_times=times, rate=25),
        "b": mf.write_media(
            tmp_path / "b.mp4", frame_times=times, rate=25, size=(1920, 1080), codec="libx264"
        ),
        "c": mf.write_media(tmp_path / "c.mp4", frame_times=times, rate=25),
    }
    timelines = [timeline(tmp_path, name, path) for name, path in media.items()]
    stop, kills = threading.Event(), []

    def watch() -> None:
        while not stop.is_set():
            for pid in children():
                if holds(pid, "/b.mp4"):
                    os.kill(pid, signal.SIGKILL)
                    kills.append(pid)
            stop.wait(0.001)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    out_dir = tmp_path / "out"
    try:
        options = BatchOptions(out_dir, template=TimelineJob(Path(), Path(), whole=True, steps=2), jobs=1,
                               bundle=debug_bundle)  # fmt: skip
        summaries = {Path(s.timeline).stem: s for s in run_batch(timelines, options)}
    finally:
        stop.set()
        watcher.join()
    assert len(kills) >= 2  # in the shared pool, then again when b's range ran alone
    b = summaries.pop("b")
    assert (b.status, b.scored, b.failed) == ("failed", 0, 1)
    assert b.reason == f"range 'whole': {WORKER_DIED}"
    assert not Path(b.out).exists()
    for name, s in summaries.items():
        assert (s.status, s.scored, s.failed) == ("scored", 1, 0), (name, s)
        assert Path(s.out).is_file()
    assert not [p for p in out_dir.rglob("*") if ".part" in p.name]  # nothing half-written
