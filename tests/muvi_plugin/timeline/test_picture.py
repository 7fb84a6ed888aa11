"""The picture a timeline shows, frame by frame: which source frame of which file, or black."""

from __future__ import annotations

import numpy as np
import opentimelineio as otio
import pytest

from muvi_plugin.media import MediaError
from muvi_plugin.timeline.picture import TimelinePicture
from muvi_plugin.timeline.source import Relinker
from tests import media_factory as mf
from tests.muvi_plugin.timeline.conftest import FRAMES, RT, TR, clip, expected_index, gap

SIZE = (64, 48)


def edit(rate: float) -> otio.schema.Timeline:
    """Cuts, a dissolve, a gap, a nested stack, an upper track covering part, a disabled track on top.

    V1: a[10..) 0-30 | dissolve 26-34 | b[5..) 30-60 | gap 60-70 | nested stack: c[0..) 70-90 (its media
    starts at frame 1000 of its own timecode)
    V2: gap 0-40 | a[50..) 40-50
    V3 (disabled): c over everything
    """
    v1 = otio.schema.Track(name="V1")
    v1.append(clip("a", 10, 30, rate))
    v1.append(otio.schema.Transition(in_offset=RT(4, rate), out_offset=RT(4, rate)))
    v1.append(clip("b", 5, 30, rate))
    v1.append(gap(10, rate))
    nested = clip("c", 1000, 20, rate)
    nested.media_reference.available_range = TR(RT(1000, rate), RT(FRAMES, rate))
    v1.append(otio.schema.Stack(name="nest", children=[otio.schema.Track(children=[nested])]))
    v2 = otio.schema.Track(name="V2", children=[gap(40, rate), clip("a", 50, 10, rate)])
    v3 = otio.schema.Track(name="V3", children=[clip("c", 0, 90, rate)])
    v3.enabled = False
    audio = otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio, children=[gap(90, rate)])
    return otio.schema.Timeline(name="edit", tracks=[v1, v2, v3, audio])


def expected(frame: int) -> list[tuple[str, int, float]]:
    """(media, source frame, weight) on screen at timeline frame `frame` of `edit`."""
    if frame < 26:
        return [("a", 10 + frame, 1.0)]
    if frame < 34:  # the dissolve: a runs on past its cut, b starts early
        mix = (frame - 26) / 8
        return [("a", 10 + frame, 1.0 - mix), ("b", 5 + frame - 30, mix)]
    if 40 <= frame < 50:
        return [("a", 50 + frame - 40, 1.0)]
    if frame < 60:
        return [("b", 5 + frame - 30, 1.0)]
    if frame < 70:
        return []
    return [("c", frame - 70, 1.0)]


def picture_of(timeline, folder, **kwargs) -> TimelinePicture:
    return TimelinePicture(timeline, relinker=Relinker(base=folder), **kwargs)


def test_every_timeline_frame_shows_the_expected_source_frame(media_set):
    rate, folder = media_set
    picture = picture_of(edit(rate), folder)
    assert picture.duration == pytest.approx(90 / rate)
    frames = picture.frames(0.0, 90 / rate, fps=rate, size=SIZE)
    assert frames.shape == (90, 48, 64, 3)
    for frame, got in enumerate(frames):
        layers = expected(frame)
        if not layers:
            assert got.max() == 0, f"frame {frame}: the gap must be black"
        elif len(layers) == 1 or layers[0][2] == 1.0:
            name, source, _ = layers[0]
            assert mf.frame_index(got) == expected_index(name, source), f"timeline frame {frame}"
        else:
            mixed = sum(w * mf.pattern_frame(expected_index(n, s)).astype(float) for n, s, w in layers)
            assert np.abs(got.astype(float) - mixed).mean() < 4.0, f"dissolve frame {frame}"


def test_layers_name_the_clip_and_media_frame(media_set):
    rate, folder = media_set
    picture = picture_of(edit(rate), folder)
    for frame in (0, 25, 30, 33, 45, 55, 65, 70, 89):
        got = [
            (layer.clip.name[0], round(layer.media_time.value), layer.weight)
            for layer in picture.layers_at(RT(frame, rate))
        ]
        want = [(n, s + (1000 if n == "c" else 0), w) for n, s, w in expected(frame)]
        assert [(n, s) for n, s, _ in got] == [(n, s) for n, s, _ in want]
        assert [w for *_, w in got] == pytest.approx([w for *_, w in want])


def test_output_frames_at_the_bundle_rate_sample_the_frame_on_screen(media_set):
    rate, folder = media_set
    picture = picture_of(edit(rate), folder)
    frames = picture.frames(1.0, 2.0, fps=10.0, size=SIZE)
    assert len(frames) == 10
    for i, got in enumerate(frames):
        frame = int(np.floor((1.0 + i / 10) * rate + 1e-6))
        name, source, weight = expected(frame)[0]
        if weight == 1.0 and expected(frame):
            assert mf.frame_index(got) == expected_index(name, source)


def test_time_warps_map_timeline_time_to_media_time(media_set):
    rate, folder = media_set
    fast = clip("a", 4, 10, rate)
    fast.effects.append(otio.schema.LinearTimeWarp(time_scalar=2.0))
    frozen = clip("b", 7, 5, rate)
    frozen.effects.append(otio.schema.FreezeFrame())
    timeline = otio.schema.Timeline(tracks=[otio.schema.Track(children=[fast, frozen])])
    frames = picture_of(timeline, folder).frames(0.0, 15 / rate, fps=rate, size=SIZE)
    got = [mf.frame_index(f) for f in frames]
    assert got == [expected_index("a", 4 + 2 * k) for k in range(10)] + [expected_index("b", 7)] * 5


def test_media_is_relinked_through_search_roots(media_set, tmp_path):
    rate, folder = media_set
    moved = clip("b", 3, 5, rate, url="file:///old/disk/project/b.mp4")
    timeline = otio.schema.Timeline(tracks=[otio.schema.Track(children=[moved])])
    picture = TimelinePicture(timeline, relinker=Relinker(base=tmp_path, search_roots=(folder,)))
    frames = picture.frames(0.0, 5 / rate, fps=rate, size=SIZE)
    assert [mf.frame_index(f) for f in frames] == [expected_index("b", 3 + k) for k in range(5)]


def test_missing_media_is_one_clear_error_or_black_with_a_warning(media_set, tmp_path):
    rate, folder = media_set
    lost = clip("a", 0, 5, rate, url="lost/a_missing.mp4")
    timeline = otio.schema.Timeline(tracks=[otio.schema.Track(children=[lost, clip("b", 0, 5, rate)])])
    with pytest.raises(MediaError, match=r"media of clip 'a0' not found") as error:
        picture_of(timeline, folder).check_media(0.0, 10 / rate)
    assert "a_missing.mp4" in str(error.value)
    black = picture_of(timeline, folder, missing="black")
    with pytest.warns(UserWarning, match="scored as black"):
        notes = black.check_media(0.0, 10 / rate)
    assert len(notes) == 1 and "a_missing.mp4" in notes[0]
    frames = black.frames(0.0, 10 / rate, fps=rate, size=SIZE)
    assert frames[:5].max() == 0
    assert [mf.frame_index(f) for f in frames[5:]] == [expected_index("b", k) for k in range(5)]
