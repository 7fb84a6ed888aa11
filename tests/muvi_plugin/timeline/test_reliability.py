"""Timelines never crash muvi, never lose the user's files, and one bad timeline never stops a batch.

docs/reliability.md lists each case with the test here that proves it. OpenTimelineIO's own sample
timelines are in tests/data/otio (Apache-2.0, OpenTimelineIO contributors).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import opentimelineio as otio
import pytest

from muvi_plugin.api import load_bundle
from muvi_plugin.errors import MuviError
from muvi_plugin.media import frame_count
from muvi_plugin.timeline.batch import SUMMARY
from muvi_plugin.timeline.picture import TimelinePicture
from muvi_plugin.timeline.score import TimelineJob, open_job, score_job
from muvi_plugin.timeline.source import Relinker, read_timeline
from muvi_plugin.timeline.writing import TRACK_NAME
from tests.muvi_plugin.timeline.conftest import RT, TR, clip, gap, render
from tests.muvi_plugin.timeline.test_cli import run, short_timeline

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "otio"
RATE = 25.0


@pytest.fixture(scope="module")
def scorer(debug_bundle):
    return load_bundle(debug_bundle, device="cpu", threads=1)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("reliability-media")
    for name in ("a", "b"):
        render(folder, name, rate=RATE)
    return folder


def seen(picture: TimelinePicture, frame: int) -> list[tuple[str, int]]:
    """(clip name, media frame) of each layer on screen at timeline frame `frame`."""
    return [
        (layer.clip.name, round(layer.media_time.value_rescaled_to(RATE)))
        for layer in picture.layers_at(RT(frame, RATE))
    ]


@pytest.mark.parametrize("sample", sorted(p.name for p in SAMPLES.glob("*.otio")))
def test_every_otio_sample_timeline_gives_a_picture(sample):
    timeline = read_timeline(SAMPLES / sample)
    picture = TimelinePicture(timeline, missing="black", name=sample)  # their media is not shipped
    end = min(picture.duration, 20.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frames = picture.frames(0.0, end, fps=2.0, size=(8, 6))
        clips = picture.clips_between(0.0, picture.duration)
    assert frames.shape == (frame_count(end, 2.0), 6, 8, 3) and not frames.any()  # no media here: black
    names = {c.name for c in clips}
    if sample == "nested_example.otio":  # a nested stack holding clips directly: they are on screen
        assert {"Clip Inside A Stack 1", "Clip Inside A Stack 2", "Clip Inside A Track"} <= names


def test_nested_example_scores(scorer, tmp_path):
    """The user's report: `muvi timeline score nested_example.otio` raised AttributeError."""
    job = TimelineJob(SAMPLES / "nested_example.otio", out=tmp_path / "out.otio", ranges=("9.5s-17s",),
                      missing="black", steps=2)  # fmt: skip
    with pytest.warns(UserWarning, match="has no media reference"):
        result = score_job(scorer, job)
    back = read_timeline(result.out)
    assert back.tracks[-1].name == TRACK_NAME and len(result.scored) == 1


def test_stacks_holding_clips_stacks_in_stacks_and_effects(media):
    """Every composition OTIO allows: the picture shows what OTIO's own flattening says is on top."""
    warp = otio.schema.Stack(name="fast", children=[clip("b", 0, 20, RATE)],
                             source_range=TR(RT(0, RATE), RT(10, RATE)))  # fmt: skip
    warp.effects.append(otio.schema.LinearTimeWarp(time_scalar=2.0))
    frozen = otio.schema.Track(name="held", children=[clip("a", 30, 10, RATE)])
    frozen.effects.append(otio.schema.FreezeFrame())
    graded = clip("a", 60, 10, RATE)
    graded.effects.append(otio.schema.Effect(name="grade", effect_name="Resolve Effect"))
    inner = otio.schema.Stack(name="inner", children=[clip("a", 50, 10, RATE), gap(10, RATE)])
    outer = otio.schema.Stack(name="outer", children=[inner])
    track = otio.schema.Track(children=[
        clip("a", 0, 10, RATE),
        otio.schema.Stack(name="direct", children=[clip("b", 5, 10, RATE)]),  # a clip directly in a stack
        warp, frozen, outer, graded,
    ])  # fmt: skip
    picture = TimelinePicture(otio.schema.Timeline(tracks=[track]), relinker=Relinker(base=media))
    assert seen(picture, 3) == [("a0", 3)]
    assert seen(picture, 12) == [("b5", 7)]
    assert seen(picture, 23) == [("b0", 6)]  # twice the speed inside the nested stack
    assert seen(picture, 31) == seen(picture, 38) == [("a30", 30)]  # frozen on its first frame
    assert seen(picture, 44) == [("a50", 54)]  # a stack in a stack; its gap on top is transparent
    with pytest.warns(UserWarning, match="effect 'Resolve Effect' on 'a60' is not applied"):
        assert seen(picture, 52) == [("a60", 62)]
    assert any("Resolve Effect" in line for line in picture.warnings)
    assert picture.frames(0.0, 2.4, fps=RATE, size=(16, 12)).shape == (60, 12, 16, 3)


def test_batch_with_the_nested_sample_and_a_missing_media_timeline_goes_on(debug_bundle, media, tmp_path):
    good = short_timeline(media, f"good-{tmp_path.name}", start=2)
    lost = short_timeline(tmp_path, "lost", start=0, url="nowhere/gone.mp4")
    nested = tmp_path / "nested_example.otio"
    nested.write_bytes((SAMPLES / "nested_example.otio").read_bytes())
    out_dir = tmp_path / "out"
    done = run("batch", nested, lost, good, "--out-dir", out_dir, "--whole", "--steps", 2,
               "--bundle", debug_bundle, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    summaries = {Path(s["timeline"]).stem: s for s in json.loads((out_dir / SUMMARY).read_text())}
    assert summaries["lost"]["status"] == "failed" and "gone.mp4" in summaries["lost"]["reason"]
    assert summaries[good.stem]["status"] == "scored"
    # the sample's clips have no media: failed with its one-line reason, not a crash of the batch
    assert summaries["nested_example"]["status"] == "failed"
    reason = summaries["nested_example"]["reason"]
    assert "clip 'Normal Clip 1' has no media reference" in reason and "\n" not in reason
    assert read_timeline(summaries[good.stem]["out"]).tracks[-1].name == TRACK_NAME


def test_batch_out_dir_naming_a_file_is_one_line(debug_bundle, media, tmp_path):
    source = short_timeline(media, f"b-{tmp_path.name}", start=0)
    taken = tmp_path / "taken"
    taken.write_text("the user's notes")
    done = run("batch", source, "--out-dir", taken, "--bundle", debug_bundle, cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "is an existing file, not a folder" in done.stderr and taken.read_text() == "the user's notes"


def test_an_existing_folder_muvi_did_not_create_is_never_replaced(scorer, media, tmp_path):
    """`--out footage.otiod` over the user's folder of media and notes: refused, the folder untouched."""
    from muvi_plugin import guard  # here: the module collects against older code too

    source = short_timeline(media, f"o-{tmp_path.name}", start=0, url=(media / "a.mp4").as_uri())
    footage = tmp_path / "footage.otiod"
    footage.mkdir()
    (footage / "notes.txt").write_text("do not lose")
    with pytest.raises(MuviError, match="existing folder muvi did not create"):
        score_job(scorer, TimelineJob(source, out=footage, ranges=("0s-0.4s",), steps=2))
    assert [p.name for p in footage.iterdir()] == ["notes.txt"] and not (tmp_path / "footage.muvi").exists()
    # A folder muvi wrote itself is replaced, atomically, and reads back.
    ours = tmp_path / "ours.otiod"
    for _ in range(2):
        result = score_job(scorer, TimelineJob(source, out=ours, ranges=("0s-0.4s",), steps=2))
        assert guard.made_by_muvi(ours) and read_timeline(result.out).tracks[-1].name == TRACK_NAME
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ours.otiod")]


def test_a_missing_output_folder_is_refused_not_created(debug_bundle, media, tmp_path):
    source = short_timeline(media, f"m-{tmp_path.name}", start=0)
    done = run("timeline", "score", source, "--out", tmp_path / "missing" / "new.otio", "--bundle",
               debug_bundle, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert f"the folder {tmp_path / 'missing'} does not exist" in done.stderr
    assert not (tmp_path / "missing").exists()


def test_outputs_naming_the_timeline_or_its_media_are_refused(media, tmp_path):
    source = short_timeline(media, f"i-{tmp_path.name}", start=0)
    link = tmp_path / "link.otio"
    os.link(source, link)
    before = source.read_bytes()
    with pytest.raises(MuviError, match="is the input timeline"):
        open_job(TimelineJob(source, out=link))  # a hard link to the input
    # An output over one of the timeline's media files (here: the audio folder holds a's media).
    job = TimelineJob(source, out=tmp_path / "new.otio", audio_dir=media, ranges=("0s-0.4s",))
    (media / "00-0s-0.4s.wav").symlink_to(media / "a.mp4")
    try:
        with pytest.raises(MuviError, match=r"is the input media file .*a\.mp4"):
            open_job(job)
    finally:
        (media / "00-0s-0.4s.wav").unlink()
    assert source.read_bytes() == before


def test_a_fifo_as_the_timeline_is_refused_before_opening(debug_bundle, tmp_path):
    fifo = tmp_path / "cut.otio"
    os.mkfifo(fifo)
    # In a subprocess: the old code blocked in OTIO's reader forever, holding the GIL.
    done = run("timeline", "score", fifo, "--out", tmp_path / "new.otio", "--bundle", debug_bundle,
               cwd=tmp_path, timeout=60)  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "cut.otio: a FIFO (named pipe), not a regular file" in done.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"steps": 100000}, "steps must be an integer from 1 to 200"),
        ({"guidance": -5.0}, "guidance must be a finite number from 0 to 20"),
        ({"loudness": 3.0}, "loudness must be a finite number from -70 to 0 LUFS"),
        ({"edl_rate": 0.0}, "EDL rate must be a finite number from 1 to 1000"),
        ({"seed": -1}, "seed must be an integer from 0"),
    ],
)
def test_timeline_settings_out_of_range_are_refused(media, tmp_path, change, message):
    source = short_timeline(media, f"s-{tmp_path.name}", start=0)
    with pytest.raises(MuviError, match=message):
        open_job(TimelineJob(source, out=tmp_path / "new.otio", **change))
