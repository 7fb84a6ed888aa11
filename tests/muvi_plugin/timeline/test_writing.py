"""One naming rule for the audio folder beside a new timeline (`audio_folder_for`)."""

from pathlib import Path

import pytest

from muvi_plugin.timeline.score import TimelineJob
from muvi_plugin.timeline.writing import audio_folder_for


@pytest.mark.parametrize(
    ("out", "folder"),
    [
        ("cut.muvi.otio", "cut.muvi.audio"),  # `muvi timeline score --out cut.muvi.otio`, `muvi batch`
        ("Edit 1 muvi.otio", "Edit 1 muvi.audio"),  # `muvi resolve score-otio`
        ("scored.xml", "scored.audio"),
        ("reel.otiod", "reel.audio"),
        ("plain", "plain.audio"),
    ],
)
def test_the_audio_folder_is_the_timeline_name_with_audio(tmp_path, out, folder):
    assert audio_folder_for(tmp_path / out) == tmp_path / folder
    assert TimelineJob(Path("in.otio"), out=tmp_path / out).audio_folder == tmp_path / folder


def test_a_folder_given_is_used_as_is(tmp_path):
    job = TimelineJob(Path("in.otio"), out=tmp_path / "a.otio", audio_dir=tmp_path / "music")
    assert job.audio_folder == tmp_path / "music"
