"""The panel driven through its real widgets: open, range, generate, cancel, errors, takes, export."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtMultimedia import QMediaPlayer

from muvi_plugin import limits, media
from muvi_plugin.api import ScoreReport
from muvi_plugin.panel.takes import TakeStore
from muvi_plugin.panel.takes_view import _NAME
from muvi_plugin.panel.timecode import format_time
from tests.muvi_plugin.panel.conftest import generate


def test_empty_panel_cannot_generate(panel):
    assert not panel.generate_button.isEnabled()
    assert not panel.cancel_button.isEnabled()
    panel.generate()
    assert "open a video first" in panel.status.text()


def test_open_video_shows_filmstrip_and_whole_range(panel, video, qsettings):
    assert panel.open_video(video)
    assert len(panel.filmstrip.thumbnails) == 12
    assert panel.range() == pytest.approx((0.0, 8.0), abs=0.05)
    assert panel.start_edit.text() == "00:00:00.000"
    assert panel.generate_button.isEnabled()
    assert qsettings.value("panel/lastVideoDir") == str(video.parent)


def test_drag_and_typed_range(qtbot, panel, video):
    panel.open_video(video)
    strip = panel.filmstrip
    w = strip.width()
    qtbot.mousePress(strip, Qt.MouseButton.LeftButton, pos=QPoint(round(w * 0.75), 40))
    qtbot.mouseMove(strip, QPoint(round(w * 0.5), 40))
    qtbot.mouseRelease(strip, Qt.MouseButton.LeftButton, pos=QPoint(round(w * 0.25), 40))
    assert panel.range() == pytest.approx((2.0, 6.0), abs=0.05)  # dragged right to left
    assert panel.end_edit.text() == format_time(panel.range()[1])

    panel.start_edit.clear()
    qtbot.keyClicks(panel.start_edit, "1.5")
    qtbot.keyClick(panel.start_edit, Qt.Key.Key_Return)
    panel.end_edit.clear()
    qtbot.keyClicks(panel.end_edit, "00:00:03.250")
    qtbot.keyClick(panel.end_edit, Qt.Key.Key_Return)
    assert panel.range() == pytest.approx((1.5, 3.25))
    assert "length 1.75 s" in panel.length_label.text()

    panel.end_edit.setText("1:99")
    panel.end_edit.editingFinished.emit()
    assert "Error: not a time" in panel.status.text()
    assert panel.end_edit.text() == "00:00:03.250"  # the valid range is put back


def test_drop_opens_video(panel, video):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(video))])
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    panel.dropEvent(event)
    assert panel.video == video


def test_unreadable_video_is_a_readable_error(panel, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\0" * 1000)
    assert not panel.open_video(bad)
    assert panel.status.text().startswith("Error: ")
    assert "broken.mp4" in panel.status.text() and "Traceback" not in panel.status.text()
    assert panel.video is None


def test_generate_makes_a_take(qtbot, panel, video, debug_bundle):
    panel.open_video(video)
    panel.set_range(1.0, 3.5)
    panel.settings_box.bundle.setText(str(debug_bundle))
    panel.settings_box.seed.setValue(7)
    assert generate(qtbot, panel) == "done"
    assert panel.takes.list.count() == 1
    take = panel.store.takes[0]
    assert (take.start, take.end, take.seed, take.steps) == (1.0, 3.5, 7, 2)
    assert take.bundle_id and take.seconds > 0
    record = ScoreReport.from_dict(TakeStore(video, root=panel.store.folder.parents[1]).get(take.id).report)
    assert (record.seed, record.start, record.bundle_id) == (7, 1.0, take.bundle_id)  # kept in takes.json
    assert record.mastering.true_peak_dbtp <= -1.0 and "LUFS" in take.levels()
    audio = media.read_audio(panel.store.path(take), start=0, end=take.duration, sample_rate=take.sample_rate)
    assert len(audio) == round(2.5 * take.sample_rate)
    assert panel.progress.value() == 1000 and panel.generate_button.isEnabled()


def test_bad_bundle_is_a_readable_error(qtbot, panel, video, tmp_path):
    panel.open_video(video)
    panel.settings_box.bundle.setText(str(tmp_path / "no-such-bundle"))
    assert generate(qtbot, panel) == "failed"
    assert panel.status.text().startswith("Error: ") and "no-such-bundle" in panel.status.text()
    assert panel.takes.list.count() == 0 and panel.generate_button.isEnabled()


def test_cancel_midway_leaves_nothing_and_the_ui_usable(qtbot, panel, video, debug_bundle):
    panel.open_video(video)
    panel.settings_box.bundle.setText(str(debug_bundle))
    panel.settings_box.steps.setValue(limits.STEPS[1])  # the most: long enough to be caught in the sampler
    with qtbot.waitSignal(panel.generationEnded, timeout=120_000) as blocker:
        qtbot.mouseClick(panel.generate_button, Qt.MouseButton.LeftButton)
        assert panel.cancel_button.isEnabled() and not panel.generate_button.isEnabled()
        qtbot.waitUntil(lambda: panel.progress.format().startswith("dit"), timeout=60_000)
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    assert blocker.args == ["cancelled"]
    assert "nothing was written" in panel.status.text()
    assert list(panel.store.folder.iterdir()) == []  # no WAV, no temporary file, no index entry
    assert panel.takes.list.count() == 0
    assert generate(qtbot, panel) == "done"  # usable again
    assert panel.takes.list.count() == 1


def test_shortcut_generates(qtbot, panel, video, debug_bundle):
    panel.open_video(video)
    panel.set_range(0.0, 2.0)
    panel.settings_box.bundle.setText(str(debug_bundle))
    panel.settings_box.steps.setValue(2)
    panel.takes.list.setFocus()
    with qtbot.waitSignal(panel.generationEnded, timeout=60_000) as blocker:
        qtbot.keyClick(panel.takes.list, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    assert blocker.args == ["done"]


def test_export_take(qtbot, panel, video, debug_bundle, tmp_path):
    panel.open_video(video)
    panel.set_range(2.0, 4.0)
    panel.settings_box.bundle.setText(str(debug_bundle))
    assert generate(qtbot, panel) == "done"
    take_id = panel.takes.current_id()
    for name in ("take.wav", "take.flac"):
        assert panel.export_audio(take_id, tmp_path / name)
        info = media.probe(tmp_path / name)
        assert info.has_audio and info.duration == pytest.approx(2.0, abs=0.01)
    assert panel.export_video(take_id, tmp_path / "scored.mp4")
    info = media.probe(tmp_path / "scored.mp4")
    assert info.has_video and info.has_audio and info.duration == pytest.approx(8.0, abs=0.1)
    assert not panel.export_audio(take_id, tmp_path / "take.mp3")
    assert "unsupported audio format" in panel.status.text()
    assert not (tmp_path / "take.mp3").exists()


def test_takes_persist_across_panels(qtbot, make_panel, video, debug_bundle):
    first = make_panel()
    first.open_video(video)
    first.settings_box.bundle.setText(str(debug_bundle))
    assert generate(qtbot, first) == "done"
    assert generate(qtbot, first) == "done"
    first.takes.list.item(0).setData(_NAME, "Chase")  # what the in-place editor stores
    first.takes.list.setCurrentRow(1)
    qtbot.mouseClick(first.takes.delete, Qt.MouseButton.LeftButton)
    first.close()

    second = make_panel()
    second.open_video(video)
    assert [t.name for t in second.store.takes] == ["Chase"]
    assert second.takes.list.count() == 1
    assert second.takes.list.item(0).text().startswith("Chase  —  ")


def test_play_and_stop_a_take(qtbot, panel, video, debug_bundle):
    panel.open_video(video)
    panel.settings_box.bundle.setText(str(debug_bundle))
    assert generate(qtbot, panel) == "done"
    qtbot.mouseClick(panel.takes.play, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.player.playbackState() == QMediaPlayer.PlaybackState.PlayingState)
    assert panel.takes.play.text() == "Stop"
    qtbot.mouseClick(panel.takes.play, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.player.playbackState() == QMediaPlayer.PlaybackState.StoppedState)
    assert panel.takes.play.text() == "Play"


def test_preview_plays_pauses_and_scrubs(qtbot, panel, video):
    panel.open_video(video)
    preview = panel.preview
    qtbot.waitUntil(lambda: preview.slider.maximum() > 7000)
    qtbot.mouseClick(preview.play_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: preview.position() > 0.2)
    assert preview.play_button.text() == "Pause video"
    qtbot.mouseClick(preview.play_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: preview.player.playbackState() == QMediaPlayer.PlaybackState.PausedState)
    preview.slider.sliderMoved.emit(5000)  # what dragging the handle emits
    qtbot.waitUntil(lambda: abs(preview.position() - 5.0) < 0.05)
    assert preview.view.image is not None and not preview.view.image.isNull()


def test_take_plays_under_the_picture(qtbot, panel, video, debug_bundle):
    panel.open_video(video)
    panel.set_range(3.0, 6.0)
    panel.settings_box.bundle.setText(str(debug_bundle))
    assert generate(qtbot, panel) == "done"
    qtbot.waitUntil(lambda: panel.preview.slider.maximum() > 7000)
    panel.toggle_play()
    qtbot.waitUntil(lambda: panel.player.playbackState() == QMediaPlayer.PlaybackState.PlayingState)
    qtbot.waitUntil(lambda: panel.preview.player.playbackState() == QMediaPlayer.PlaybackState.PlayingState)
    assert panel.preview.audio.isMuted()
    qtbot.waitUntil(lambda: panel.preview.position() >= 3.0)
    assert panel.preview.position() < 4.5  # it started from the take's start, not from 0
    panel.toggle_play()
    qtbot.waitUntil(lambda: panel.preview.player.playbackState() == QMediaPlayer.PlaybackState.PausedState)
    assert 3.0 <= panel.preview.position() < 5.0 and not panel.preview.audio.isMuted()


def test_space_plays_and_escape_cancels(qtbot, panel, video, debug_bundle):
    panel.open_video(video)
    panel.settings_box.bundle.setText(str(debug_bundle))
    assert generate(qtbot, panel) == "done"
    panel.takes.list.setFocus()
    qtbot.keyClick(panel.takes.list, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: panel.player.playbackState() == QMediaPlayer.PlaybackState.PlayingState)
    qtbot.keyClick(panel.takes.list, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: panel.player.playbackState() == QMediaPlayer.PlaybackState.StoppedState)

    panel.settings_box.steps.setValue(limits.STEPS[1])
    with qtbot.waitSignal(panel.generationEnded, timeout=120_000) as blocker:
        panel.generate()
        qtbot.waitUntil(lambda: panel.progress.format().startswith("dit"), timeout=60_000)
        qtbot.keyClick(panel.takes.list, Qt.Key.Key_Escape)
    assert blocker.args == ["cancelled"]
    assert panel.takes.list.count() == 1


def test_closing_while_generating_stops_the_job(qtbot, panel, video, debug_bundle):
    panel.open_video(video)
    panel.settings_box.bundle.setText(str(debug_bundle))
    panel.settings_box.steps.setValue(limits.STEPS[1])
    panel.generate()
    qtbot.waitUntil(lambda: panel.progress.format().startswith("dit"), timeout=60_000)
    panel.close()  # cancels and waits for the thread
    assert not panel._thread.isRunning()
    assert list(panel.store.folder.glob("*.wav")) == []


def test_open_and_score_an_otio_timeline(qtbot, panel, video, debug_bundle, tmp_path):
    import opentimelineio as otio

    rt, tr = otio.opentime.RationalTime, otio.opentime.TimeRange
    clip = otio.schema.Clip(
        name="shot",
        media_reference=otio.schema.ExternalReference(
            target_url=str(video), available_range=tr(rt(0, 10), rt(80, 10))
        ),
        source_range=tr(rt(20, 10), rt(40, 10)),  # 4 s from 2 s into the video
    )
    timeline = otio.schema.Timeline(name="cut", tracks=[otio.schema.Track(children=[clip])])
    path = tmp_path / "cut.otio"
    otio.adapters.write_to_file(timeline, str(path))

    assert panel.open_video(path), panel.status.text()
    assert panel.range() == pytest.approx((0.0, 4.0))
    assert len(panel.filmstrip.thumbnails) == 12 and "timeline" in panel.video_label.text()
    assert not panel.preview.isEnabled() and panel.takes.export_video.isHidden()
    panel.set_range(1.0, 3.0)
    panel.settings_box.bundle.setText(str(debug_bundle))
    assert generate(qtbot, panel) == "done"
    take = panel.store.takes[0]
    assert (take.start, take.end) == (1.0, 3.0)
    assert panel.export_audio(take.id, tmp_path / "cut.wav")
    assert not panel.export_video(take.id, tmp_path / "cut.mp4")
    assert "no single video file" in panel.status.text()
