"""The video preview: play/pause/scrub the picture (QtMultimedia), and play it under a take.

Frames arrive through a `QVideoSink` and are painted as images rather than shown by a `QVideoWidget`: a
native video surface is not captured by `QWidget.grab()` (blank in screenshots and offscreen tests), and
the panel's sizes are small enough that converting each frame to a `QImage` costs little.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QRectF, QSize, Qt, QUrl
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent
from PySide6.QtMultimedia import QAudioOutput, QMediaDevices, QMediaPlayer, QVideoFrame, QVideoSink
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from muvi_plugin.panel.timecode import format_time


def attach_audio(player: QMediaPlayer, parent: QWidget) -> QAudioOutput:
    """An audio output for `player`, connected only when the system has an audio device.

    With no device (a headless machine, the offscreen tests), Qt 6.11's FFmpeg backend can deadlock in
    `QMediaPlayer.stop()` on a player that has an output; without one the player still runs its clock (the
    picture plays, a take "plays" silently). The output is returned either way, so mute state is kept.
    """
    output = QAudioOutput(parent)
    if QMediaDevices.audioOutputs():
        player.setAudioOutput(output)
    return output


class _FrameView(QWidget):
    """Paints the latest frame, letterboxed to keep its aspect ratio."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image: QImage | None = None
        self.setMinimumSize(QSize(200, 112))

    def show_frame(self, frame: QVideoFrame) -> None:
        if frame.isValid():
            self.image = frame.toImage()
            self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(0, 0, 0))
        if self.image is None or self.image.isNull():
            return
        size = self.image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        x, y = (self.width() - size.width()) / 2, (self.height() - size.height()) / 2
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.drawImage(QRectF(x, y, size.width(), size.height()), self.image)


class Preview(QWidget):
    """A video player with a play/pause button, a scrub slider and the current time."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.player = QMediaPlayer(self)
        self.audio = attach_audio(self.player, self)
        self.sink = QVideoSink(self)
        self.player.setVideoSink(self.sink)
        self.view = _FrameView()
        self.sink.videoFrameChanged.connect(self.view.show_frame)
        self._pending: int | None = None  # a seek asked for before the media finished loading

        self.play_button = QPushButton("Play video")
        self.play_button.setToolTip("Play or pause the video with its own sound")
        self.play_button.clicked.connect(self.toggle)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("Scrub the video")
        self.slider.sliderMoved.connect(self.player.setPosition)
        self.time_label = QLabel(format_time(0))
        self.player.durationChanged.connect(lambda ms: self.slider.setRange(0, ms))
        self.player.positionChanged.connect(self._position_changed)
        self.player.playbackStateChanged.connect(self._state_changed)
        self.player.mediaStatusChanged.connect(self._status_changed)

        controls = QHBoxLayout()
        controls.addWidget(self.play_button)
        controls.addWidget(self.slider, 1)
        controls.addWidget(self.time_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view, 1)
        layout.addLayout(controls)
        self.setEnabled(False)

    def set_video(self, path: str | os.PathLike | None) -> None:
        self.player.stop()
        self.view.image = None
        self._pending = 0  # show the first frame once loaded
        self.player.setSource(QUrl() if path is None else QUrl.fromLocalFile(os.fspath(path)))
        self.setEnabled(path is not None)

    def seek(self, seconds: float) -> None:
        ms = round(seconds * 1000)
        if self.player.mediaStatus() in (
            QMediaPlayer.MediaStatus.LoadingMedia,
            QMediaPlayer.MediaStatus.NoMedia,
        ):
            self._pending = ms
        else:
            self._go(ms)

    def _go(self, ms: int) -> None:
        if self.player.playbackState() == QMediaPlayer.PlaybackState.StoppedState:
            # A stopped player shows no frame and restarts from 0 on play(), whatever its position.
            self.player.pause()
        self.player.setPosition(ms)

    def position(self) -> float:
        return self.player.position() / 1000

    def play(self, *, muted: bool = False) -> None:
        self.audio.setMuted(muted)
        self.player.play()

    def pause(self) -> None:
        self.player.pause()
        self.audio.setMuted(False)

    def toggle(self) -> None:
        if self.player.playbackState() == QMediaPlayer.PlaybackState.PlayingState:
            self.pause()
        else:
            self.play()

    def _position_changed(self, ms: int) -> None:
        if not self.slider.isSliderDown():
            self.slider.setValue(ms)
        self.time_label.setText(format_time(ms / 1000))

    def _state_changed(self, state: QMediaPlayer.PlaybackState) -> None:
        playing = state == QMediaPlayer.PlaybackState.PlayingState
        self.play_button.setText("Pause video" if playing else "Play video")

    def _status_changed(self, status: QMediaPlayer.MediaStatus) -> None:
        if status == QMediaPlayer.MediaStatus.LoadedMedia and self._pending is not None:
            self._go(self._pending)
            self._pending = None
