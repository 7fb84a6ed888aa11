"""The batch's job manifest is written whole or not at all (it used to leave its temporary file behind)."""

from __future__ import annotations

import json
from pathlib import Path

import opentimelineio as otio
import pytest

from muvi_plugin.timeline.batch import _write_json


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("cannot print this")


def test_a_failed_manifest_write_keeps_the_old_one_and_leaves_nothing(tmp_path):
    manifest = tmp_path / "muvi-batch.json"
    _write_json(manifest, {"version": 1, "jobs": {}})
    before = manifest.read_bytes()
    # json.dump fails half-way through (the default=str fallback raises on this value).
    with pytest.raises(RuntimeError, match="cannot print"):
        _write_json(manifest, {"version": 1, "jobs": {"a": {"status": "done"}, "b": _Unprintable()}})
    assert manifest.read_bytes() == before and json.loads(before)["version"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["muvi-batch.json"], "no temporary file left behind"


def test_a_worker_scores_its_range_from_what_it_receives_never_the_timeline_file(debug_bundle, tmp_path):
    # The timeline is read and planned once, in the parent; the worker gets the range and the timeline
    # itself, so it neither re-reads nor re-checks the file (here: gone by the time the worker runs).
    from muvi_plugin.timeline import batch
    from muvi_plugin.timeline.score import TimelineJob, open_job
    from tests.muvi_plugin.timeline.conftest import RT, TR, clip, render, write

    render(tmp_path, "a", rate=25.0)
    timeline = otio.schema.Timeline(name="t", tracks=[otio.schema.Track(children=[clip("a", 0, 20, 25.0)])])
    timeline.tracks.markers.append(otio.schema.Marker(name="m", marked_range=TR(RT(2, 25.0), RT(10, 25.0))))
    source = write(timeline, tmp_path / "cut.otio")
    plan = open_job(TimelineJob(source, out=tmp_path / "cut.muvi.otio", marker_name="m", steps=1))
    work = batch.RangeJob.of(plan, plan.timeline.to_json_string(), 0)
    source.unlink()
    batch._load(debug_bundle, "cpu", 1)  # what the pool initializer does in each worker
    record = batch._score_job(work)
    assert Path(record["audio"]).parent == tmp_path / "cut.muvi.audio"
    assert Path(record["audio"]).is_file()
    assert record["metadata"]["range"] == {"name": plan.ranges[0].name, "start_frame": 2, "frames": 10}
