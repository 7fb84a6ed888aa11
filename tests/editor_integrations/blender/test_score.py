"""The operator's job from queue to inserted strip, with the debug bundle, in a child process."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from tests.hosts import require

bpy = require("bpy", extra="blender")

from editor_integrations.blender import actions, compat, jobs, picture, timeline  # noqa: E402
from muvi_plugin import media  # noqa: E402
from muvi_plugin.api import ScoreReport  # noqa: E402
from muvi_plugin.audio_io import write_audio  # noqa: E402

from .helpers import add_colour, add_movie, needs_sound, wait  # noqa: E402


def _strips(scene) -> set[str]:
    return {s.name for s in compat.top_strips(scene.sequence_editor)}


@pytest.mark.slow
@needs_sound
def test_score_operator_inserts_a_strip_of_the_range_length(scene, movie, debug_bundle):
    add_movie(scene, movie, channel=1, frame_start=1)  # frames 1-20
    add_colour(scene, channel=2, start=5, end=12)  # the render path: the picture is not one plain movie
    add_colour(scene, channel=3, start=15, end=18)  # channel 3 is taken inside the range: skipped
    for s in compat.top_strips(scene.sequence_editor):
        s.select = False
    scene.use_preview_range = True
    scene.frame_preview_start, scene.frame_preview_end = 3, 16  # frames [3, 17): 14 frames, 1.4 s
    before = _strips(scene)
    settings = [getattr(owner, name) for owner, name in picture.render_settings(scene)]

    assert bpy.ops.muvi.score() == {"FINISHED"}
    assert [getattr(owner, name) for owner, name in picture.render_settings(scene)] == settings
    (job,) = jobs.JOBS
    assert job.spec["video"] != str(movie)  # the range was rendered
    assert (job.scene, job.start, job.length, job.channel) == (scene.name, 3, 14, 4)
    wait(job)

    assert job.status == jobs.DONE, job.log
    (name,) = _strips(scene) - before
    strip = compat.all_strips(scene.sequence_editor)[name]
    assert strip.type == "SOUND"
    assert (strip.channel, strip.frame_final_start, strip.frame_final_duration) == (4, 3, 14)
    assert strip["muvi_bundle"] == str(debug_bundle) and strip["muvi_range_source"] == "preview"
    record = ScoreReport.from_dict(json.loads(strip["muvi_report"]))  # the take's whole record
    assert (record.seed, record.steps, record.bundle_id) == (3, 2, job.report["bundle_id"])
    kept = {key for key in strip.keys() if key.startswith("muvi_")}  # noqa: SIM118  # ID properties
    assert kept == {"muvi_report", "muvi_bundle", "muvi_range_source"}, "nothing copied beside the record"
    assert record.mastering.target_lufs is not None and record.mastering.true_peak_dbtp <= -1.0
    assert timeline.is_muvi_strip(strip)
    music = Path(bpy.path.abspath(strip.sound.filepath))
    assert music.parent == Path(scene.muvi.output_dir) and music.is_file()
    assert media.probe(music).duration == pytest.approx(1.4, abs=0.01)
    assert not any(os.path.exists(p) for p in (job.spec["out"], job.spec["video"]))  # temporaries gone


@pytest.mark.slow
@needs_sound
def test_fast_path_and_a_channel_taken_while_the_job_ran(scene, movie):
    add_movie(scene, movie, channel=1, frame_start=1)
    scene.use_preview_range = True
    scene.frame_preview_start, scene.frame_preview_end = 1, 10
    bpy.ops.muvi.score()
    (job,) = jobs.JOBS
    assert job.spec["video"] == str(movie) and job.channel == 2  # the source file, no render
    add_colour(scene, channel=2, start=1, end=5)  # the user fills the captured channel meanwhile
    wait(job)
    assert job.status == jobs.DONE, job.log
    strip = compat.all_strips(scene.sequence_editor)[job.strip]
    assert (strip.channel, strip.frame_final_start, strip.frame_final_duration) == (3, 1, 10)


@pytest.mark.slow
@needs_sound
def test_redo_with_same_settings_repeats_the_music(scene, movie):
    add_movie(scene, movie, channel=1, frame_start=1)
    scene.use_preview_range = True
    scene.frame_preview_start, scene.frame_preview_end = 1, 8
    bpy.ops.muvi.score()
    first = wait(jobs.JOBS[0])
    scene.sequence_editor.active_strip = compat.all_strips(scene.sequence_editor)[first.strip]
    assert bpy.ops.muvi.redo(new_seed=False) == {"FINISHED"}
    second = wait(jobs.JOBS[1])
    assert second.status == jobs.DONE, second.log
    a, b = (compat.all_strips(scene.sequence_editor)[j.strip] for j in (first, second))
    assert (b.channel, b.frame_final_start, b.frame_final_duration) == (3, 1, 8)
    assert json.loads(b["muvi_report"])["seed"] == json.loads(a["muvi_report"])["seed"]
    assert Path(first.result).read_bytes() == Path(second.result).read_bytes()
    assert bpy.ops.muvi.redo(new_seed=True) == {"FINISHED"}
    third = jobs.JOBS[2]
    assert third.spec["seed"] != first.spec["seed"] and third.spec["video"] == first.spec["video"]
    jobs.cancel(third)


@pytest.mark.slow
def test_cancel_mid_job_leaves_no_strip_and_no_file(scene, movie):
    add_movie(scene, movie, channel=1, frame_start=1)
    add_colour(scene, channel=2, start=5, end=12)
    before = _strips(scene)
    bpy.ops.muvi.score()
    (job,) = jobs.JOBS
    picture_dir = job.cleanup[0]
    wait(job, until=lambda j: j.status in jobs.FINISHED or j.stage not in ("", "starting"))
    assert job.status == jobs.RUNNING  # the child has started working
    assert bpy.ops.muvi.cancel(job_id=job.id) == {"FINISHED"}  # the job list's Cancel button
    jobs.drain()
    assert job.status == jobs.CANCELLED and job.process.returncode is not None
    assert _strips(scene) == before
    assert not os.path.exists(picture_dir) and not os.path.exists(job.spec["out"])
    out = Path(scene.muvi.output_dir)
    assert not out.exists() or not any(out.iterdir())


def test_a_failing_job_reports_its_error(scene, movie, tmp_path):
    add_movie(scene, movie, channel=1, frame_start=1)
    scene.muvi.bundle = str(tmp_path / "no-such-bundle")
    before = _strips(scene)
    bpy.ops.muvi.score()
    job = wait(jobs.JOBS[0])
    assert job.status == jobs.FAILED and "no-such-bundle" in job.error
    assert _strips(scene) == before and job.log
    assert bpy.ops.muvi.clear_jobs() == {"FINISHED"} and not jobs.JOBS


@needs_sound
def test_a_strip_made_before_the_record_still_redoes(scene, movie, tmp_path):
    add_movie(scene, movie, channel=1, frame_start=1)
    music = write_audio(tmp_path / "old.wav", np.zeros(24_000, np.float32), 24_000)
    old = {"seed": 9, "steps": 3, "guidance": 2.5, "style": "", "bundle": scene.muvi.bundle}  # flat keys
    strip = timeline.insert_sound(scene, name="old", filepath=str(music), start=1, length=10, channel=2,
                                  props=old)  # fmt: skip
    assert timeline.is_muvi_strip(strip)
    job = actions.redo(scene, strip, new_seed=False)
    assert (job.spec["seed"], job.spec["steps"], job.spec["guidance"]) == (9, 3, 2.5)
    jobs.cancel(job)
