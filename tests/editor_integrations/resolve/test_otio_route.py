"""The OTIO route end to end: a timeline shaped like Resolve's .otio export, scored, re-read.

The timeline follows what Resolve writes (public exports): a 01:00:00:00 `global_start_time`,
`metadata["Resolve_OTIO"]` on the timeline (`"Resolve OTIO Meta Version"`), clips (`"Link Group ID"`) and
tracks (`"Audio Type"`), markers with upper-case colours and `{"Keywords", "Note"}` metadata.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio

from editor_integrations.resolve.cli import main
from muvi_plugin.timeline.writing import TRACK_NAME
from tests import media_factory as mf
from tests.editor_integrations.resolve.conftest import STEPS

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
RATE, FRAMES = 24, 60
HOUR = RT(86400, RATE)  # 01:00:00:00


def resolve_export(folder, *, marks: dict | None = None) -> otio.schema.Timeline:
    """Two linked clips (video + audio) of one rendered file, a "muvi" marker over frames 10-40."""
    media = mf.write_media(
        folder / "shot.mp4",
        frame_times=np.arange(FRAMES) / RATE,
        rate=Fraction(RATE),
        frame=lambda k: mf.pattern_frame(k),
    )
    meta = {"Resolve_OTIO": {"Resolve OTIO Meta Version": "1.0", **(marks or {})}}
    timeline = otio.schema.Timeline(name="Edit 1", global_start_time=HOUR, metadata=meta)
    for kind, name, track_meta in (
        (otio.schema.TrackKind.Video, "Video 1", {}),
        (otio.schema.TrackKind.Audio, "Audio 1", {"Audio Type": "Stereo", "Locked": False, "SoloOn": False}),
    ):
        clip = otio.schema.Clip(
            name="shot.mp4",
            media_reference=otio.schema.ExternalReference(
                target_url=otio.url_utils.url_from_filepath(str(media)),
                available_range=TR(RT(0, RATE), RT(FRAMES, RATE)),
            ),
            source_range=TR(RT(0, RATE), RT(FRAMES, RATE)),
            metadata={"Resolve_OTIO": {"Link Group ID": 1}},
        )
        timeline.tracks.append(
            otio.schema.Track(name=name, kind=kind, children=[clip], metadata={"Resolve_OTIO": track_meta})
        )
    timeline.tracks[0][0].markers.append(
        otio.schema.Marker(
            name="muvi",
            color="GREEN",
            marked_range=TR(RT(10, RATE), RT(30, RATE)),
            metadata={"Resolve_OTIO": {"Keywords": [], "Note": "score this"}},
        )
    )
    return timeline


def score(tmp_path, bundle, timeline: otio.schema.Timeline, *extra: str) -> otio.schema.Timeline:
    """`muvi resolve score-otio` on `timeline`; the new timeline, read back."""
    source, out = tmp_path / "Edit 1.otio", tmp_path / "Edit 1 muvi.otio"
    otio.adapters.write_to_file(timeline, str(source))
    before = source.read_bytes()
    argv = ["score-otio", str(source), "--out", str(out), "--steps", str(STEPS), "--device", "cpu"]
    assert main([*argv, "--bundle", str(bundle), *extra]) == 0
    assert source.read_bytes() == before, "the exported timeline is never modified"
    return otio.adapters.read_from_file(str(out))


def music_range(back: otio.schema.Timeline) -> otio.opentime.TimeRange:
    music = back.tracks[-1]
    assert (music.name, music.kind) == (TRACK_NAME, otio.schema.TrackKind.Audio)
    (clip,) = music.find_clips()
    return music.range_of_child(clip)


def test_muvi_markers_are_scored_onto_a_new_audio_track(tmp_path, debug_bundle):
    back = score(tmp_path, debug_bundle, resolve_export(tmp_path))
    placed = music_range(back)
    assert placed == TR(RT(10, RATE), RT(30, RATE))
    (clip,) = back.tracks[-1].find_clips()
    audio = Path(otio.url_utils.filepath_from_url(clip.media_reference.target_url))
    assert audio.parent == tmp_path / "Edit 1 muvi.audio" and audio.is_file()  # audio_folder_for
    # As Resolve shows it on import: 01:00:00:10 to 01:00:01:16 (exclusive).
    assert otio.opentime.to_timecode(back.global_start_time + placed.start_time, RATE) == "01:00:00:10"
    assert back.global_start_time == HOUR
    assert back.metadata["Resolve_OTIO"]["Resolve OTIO Meta Version"] == "1.0"
    assert [t.name for t in back.tracks[:2]] == ["Video 1", "Audio 1"], "existing tracks kept"


def test_in_out_in_the_metadata_wins_over_markers(tmp_path, debug_bundle):
    marks = {"mark_in": "01:00:01:00", "mark_out": "01:00:02:00"}  # absolute timecode, out exclusive
    back = score(tmp_path, debug_bundle, resolve_export(tmp_path, marks=marks))
    assert music_range(back) == TR(RT(24, RATE), RT(24, RATE))


def test_a_typed_range_and_the_whole_timeline(tmp_path, debug_bundle):
    back = score(tmp_path, debug_bundle, resolve_export(tmp_path), "--range", "01:00:00:02-01:00:00:20")
    assert music_range(back) == TR(RT(2, RATE), RT(18, RATE))
    plain = resolve_export(tmp_path)
    plain.tracks[0][0].markers.clear()
    assert music_range(score(tmp_path, debug_bundle, plain)) == TR(RT(0, RATE), RT(FRAMES, RATE))
