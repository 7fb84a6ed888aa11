"""One take, one record: every front end stores the same `ScoreReport` record, and it remakes the take.

The same take (the debug bundle, seed 3, 2 steps, the first second of a 10 fps clip) is scored through the
API, the `muvi` CLI, a timeline (`score_timeline`), the panel (its real widgets, offscreen), Blender's
operator and job (real `bpy`) and the Resolve route (`muvi score --progress json` through the host
protocol, in the in-Resolve session against the documented-semantics fake). Each record has the same
fields and versions, and `ScoreReport.from_dict(record).request()` remakes that front end's file bit for
bit; the front ends that score the clip file itself all made the very same file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before pytest-qt makes the QApplication

import opentimelineio as otio  # noqa: E402
import pytest  # noqa: E402

from muvi_plugin import __version__  # noqa: E402
from muvi_plugin.api import REPORT_SCHEMA, ScoreReport, ScoreRequest, load_bundle  # noqa: E402
from tests.editor_integrations.blender.conftest import FPS, movie, registered, scene  # noqa: E402, F401
from tests.hosts import require  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
COMMAND = (sys.executable, "-m", "muvi_plugin")
SEED, STEPS, GUIDANCE, END = 3, 2, 4.0, 1.0  # GUIDANCE: the debug bundle's default, which Blender uses
FIELDS = sorted(f.name for f in dataclasses.fields(ScoreReport))


@pytest.fixture(scope="module")
def scorer(debug_bundle):
    return load_bundle(debug_bundle, device="cpu")


@pytest.fixture(scope="module")
def reference(scorer, request, tmp_path_factory) -> bytes:
    """The take as the API makes it, written as every front end writes it."""
    result = scorer.score(ScoreRequest(request.getfixturevalue("movie"), end=END, seed=SEED, steps=STEPS))
    return result.write(tmp_path_factory.mktemp("api") / "take.wav").read_bytes()


def by_api(request, tmp_path) -> tuple[dict, Path, object]:
    scorer, video = request.getfixturevalue("scorer"), request.getfixturevalue("movie")
    result = scorer.score(ScoreRequest(video, end=END, seed=SEED, steps=STEPS))
    return result.report.to_dict(), result.write(tmp_path / "api.wav"), None


def by_cli(request, tmp_path) -> tuple[dict, Path, object]:
    bundle, video = request.getfixturevalue("debug_bundle"), request.getfixturevalue("movie")
    out, report = tmp_path / "cli.wav", tmp_path / "cli.json"
    argv = [*COMMAND, "score", video, "--end", END, "--seed", SEED, "--steps", STEPS, "--bundle", bundle]
    argv += ["--out", out, "--report", report]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run(list(map(str, argv)), env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return json.loads(report.read_text()), out, None


def by_timeline(request, tmp_path) -> tuple[dict, Path, object]:
    from muvi_plugin.timeline.score import TimelineJob, open_job, score_job
    from muvi_plugin.timeline.source import read_timeline

    scorer, video = request.getfixturevalue("scorer"), request.getfixturevalue("movie")
    rt, tr = otio.opentime.RationalTime, otio.opentime.TimeRange
    clip = otio.schema.Clip(
        name="clip",
        media_reference=otio.schema.ExternalReference(os.fspath(video), tr(rt(0, FPS), rt(2 * FPS, FPS))),
        source_range=tr(rt(0, FPS), rt(2 * FPS, FPS)),
    )
    timeline = otio.schema.Timeline("cut")
    timeline.tracks.append(otio.schema.Track(children=[clip]))
    otio.adapters.write_to_file(timeline, os.fspath(tmp_path / "cut.otio"))
    job = TimelineJob(tmp_path / "cut.otio", tmp_path / "cut.muvi.otio", ranges=("0s-1s",), seed=SEED)
    job = dataclasses.replace(job, steps=STEPS)
    result = score_job(scorer, job)
    (scored,) = [c for c in read_timeline(result.out).find_clips() if "muvi" in c.metadata]
    picture = open_job(dataclasses.replace(job, out=tmp_path / "again.otio")).picture
    return plain(scored.metadata["muvi"]), result.scored[0].audio, picture


def plain(value):
    """OTIO metadata as plain dicts and lists (OTIO's own die with the timeline that holds them)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [plain(v) for v in value]
    return value


def by_panel(request, tmp_path) -> tuple[dict, Path, object]:
    require("PySide6", extra="panel")
    qtbot = request.getfixturevalue("qtbot")
    from PySide6.QtCore import QSettings, Qt

    from muvi_plugin.panel import MuviPanel
    from muvi_plugin.panel.takes import TakeStore

    bundle, video = request.getfixturevalue("debug_bundle"), request.getfixturevalue("movie")
    settings = QSettings(os.fspath(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    panel = MuviPanel(data_root=tmp_path / "data", settings=settings)
    qtbot.addWidget(panel)
    try:
        assert panel.open_video(video)
        panel.set_range(0.0, END)
        box = panel.settings_box
        box.seed.setValue(SEED)
        box.steps.setValue(STEPS)
        box.guidance.setValue(GUIDANCE)
        box.bundle.setText(os.fspath(bundle))
        with qtbot.waitSignal(panel.generationEnded, timeout=60_000) as ended:
            qtbot.mouseClick(panel.generate_button, Qt.MouseButton.LeftButton)
        assert ended.args == ["done"], panel.status.text()
    finally:
        panel.shutdown()
    store = TakeStore(video, root=tmp_path / "data")  # read back from the panel's index on disk
    (take,) = store.takes
    return take.report, store.path(take), None


def by_blender(request, tmp_path) -> tuple[dict, Path, object]:
    sc = request.getfixturevalue("scene")
    import bpy

    from editor_integrations.blender import compat, jobs
    from tests.editor_integrations.blender.helpers import add_movie, needs_sound, wait

    if needs_sound.args[0]:
        pytest.skip(needs_sound.kwargs["reason"])
    add_movie(sc, request.getfixturevalue("movie"), channel=1, frame_start=1)
    sc.use_preview_range = True
    sc.frame_preview_start, sc.frame_preview_end = 1, round(END * FPS)  # frames [1, 11): the first second
    assert bpy.ops.muvi.score() == {"FINISHED"}
    job = wait(jobs.JOBS[-1])
    assert job.status == jobs.DONE, job.log
    strip = compat.all_strips(sc.sequence_editor)[job.strip]
    return json.loads(strip["muvi_report"]), Path(bpy.path.abspath(strip.sound.filepath)), None


def by_resolve(request, tmp_path) -> tuple[dict, Path, object]:
    from editor_integrations.resolve.session import Options, score_in_out
    from tests.editor_integrations.resolve.fake_resolve import FakeResolve

    bundle = request.getfixturevalue("debug_bundle")
    # The in-Resolve route against the fake: render the range (24 frames at 24 fps: one second), score it
    # with `muvi score --progress json` (the host protocol), place it; the marker keeps the whole record.
    options = Options(tmp_path / "takes", seed=SEED, steps=STEPS, bundle=bundle, command=COMMAND, poll=0.0)
    fake = FakeResolve(rate="24", start_frame=86400, frames=24)
    result = score_in_out(fake, options)
    (marker,) = fake.timeline.markers.values()
    return json.loads(marker["customData"])["report"], result.audio, None


SAME_CLIP = {"api", "cli", "panel", "blender"}  # the timeline scores its picture, Resolve its render
FRONT_ENDS = {
    "api": by_api,
    "cli": by_cli,
    "timeline": by_timeline,
    "panel": by_panel,
    "blender": by_blender,
    "resolve": by_resolve,
}


# Importing bpy during a test prints numpy's ABI warning through sys.excepthook, which pytest-qt's capture
# would count as a failure: Blender's case runs without it (its tests import bpy at collection instead).
NO_QT_CAPTURE = {"blender": pytest.mark.qt_no_exception_capture}


@pytest.mark.slow
@pytest.mark.parametrize(
    "front_end", [pytest.param(name, marks=NO_QT_CAPTURE.get(name, ())) for name in FRONT_ENDS]
)
def test_every_front_end_keeps_the_same_record_and_it_remakes_the_take(
    front_end, request, scorer, reference, tmp_path
):
    record, audio, picture = FRONT_ENDS[front_end](request, tmp_path)

    assert sorted(k for k in record if k in FIELDS) == FIELDS, "every field of the record"
    if front_end != "timeline":  # a timeline clip's metadata adds where the take sits (range, rate, ...)
        assert sorted(record) == FIELDS
    assert (record["schema_version"], record["muvi_version"]) == (REPORT_SCHEMA, __version__)
    assert record["bundle_id"] == scorer.bundle_id and record["provider"] == scorer.provider
    assert (record["seed"], record["steps"], record["guidance"]) == (SEED, STEPS, GUIDANCE)
    assert (record["start"], record["end"]) == (0.0, END)
    assert record["mastering"]["target_lufs"] == scorer.bundle.manifest.defaults.loudness_lufs

    again = ScoreReport.from_dict(record).request()
    if picture is not None:  # a timeline's picture is passed again (ScoreReport.request's docstring)
        again = dataclasses.replace(again, video=picture)
    remade = scorer.score(again).write(tmp_path / "remade.wav")
    assert remade.read_bytes() == audio.read_bytes(), "the record remakes the take bit for bit"
    if front_end in SAME_CLIP:  # the clip file itself: the very take the API makes
        assert audio.read_bytes() == reference
