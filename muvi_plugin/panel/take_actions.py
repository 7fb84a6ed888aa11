"""What the panel does with a take: play/stop it, export it as audio or as a scored copy of the video.

A mixin of `MuviPanel` (kept apart to keep each file to one job); it uses the panel's `store`, `video`,
`takes`, `player`, `qsettings` and its `show_message`/`show_error`.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QUrl
from PySide6.QtMultimedia import QMediaPlayer
from PySide6.QtWidgets import QApplication, QFileDialog, QWidget

from muvi_plugin.api import MuviError
from muvi_plugin.panel import exporting
from muvi_plugin.panel.preview import Preview
from muvi_plugin.panel.takes import Take, TakeStore
from muvi_plugin.panel.takes_view import TakesView


class TakeActions:
    """Take playback and export for `MuviPanel`."""

    store: TakeStore | None
    video: Path | None
    takes: TakesView
    player: QMediaPlayer
    preview: Preview
    qsettings: QSettings

    def show_message(self, text: str) -> None: ...

    def show_error(self, text: str) -> None: ...

    def take(self, take_id: str) -> Take:
        if self.store is None:
            raise KeyError(take_id)
        return self.store.get(take_id)

    def toggle_play(self, take_id: str | None = None) -> None:
        """Play the take (the selected one by default) under the picture from its start, or stop it."""
        take_id = take_id or self.takes.current_id()
        if self.player.playbackState() == QMediaPlayer.PlaybackState.PlayingState:
            self.player.stop()
            return
        if take_id is None or self.store is None:
            return
        take = self.take(take_id)
        self.player.setSource(QUrl.fromLocalFile(os.fspath(self.store.path(take))))
        # Both players start together from the take's start; the video's own sound is muted under it.
        # (No drift correction: the two clocks stay close for the lengths a take has.)
        self.preview.seek(take.start)
        self.preview.play(muted=True)
        self.player.play()

    def _playback_changed(self, state: QMediaPlayer.PlaybackState) -> None:
        playing = state == QMediaPlayer.PlaybackState.PlayingState
        self.takes.set_playing(playing)
        if not playing and self.preview.player.playbackState() == QMediaPlayer.PlaybackState.PlayingState:
            self.preview.pause()  # the take ended or was stopped: the picture stops with it

    def ask_export_audio(self, take_id: str | None = None) -> None:
        self._ask_export(
            take_id, ".wav", "Export take audio", "WAV (*.wav);;FLAC (*.flac)", self.export_audio
        )

    def ask_export_video(self, take_id: str | None = None) -> None:
        filters = "Video (*.mp4 *.m4v *.mov *.mkv)"
        self._ask_export(take_id, ".mp4", "Export video with the take", filters, self.export_video)

    def _ask_export(self, take_id: str | None, suffix: str, title: str, filters: str, export) -> None:
        """Ask where to export a take (the current one by default), named after the video and the take."""
        take_id = take_id or self.takes.current_id()
        if take_id is None or self.video is None:
            return
        name = f"{self.video.stem}.{self.take(take_id).name}{suffix}".replace(" ", "_")
        path = self._ask_save(title, name, filters)
        if path is not None:
            export(take_id, path)

    def _ask_save(self, title: str, name: str, filters: str) -> Path | None:
        folder = str(self.qsettings.value("panel/lastExportDir", "")) or os.fspath(Path.home())
        path, _ = QFileDialog.getSaveFileName(self._widget(), title, os.path.join(folder, name), filters)
        if not path:
            return None
        self.qsettings.setValue("panel/lastExportDir", os.fspath(Path(path).parent))
        return Path(path)

    def export_audio(self, take_id: str, path: str | os.PathLike) -> bool:
        """Write the take as WAV or FLAC (by suffix), atomically; errors go to the status line."""
        return self._export(lambda store, _, take: exporting.export_audio(store, take, path), take_id, path)

    def export_video(self, take_id: str, path: str | os.PathLike) -> bool:
        """Write a copy of the video whose sound is the take, from the take's start; atomically."""
        return self._export(
            lambda store, video, take: exporting.export_video(store, take, video, path), take_id, path
        )

    def _export(self, write, take_id: str, path: str | os.PathLike) -> bool:
        store, video = self.store, self.video
        if store is None or video is None:
            return False
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            write(store, video, self.take(take_id))
        except MuviError as error:
            self.show_error(str(error))
            return False
        finally:
            QApplication.restoreOverrideCursor()
        self.show_message(f"Exported {path}")
        return True

    def _widget(self) -> QWidget:
        assert isinstance(self, QWidget)
        return self
