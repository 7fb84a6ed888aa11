"""`muvi timeline score` and `muvi batch`, run for real in subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import opentimelineio as otio
import pytest

from muvi_plugin.timeline.batch import MANIFEST, SUMMARY
from muvi_plugin.timeline.source import read_timeline
from muvi_plugin.timeline.writing import TRACK_NAME
from tests.muvi_plugin.timeline.conftest import RT, TR, clip, render, write

REPO = Path(__file__).resolve().parents[3]
RATE = 25.0


def muvi_command(*args) -> list[str]:
    return [sys.executable, "-m", "muvi_plugin", *map(str, args)]


def run(*args, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        muvi_command(*args), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("batch-media")
    render(folder, "a", rate=RATE)
    return folder


def short_timeline(folder: Path, name: str, *, start: int, url: str = "a.mp4") -> Path:
    """A 12-frame timeline (0.48 s) cut from media a, with a "music" marker over frames 2-10."""
    timeline = otio.schema.Timeline(
        name=name, tracks=[otio.schema.Track(children=[clip("a", start, 12, RATE, url=url)])]
    )
    timeline.tracks.markers.append(
        otio.schema.Marker(name="music", marked_range=TR(RT(2, RATE), RT(8, RATE)))
    )
    return write(timeline, folder / f"{name}.otio")


def test_timeline_score_writes_the_new_timeline(debug_bundle, media, tmp_path):
    source = short_timeline(media, f"cli-{tmp_path.name}", start=3)
    out = tmp_path / "new.otio"
    done = run("timeline", "score", source, "--markers", "music", "--out", out, "--bundle", debug_bundle,
               "--steps", 2, "--device", "cpu", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"{out}: 1 range(s) scored" in done.stdout
    back = read_timeline(out)
    music = back.tracks[-1]
    assert music.name == TRACK_NAME
    assert music.range_of_child(music.find_clips()[0]) == TR(RT(2, RATE), RT(8, RATE))


def test_timeline_score_missing_media_is_one_line(debug_bundle, media, tmp_path):
    source = short_timeline(tmp_path, "lost", start=0, url="gone/a.mp4")
    done = run("timeline", "score", source, "--out", tmp_path / "new.otio", "--bundle", debug_bundle,
               cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2
    assert (
        done.stderr.count("\n") == 1 and "clip 'a0' not found" in done.stderr and "gone/a.mp4" in done.stderr
    )
    assert not (tmp_path / "new.otio").exists()
    edl = run(
        "timeline", "score", short_timeline(media, "edl", start=0), "--out", tmp_path / "x.edl", cwd=tmp_path
    )
    assert edl.returncode == 2 and "EDL" in edl.stderr


def test_batch_killed_half_way_resumes_without_rescoring(debug_bundle, media, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    timelines = [short_timeline(media, f"t{i:02d}", start=i) for i in range(20)]
    timelines.insert(7, short_timeline(inputs, "broken", start=0, url="nowhere/missing.mp4"))
    out_dir = tmp_path / "out"
    args = ["batch", *timelines, "--out-dir", out_dir, "--jobs", 4, "--markers", "music", "--steps", 2,
            "--bundle", debug_bundle]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    first = subprocess.Popen(muvi_command(*args), cwd=tmp_path, env=env, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    manifest = out_dir / MANIFEST
    deadline = time.monotonic() + 240
    done: dict = {}
    while time.monotonic() < deadline and first.poll() is None:
        if manifest.exists():
            done = json.loads(manifest.read_text())["jobs"]
            if len(done) >= 5:
                break
        time.sleep(0.02)
    os.killpg(first.pid, signal.SIGKILL)  # the batch and its workers, as a crash would
    first.wait()
    done = json.loads(manifest.read_text())["jobs"]
    assert 5 <= len(done) < 20, "the kill must land half-way"
    stamps = {key: Path(record["audio"]).stat().st_mtime_ns for key, record in done.items()}
    assert all(Path(r["audio"]).parent.name.endswith(".muvi.audio") for r in done.values())  # one rule

    second = run(*args, cwd=tmp_path)
    assert second.returncode == 2, second.stderr  # the broken timeline failed; the others did not
    summaries = {Path(s["timeline"]).stem: s for s in json.loads((out_dir / SUMMARY).read_text())}
    broken = summaries.pop("broken")
    assert broken["status"] == "failed" and "missing.mp4" in broken["reason"] and "'a0'" in broken["reason"]
    assert sum(s["skipped"] for s in summaries.values()) == len(done)
    assert sum(s["scored"] for s in summaries.values()) == 20 - len(done)
    assert all(s["status"] in ("scored", "skipped") and s["failed"] == 0 for s in summaries.values())
    for key, record in done.items():  # what was done before the kill was not made again
        assert Path(record["audio"]).stat().st_mtime_ns == stamps[key]
    for name, summary in summaries.items():
        back = read_timeline(summary["out"])
        assert back.tracks[-1].name == TRACK_NAME, name
    assert "broken" in second.stdout and "failed" in second.stdout
