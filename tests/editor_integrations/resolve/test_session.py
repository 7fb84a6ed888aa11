"""The in-Resolve logic against `FakeResolve`: frame bases, marks, placement, drift, cancel, messages."""

from __future__ import annotations

import dataclasses
import json
import threading
from fractions import Fraction
from pathlib import Path

import pytest

from editor_integrations.resolve.host import ResolveScriptError
from editor_integrations.resolve.place import import_take
from editor_integrations.resolve.runner import Cancelled
from editor_integrations.resolve.session import score_in_out
from muvi_plugin import media
from tests.editor_integrations.resolve.conftest import STEPS
from tests.editor_integrations.resolve.fake_resolve import RATES, FakeResolve

# 01:00:00:00 as Resolve counts it: one hour of nominal frames (29.97 non-drop counts 30 a second); drop
# frame skips two frame numbers a minute (four at 59.94) except every tenth minute: 01:00:00;00 is earlier.
ONE_HOUR = {"24": 86400, "25": 90000, "29.97": 108000, "29.97 DF": 107892, "59.94 DF": 215784}


def added_items(fake: FakeResolve, before: list) -> list:
    return [clip for clip in fake.timeline.snapshot() if clip not in before]


@pytest.mark.parametrize("rate", ["24", "25", "29.97", "29.97 DF", "59.94 DF"])
def test_in_out_take_lands_at_the_absolute_record_frame(rate, options):
    start = ONE_HOUR[rate]
    fake = FakeResolve(rate=rate, start_frame=start, frames=60)
    fake.timeline.SetMarkInOut(12, 35, "all")  # relative, Out inclusive: 24 frames
    marks, before = fake.timeline.GetMarkInOut(), fake.timeline.snapshot()

    result = score_in_out(fake, options)

    (render,) = fake.project.rendered
    assert (render["MarkIn"], render["MarkOut"]) == (start + 12, start + 35), "render marks are absolute"
    assert fake.timeline.GetMarkInOut() == marks, "the user's marks come back after the render"
    placed = result.placement
    assert (placed.track, fake.timeline.track_types["audio"][-1]) == (2, "stereo")
    assert (placed.item.GetStart(), placed.item.GetDuration(), placed.corrections) == (start + 12, 24, 0)
    assert fake.timeline.GetItemListInTrack("audio", 2) == [placed.item]
    assert added_items(fake, before) == [("audio", 2, result.audio.name, start + 12, 24)]
    assert [c for c in fake.timeline.snapshot() if c in before] == before, "existing clips unchanged"

    info = media.probe(result.audio)
    assert info.duration == pytest.approx(float(24 / RATES[rate]), abs=1e-3)
    (bin_,) = fake.pool.root.GetSubFolderList()
    assert (bin_.GetName(), [c.path for c in bin_.clips]) == ("muvi", [str(result.audio)])

    marker = fake.timeline.markers[12]  # relative to the timeline start
    assert (marker["color"], marker["name"], marker["duration"]) == ("Green", "muvi", 24)
    custom = json.loads(marker["customData"])
    record = custom["report"]  # the take's record alone: nothing copied beside it
    assert (record["seed"], record["steps"], custom["range"]["first"]) == (4, STEPS, 12)
    assert record["bundle_id"] and custom["audio"] == str(result.audio) and "seed" not in custom
    assert marker["note"] == f"muvi take: seed 4, {STEPS} steps"
    picture = Path(custom["picture"])  # the rendered range is kept beside the take: its record remakes it
    assert picture.parent == options.takes_dir and picture.is_file()
    assert custom["report"]["video"] == str(picture)
    assert Fraction(custom["rate"]) == RATES[rate]


def test_no_marks_scores_the_whole_timeline(options):
    fake = FakeResolve(rate="25", start_frame=90000, frames=30)
    result = score_in_out(fake, options)
    (render,) = fake.project.rendered
    assert (render["MarkIn"], render["MarkOut"]) == (90000, 90029)
    assert (result.placement.record_frame, result.placement.frames) == (90000, 30)
    assert not result.span.marked and fake.timeline.GetMarkInOut() == {}, "no marks before, none after"


@pytest.mark.parametrize("drift", [1, -1])
def test_a_frame_of_drift_is_corrected(drift, options):
    fake = FakeResolve(rate="24", start_frame=86400, frames=40, drift=drift)
    fake.timeline.SetMarkInOut(5, 28, "video")
    before = fake.timeline.snapshot()
    result = score_in_out(fake, options)
    assert (result.placement.record_frame, result.placement.corrections) == (86405, 1)
    assert added_items(fake, before) == [("audio", 2, result.audio.name, 86405, 24)], "the off clip is gone"
    assert fake.timeline.GetMarkInOut() == {"video": {"in": 5, "out": 28}}


@pytest.mark.parametrize("stage", ["render", "muvi"])
def test_cancel_leaves_no_clip_and_no_file(stage, options):
    fake = FakeResolve(rate="24", start_frame=86400, frames=40)
    fake.timeline.SetMarkInOut(4, 27, "all")
    marks, before = fake.timeline.GetMarkInOut(), fake.timeline.snapshot()
    cancel = threading.Event()

    def progress(name: str, fraction: float) -> None:
        if (name == "render") == (stage == "render"):
            cancel.set()  # during the render, or at muvi's first progress report

    with pytest.raises(Cancelled):
        score_in_out(fake, options, progress=progress, cancel=cancel)
    assert fake.timeline.snapshot() == before and fake.timeline.GetTrackCount("audio") == 1
    assert fake.timeline.markers == {} and fake.timeline.GetMarkInOut() == marks
    assert list(options.takes_dir.iterdir()) == []
    assert all(not folder.clips for folder in fake.pool.root.GetSubFolderList())
    assert fake.project.jobs == {}, "the render job is deleted"


def test_clear_messages_without_project_or_timeline(options):
    with pytest.raises(ResolveScriptError, match="no project is open"):
        score_in_out(FakeResolve(project=False), options)
    with pytest.raises(ResolveScriptError, match="no open timeline"):
        score_in_out(FakeResolve(timeline=False), options)


def test_out_before_in_is_refused(options):
    fake = FakeResolve()
    fake.timeline.marks = {"video": {"in": 20, "out": 10}}
    with pytest.raises(ResolveScriptError, match="before the In"):
        score_in_out(fake, options)


def test_re_import_into_the_bin_returns_the_same_item(tmp_path):
    fake = FakeResolve()
    audio = tmp_path / "take.wav"
    audio.write_bytes(b"RIFF")
    assert import_take(fake.pool, audio) is import_take(fake.pool, audio)
    assert len(fake.pool.root.GetSubFolderList()) == 1, "one takes bin, found again"


def test_a_muvi_failure_is_one_line_and_leaves_nothing(options, tmp_path):
    fake = FakeResolve()
    broken = dataclasses.replace(options, bundle=tmp_path / "no-such-bundle")
    with pytest.raises(ResolveScriptError, match=r"muvi could not score .*: .*no-such-bundle"):
        score_in_out(fake, broken)
    assert list(options.takes_dir.iterdir()) == [] and fake.timeline.GetTrackCount("audio") == 1


def test_locked_tracks_stay_locked_and_a_locked_new_track_is_unlocked_only_to_place(options):
    fake = FakeResolve(rate="24", start_frame=86400, frames=40, lock_new_tracks=True)
    fake.timeline.SetTrackLock("audio", 1, True)  # the user's own locks
    fake.timeline.SetTrackLock("video", 1, True)
    fake.timeline.SetMarkInOut(5, 28, "all")
    before = fake.timeline.snapshot()
    fake.timeline.lock_changes.clear()
    result = score_in_out(fake, options)
    assert (result.placement.track, result.placement.record_frame) == (2, 86405)
    assert added_items(fake, before) == [("audio", 2, result.audio.name, 86405, 24)]
    assert fake.timeline.locked == {("audio", 1), ("video", 1), ("audio", 2)}, "every lock is back"
    assert fake.timeline.lock_changes == [("audio", 2, False), ("audio", 2, True)], "only muvi's track"


def test_a_locked_new_track_with_drift_is_corrected_while_unlocked(options):
    fake = FakeResolve(rate="25", start_frame=90000, frames=40, drift=1, lock_new_tracks=True)
    fake.timeline.SetMarkInOut(3, 22, "video")
    before = fake.timeline.snapshot()
    result = score_in_out(fake, options)
    assert (result.placement.record_frame, result.placement.corrections) == (90003, 1)
    assert added_items(fake, before) == [("audio", 2, result.audio.name, 90003, 20)]
    assert fake.timeline.GetIsTrackLocked("audio", 2)


def test_a_failing_append_is_one_clear_error_and_leaves_the_timeline_as_it_was(options):
    fake = FakeResolve(rate="24", start_frame=86400, frames=40, append_fails=True, lock_new_tracks=True)
    fake.timeline.SetMarkInOut(4, 27, "all")
    marks, before = fake.timeline.GetMarkInOut(), fake.timeline.snapshot()
    with pytest.raises(ResolveScriptError) as caught:
        score_in_out(fake, options)
    message = str(caught.value)
    assert "\n" not in message and "refused to place the take" in message
    take, picture = sorted(options.takes_dir.iterdir(), key=lambda p: p.suffix != ".wav")
    assert f"the take is kept at {take}" in message and picture.stem.endswith("-picture")  # and its picture
    assert fake.timeline.snapshot() == before and fake.timeline.GetTrackCount("audio") == 1, "no track left"
    assert fake.timeline.track_types["audio"] == ["stereo"] and fake.timeline.locked == set()
    assert fake.timeline.markers == {} and fake.timeline.GetMarkInOut() == marks
