"""muvi as an OTIO plugin, loaded through OTIO's own discovery (the `opentimelineio.plugins` entry point)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import opentimelineio as otio
import pytest

from muvi_plugin.timeline.writing import TRACK_NAME
from tests.muvi_plugin.timeline.conftest import RT, TR, clip, render, write

REPO = Path(__file__).resolve().parents[2]
RATE = 25.0
PLUGIN = REPO / "editor_integrations" / "otio"


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("otio-media")
    render(folder, "a", rate=RATE)
    return folder


def moved_timeline(folder: Path) -> Path:
    """A timeline whose clip points at a disk that is gone, with a "music" marker over frames 2-10."""
    timeline = otio.schema.Timeline(
        name="moved",
        tracks=[otio.schema.Track(children=[clip("a", 4, 12, RATE, url="file:///old/disk/a.mp4")])],
    )
    timeline.tracks.markers.append(
        otio.schema.Marker(name="music", marked_range=TR(RT(2, RATE), RT(8, RATE)))
    )
    return write(timeline, folder / "moved.otio")


def test_discovery_finds_the_linker_and_the_hook_from_the_entry_point():
    manifest = otio.plugins.ActiveManifest(force_reload=True)
    (linker,) = [m for m in manifest.media_linkers if m.name == "muvi_relink"]
    (hook,) = [h for h in manifest.hook_scripts if h.name == "muvi_score"]
    assert Path(linker.module_abs_path()) == PLUGIN / "media_linker.py"
    assert Path(hook.module_abs_path()) == PLUGIN / "hook.py"
    assert "muvi_score" in otio.hooks.scripts_attached_to("pre_adapter_write")


def test_media_linker_relinks_through_search_roots(media, tmp_path):
    source = moved_timeline(tmp_path)
    timeline = otio.adapters.read_from_file(
        str(source), media_linker_name="muvi_relink", media_linker_argument_map={"search_roots": [str(media)]}
    )
    (found,) = timeline.find_clips()
    assert otio.url_utils.filepath_from_url(found.media_reference.target_url) == str(
        (media / "a.mp4").resolve()
    )
    unchanged = otio.adapters.read_from_file(str(source), media_linker_name="muvi_relink")
    assert unchanged.find_clips()[0].media_reference.target_url == "file:///old/disk/a.mp4"


def test_a_plain_write_is_left_alone(media, tmp_path):
    source = moved_timeline(tmp_path)
    timeline = otio.adapters.read_from_file(str(source))
    otio.adapters.write_to_file(timeline, str(tmp_path / "copy.otio"))
    assert otio.adapters.read_from_file(str(tmp_path / "copy.otio")).is_equivalent_to(timeline)


def test_otioconvert_adds_the_score_through_the_hook(debug_bundle, media, tmp_path):
    source = moved_timeline(tmp_path)
    out = tmp_path / "scored.otio"
    hook_args = ["muvi_score=True", "muvi_markers=music", "muvi_steps=2", f"muvi_bundle={debug_bundle}"]
    command = [sys.executable, "-m", "opentimelineio.console.otioconvert", "-i", str(source), "-o", str(out),
               "-m", "muvi_relink", "-M", f"search_roots={media}"]  # fmt: skip
    for argument in hook_args:
        command += ["-H", argument]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    back = otio.adapters.read_from_file(str(out))
    music = back.tracks[-1]
    assert (music.name, music.kind) == (TRACK_NAME, otio.schema.TrackKind.Audio)
    (scored,) = music.find_clips()
    assert music.range_of_child(scored) == TR(RT(2, RATE), RT(8, RATE))
    audio = Path(otio.url_utils.filepath_from_url(scored.media_reference.target_url))
    assert audio.parent == tmp_path / "scored.audio" and audio.is_file()  # audio_folder_for
    assert scored.metadata[TRACK_NAME]["steps"] == 2
