"""Scoring timeline ranges end to end with the debug bundle, and the new timeline that comes back."""

from __future__ import annotations

import opentimelineio as otio
import pytest

from muvi_plugin import media
from muvi_plugin.api import MediaError, MuviError, ScoreReport, load_bundle
from muvi_plugin.timeline.score import TimelineJob, TimelineSettings, score_job, score_timeline
from muvi_plugin.timeline.source import read_timeline
from muvi_plugin.timeline.writing import TRACK_NAME
from tests.muvi_plugin.timeline.conftest import RT, TR, clip, gap, write
from tests.muvi_plugin.timeline.test_picture import edit

STEPS = 2


@pytest.fixture(scope="module")
def scorer(debug_bundle):
    return load_bundle(debug_bundle, device="cpu", threads=1)


def marked_edit(rate: float) -> otio.schema.Timeline:
    """`test_picture.edit` with two ranged markers named "music": frames 5-45 and 60-88."""
    timeline = edit(rate)
    timeline.tracks.markers.append(
        otio.schema.Marker(name="music", marked_range=TR(RT(5, rate), RT(40, rate)))
    )
    timeline.tracks[1].markers.append(
        otio.schema.Marker(name="music", marked_range=TR(RT(60, rate), RT(28, rate)))
    )
    return timeline


def test_marked_ranges_become_clips_of_exact_length_and_place(scorer, media_set, tmp_path):
    rate, folder = media_set
    source = write(marked_edit(rate), folder / f"edit-{tmp_path.name}.otio")
    before = source.read_bytes()
    job = TimelineJob(source, out=tmp_path / "scored.otio", marker_name="music", seed=5, steps=STEPS)
    result = score_job(scorer, job)
    assert source.read_bytes() == before, "the input timeline must never change"

    back = read_timeline(result.out)
    music = back.tracks[-1]
    assert (music.name, music.kind) == (TRACK_NAME, otio.schema.TrackKind.Audio)
    clips = list(music.find_clips())
    assert [music.range_of_child(c) for c in clips] == [
        TR(RT(5, rate), RT(40, rate)),
        TR(RT(60, rate), RT(28, rate)),
    ]
    for c, frames, scored in zip(clips, (40, 28), result.scored, strict=True):
        assert c.media_reference.available_range == TR(RT(0, rate), RT(frames, rate))
        path = otio.url_utils.filepath_from_url(c.media_reference.target_url)
        assert path == str(scored.audio) and scored.audio.parent == tmp_path / "scored.audio"
        info = media.probe(path)
        assert round(info.duration * info.sample_rate) == round(frames / rate * scorer.sample_rate)
        meta = c.metadata[TRACK_NAME]
        assert (meta["seed"], meta["steps"], meta["bundle_id"]) == (5, STEPS, scorer.bundle_id)
        record = ScoreReport.from_dict(meta)  # the take's record, read back from the written timeline
        assert (record.seed, record.steps, record.mastering.target_lufs) == (5, STEPS, -16.0)
        assert record.mastering.true_peak_dbtp <= -1.0
        made = scored.metadata["mastering"]  # the file holds what was made (OTIO keeps ~16 digits)
        assert record.mastering.loudness_lufs == pytest.approx(made["loudness_lufs"], rel=1e-12)
        assert [m.marked_range for m in c.markers] == [TR(RT(0, rate), RT(frames, rate))]

    # Round trip: the new timeline is the input plus the music track.
    del back.tracks[-1]
    assert back.is_equivalent_to(read_timeline(source))


def test_same_seed_same_take(scorer, media_set, tmp_path):
    rate, folder = media_set
    source = write(marked_edit(rate), folder / f"edit-{tmp_path.name}.otio")
    takes = []
    for name in ("one", "two"):
        job = TimelineJob(source, out=tmp_path / f"{name}.otio", ranges=("10-30",), seed=3, steps=STEPS)
        takes.append(score_job(scorer, job).scored[0].audio.read_bytes())
    assert takes[0] == takes[1]


def test_missing_media_is_named_or_scored_black(scorer, media_set, tmp_path):
    rate, folder = media_set
    timeline = otio.schema.Timeline(
        tracks=[otio.schema.Track(children=[clip("a", 0, 20, rate, url="nowhere/lost.mp4"), gap(10, rate)])]
    )
    source = write(timeline, tmp_path / "lost.otio")
    job = TimelineJob(source, out=tmp_path / "out.otio", whole=True, steps=STEPS)
    with pytest.raises(MediaError, match=r"clip 'a0' not found.*"):
        score_job(scorer, job)
    assert not (tmp_path / "out.otio").exists()
    with pytest.warns(UserWarning, match="lost.mp4"):
        result = score_job(
            scorer, TimelineJob(source, out=tmp_path / "out.otio", missing="black", steps=2)
        )
    assert len(result.warnings) == 1 and "lost.mp4" in result.warnings[0]
    back = read_timeline(result.out)  # held: OTIO frees a timeline's children with it
    assert list(back.tracks[-1].find_clips()[0].metadata[TRACK_NAME]["warnings"]) == list(result.warnings)


def test_refused_outputs_fail_before_any_work(scorer, media_set, tmp_path):
    rate, folder = media_set
    source = write(marked_edit(rate), tmp_path / "in.otio")
    with pytest.raises(MuviError, match="EDL"):
        score_job(scorer, TimelineJob(source, out=tmp_path / "out.edl"))
    with pytest.raises(MuviError, match="never modifies"):
        score_job(scorer, TimelineJob(source, out=source))


def test_fcp7_xml_keeps_the_music_track_in_the_timeline_rate(scorer, media_set, tmp_path):
    rate, folder = media_set
    source = write(marked_edit(rate), folder / f"edit-{tmp_path.name}.otio")
    result = score_job(
        scorer, TimelineJob(source, out=tmp_path / "out.xml", ranges=("5-45",), steps=STEPS)
    )
    back = otio.adapters.read_from_file(str(result.out))
    (music,) = [c for c in back.find_clips() if c.name.startswith(TRACK_NAME)]
    assert music.parent().range_of_child(music) == TR(RT(5, rate), RT(40, rate))


def test_an_in_memory_timeline_is_scored_without_any_timeline_file(scorer, media_set, tmp_path):
    # The OTIO hook's case: a timeline object, never a file; relative media found from `base`.
    rate, folder = media_set
    timeline = marked_edit(rate)
    before = timeline.to_json_string()
    settings = TimelineSettings(marker_name="music", seed=5, steps=STEPS, base=folder, name="the edit")
    scored = score_timeline(scorer, timeline, settings, tmp_path / "music")
    assert timeline.to_json_string() == before, "the input timeline object is never modified"
    assert [(s.audio.parent, s.audio.name[:3]) for s in scored.scored] == [(tmp_path / "music", "00-"),
                                                                          (tmp_path / "music", "01-")]
    assert all(s.audio.is_file() for s in scored.scored)
    assert list(tmp_path.iterdir()) == [tmp_path / "music"], "no timeline file is written"
    music = scored.timeline.tracks[-1]
    assert music.name == TRACK_NAME and [music.range_of_child(c) for c in music.find_clips()] == [
        TR(RT(5, rate), RT(40, rate)),
        TR(RT(60, rate), RT(28, rate)),
    ]
    meta = music.find_clips()[0].metadata[TRACK_NAME]
    assert meta["timeline"] == "the edit" and ScoreReport.from_dict(meta).seed == 5
    # The same take as the file command makes from the same timeline written to a file.
    source = write(marked_edit(rate), folder / f"mem-{tmp_path.name}.otio")
    job = TimelineJob(source, out=tmp_path / "file.muvi.otio", marker_name="music", seed=5, steps=STEPS)
    from_file = score_job(scorer, job)
    assert [s.audio.read_bytes() for s in from_file.scored] == [s.audio.read_bytes() for s in scored.scored]
