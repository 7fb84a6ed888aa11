"""Reading timelines in every installed format, relinking rules, and image sequences."""

from __future__ import annotations

from pathlib import Path

import opentimelineio as otio
import pytest

from muvi_plugin.errors import MuviError
from muvi_plugin.timeline.picture import TimelinePicture
from muvi_plugin.timeline.source import Relinker, read_timeline
from tests import media_factory as mf
from tests.muvi_plugin.timeline.conftest import RT, TR, clip, expected_index, gap, write

SIZE = (64, 48)


def cut(rate: float, folder: Path) -> otio.schema.Timeline:
    """Two cuts and a gap over media a and b, with absolute media paths (as editors export them)."""
    track = otio.schema.Track(
        name="V1",
        children=[
            clip("a", 10, 20, rate, url=str(folder / "a.mp4")),
            gap(5, rate),
            clip("b", 3, 15, rate, url=str(folder / "b.mp4")),
        ],
    )
    return otio.schema.Timeline(name="cut", tracks=[track], global_start_time=RT(0, rate))


@pytest.mark.parametrize("suffix", [".otio", ".otiod", ".otioz", ".xml", ".fcpxml", ".edl"])
def test_every_installed_format_reads_to_the_same_picture(media_set, tmp_path, suffix):
    rate, folder = media_set
    if suffix == ".fcpxml" and rate != 25.0:
        pytest.skip("the FCPXML adapter cannot write 23.976 fps (its own limitation, not muvi's)")
    path = tmp_path / f"cut{suffix}"
    otio.adapters.write_to_file(cut(rate, folder), str(path))
    timeline = read_timeline(path, edl_rate=rate)  # an EDL does not carry its rate
    picture = TimelinePicture(timeline, relinker=Relinker(base=tmp_path, search_roots=(folder,)))
    frames = picture.frames(0.0, 40 / rate, fps=rate, size=SIZE)
    want = [expected_index("a", 10 + f) for f in range(20)] + [None] * 5
    want += [expected_index("b", 3 + f) for f in range(15)]
    got = [None if f.max() == 0 else mf.frame_index(f) for f in frames]
    assert got == want


def test_unreadable_timelines_are_named(tmp_path):
    with pytest.raises(MuviError, match="no such timeline"):
        read_timeline(tmp_path / "nope.otio")
    bad = tmp_path / "bad.otio"
    bad.write_text("{ not json")
    with pytest.raises(MuviError, match=r"bad\.otio: cannot read the timeline"):
        read_timeline(bad)


def test_relinking_rules(tmp_path):
    (tmp_path / "proj" / "media" / "B").mkdir(parents=True)
    (tmp_path / "roots" / "B").mkdir(parents=True)
    near = tmp_path / "proj" / "media" / "B" / "x.mov"
    far = tmp_path / "roots" / "B" / "x.mov"
    near.write_bytes(b"")
    far.write_bytes(b"")
    rules = Relinker(base=tmp_path / "proj", search_roots=(tmp_path / "roots",))
    assert rules.find("media/B/x.mov") == near  # relative to the timeline
    assert rules.find(near.as_uri()) == near  # a file URL that exists
    assert rules.find("/old/disk/A/B/x.mov") == far  # moved: the longest tail under a root
    assert rules.find("C:\\Footage\\A\\B\\x.mov") == far  # a Windows path from another machine
    assert rules.find("/old/disk/none.mov") is None


def test_image_sequences_show_one_image_per_frame(tmp_path):
    for k in range(4):
        mf.make_image(tmp_path / f"shot.{1001 + k:04d}.png", index=50 + k)
    rate = 25.0
    sequence = otio.schema.ImageSequenceReference(
        target_url_base="./",
        name_prefix="shot.",
        name_suffix=".png",
        start_frame=1001,
        frame_zero_padding=4,
        rate=rate,
        available_range=TR(RT(1001, rate), RT(4, rate)),
    )
    shot = otio.schema.Clip(
        name="shot", media_reference=sequence, source_range=TR(RT(1002, rate), RT(3, rate))
    )
    timeline = otio.schema.Timeline(tracks=[otio.schema.Track(children=[shot])])
    source = write(timeline, tmp_path / "seq.otio")
    picture = TimelinePicture(read_timeline(source), relinker=Relinker(base=tmp_path))
    frames = picture.frames(0.0, 3 / rate, fps=rate, size=SIZE)
    assert [mf.frame_index(f) for f in frames] == [51, 52, 53]
