"""`MuviPanel`: the whole panel as one embeddable `QWidget` (the standalone window wraps it in `app.py`).

Open a video, drag a range on the filmstrip (or type it), set the seed/steps/guidance/style/bundle/device,
Generate (off the GUI thread, cancellable), then audition, rename, delete and export the takes, which
persist per video (`takes.TakeStore`).
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QThread, Signal
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtMultimedia import QMediaPlayer
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from muvi_plugin.api import MuviError, ScoreRequest, ScoreResult
from muvi_plugin.panel.filmstrip import Filmstrip
from muvi_plugin.panel.opening import Opened, open_media
from muvi_plugin.panel.preview import Preview, attach_audio
from muvi_plugin.panel.settings_box import SettingsBox
from muvi_plugin.panel.take_actions import TakeActions
from muvi_plugin.panel.takes import Take, TakeStore, now
from muvi_plugin.panel.takes_view import TakesView
from muvi_plugin.panel.timecode import format_time, parse_time
from muvi_plugin.panel.worker import Job, ScorerCache, ScoreWorker

THUMBNAILS = 12
VIDEO_FILTER = (
    "Videos and timelines (*.mp4 *.m4v *.mov *.mkv *.avi *.webm *.mxf *.otio *.otioz *.otiod);;All files (*)"
)


class MuviPanel(TakeActions, QWidget):
    """The muvi panel. Embeddable: it needs only a running `QApplication`.

    Args:
        parent: The parent widget, if embedded.
        data_root: Where takes are kept; None for `takes.data_root()` (`$MUVI_PANEL_DATA` or per-user).
        settings: Where last folders are remembered; None for `QSettings("muvi", "panel")`.

    Signals:
        videoOpened(path), takeAdded(Take), generationEnded(outcome: "done" | "cancelled" | "failed").
    """

    videoOpened = Signal(str)
    takeAdded = Signal(object)
    generationEnded = Signal(str)

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        data_root: str | os.PathLike | None = None,
        settings: QSettings | None = None,
    ) -> None:
        super().__init__(parent)
        self.data_root = data_root
        self.qsettings = settings if settings is not None else QSettings("muvi", "panel")
        self.scorers = ScorerCache()
        self.video: Path | None = None
        self.opened: Opened | None = None
        self.store: TakeStore | None = None
        self._thread: QThread | None = None
        self._worker: ScoreWorker | None = None
        self._outcome = ""
        self.setAcceptDrops(True)
        self._build()
        self._build_actions()
        self.player = QMediaPlayer(self)
        self.audio_output = attach_audio(self.player, self)
        self.player.playbackStateChanged.connect(self._playback_changed)
        self.player.errorOccurred.connect(lambda _e, text: self.show_error(f"playback: {text}"))
        self._set_busy(False)

    # ---------------------------------------------------------------- layout
    def _build(self) -> None:
        self.open_button = QPushButton("Open video…")
        self.open_button.clicked.connect(self.ask_open)
        self.video_label = QLabel("No video")
        self.video_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        top = QHBoxLayout()
        top.addWidget(self.open_button)
        top.addWidget(self.video_label, 1)

        self.filmstrip = Filmstrip()
        self.filmstrip.rangeChanged.connect(self._range_changed)
        self.start_edit, self.end_edit = QLineEdit(), QLineEdit()
        for edit, tip in ((self.start_edit, "Range start"), (self.end_edit, "Range end (exclusive)")):
            edit.setToolTip(f"{tip}: seconds (12.5) or HH:MM:SS.mmm")
            edit.setMaximumWidth(140)
            edit.editingFinished.connect(self._range_typed)
        self.length_label = QLabel("")
        range_row = QHBoxLayout()
        range_row.addWidget(QLabel("Start"))
        range_row.addWidget(self.start_edit)
        range_row.addWidget(QLabel("End"))
        range_row.addWidget(self.end_edit)
        range_row.addWidget(self.length_label)
        range_row.addStretch(1)

        self.settings_box = SettingsBox()
        self.settings_box.setMinimumWidth(300)
        self.takes = TakesView()
        self.takes.playRequested.connect(self.toggle_play)
        self.takes.exportAudioRequested.connect(self.ask_export_audio)
        self.takes.exportVideoRequested.connect(self.ask_export_video)
        self.preview = Preview()
        right = QVBoxLayout()
        right.addWidget(self.preview, 1)
        right.addWidget(self.takes, 1)
        middle = QHBoxLayout()
        middle.addWidget(self.settings_box)
        middle.addLayout(right, 1)

        self.generate_button = QPushButton("Generate")
        self.generate_button.setToolTip("Score the range with these settings (Ctrl+G)")
        self.generate_button.clicked.connect(self.generate)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the generation; nothing is kept (Esc)")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("idle")
        self.progress.setTextVisible(True)
        bottom = QHBoxLayout()
        bottom.addWidget(self.generate_button)
        bottom.addWidget(self.cancel_button)
        bottom.addWidget(self.progress, 1)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.filmstrip)
        layout.addLayout(range_row)
        layout.addLayout(middle, 1)
        layout.addLayout(bottom)
        layout.addWidget(self.status)

    def _build_actions(self) -> None:
        """The panel's keyboard shortcuts, as actions a host window can also put in its menus."""

        def action(text: str, keys: list[QKeySequence], slot) -> QAction:
            a = QAction(text, self)
            a.setShortcuts(keys)
            # Within the panel only: an editor embedding it keeps its own shortcuts elsewhere.
            a.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            a.triggered.connect(slot)
            self.addAction(a)
            return a

        key = QKeySequence
        self.open_action = action("&Open video…", [key(key.StandardKey.Open)], self.ask_open)
        self.generate_action = action("&Generate", [key("Ctrl+G"), key("Ctrl+Return")], self.generate)
        self.cancel_action = action("&Cancel", [key("Escape")], self.cancel)
        self.play_action = action("&Play/stop take", [key("Space")], self.toggle_play)
        self.export_action = action("&Export take audio…", [key("Ctrl+E")], self.ask_export_audio)

    # ---------------------------------------------------------------- video and range
    def ask_open(self) -> None:
        folder = str(self.qsettings.value("panel/lastVideoDir", ""))
        path, _ = QFileDialog.getOpenFileName(self, "Open video", folder, VIDEO_FILTER)
        if path:
            self.open_video(path)

    def open_video(self, path: str | os.PathLike) -> bool:
        """Load a video file or an `.otio` timeline: thumbnails, the whole duration as the range, and its
        stored takes. Returns False (with the reason in the status line) if it cannot be opened."""
        if self._thread is not None:
            self.show_error("wait for the generation to finish (or cancel it) before opening another video")
            return False
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            opened = open_media(path, THUMBNAILS)
            store = TakeStore(opened.path, self.data_root)
        except (MuviError, OSError) as error:
            self.show_error(str(error))
            return False
        finally:
            QApplication.restoreOverrideCursor()
        self.player.stop()
        self.video, self.store, self.opened = opened.path, store, opened
        self.qsettings.setValue("panel/lastVideoDir", os.fspath(opened.path.parent))
        self.video_label.setText(opened.label)
        self.video_label.setToolTip(os.fspath(opened.path))
        self.filmstrip.set_video(opened.duration, opened.thumbnails)
        self.preview.set_video(None if opened.is_timeline else opened.path)
        self.takes.set_store(store)
        self.takes.export_video.setVisible(not opened.is_timeline)  # a timeline has no one file to mux into
        note = "".join(f"; {w}" for w in opened.warnings)
        self.show_message(f"Opened {opened.path.name}: {len(store.takes)} stored take(s){note}")
        self._set_busy(False)
        self.videoOpened.emit(os.fspath(opened.path))
        return True

    def set_range(self, start: float, end: float) -> None:
        self.filmstrip.set_range(start, end)

    def range(self) -> tuple[float, float]:
        return self.filmstrip.start, self.filmstrip.end

    def _range_changed(self, start: float, end: float) -> None:
        self.start_edit.setText(format_time(start))
        self.end_edit.setText(format_time(end))
        self.length_label.setText(f"length {end - start:.2f} s")

    def _range_typed(self) -> None:
        if self.video is None:
            return
        try:
            start, end = parse_time(self.start_edit.text()), parse_time(self.end_edit.text())
        except ValueError as error:
            self.show_error(str(error))
            self._range_changed(*self.range())  # put the valid range back
            return
        if end <= start:
            self.show_error(f"the range end ({end:g} s) must be after its start ({start:g} s)")
            self._range_changed(*self.range())
            return
        self.set_range(start, end)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        files = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if files:
            event.acceptProposedAction()
            self.open_video(files[0])

    # ---------------------------------------------------------------- generation
    def generate(self) -> None:
        """Start scoring the range in a worker thread (ignored while one runs)."""
        if self._thread is not None:
            return
        if self.video is None or self.store is None:
            self.show_error("open a video first")
            return
        v = self.settings_box.values()
        start, end = self.range()
        source = self.opened.source if self.opened is not None else None
        request = ScoreRequest(
            source if source is not None else self.video,
            start=start,
            end=end,
            seed=v.seed,
            steps=v.steps,
            guidance=v.guidance,
            style=v.style,
        )
        take_id, out = self.store.new_audio_path()
        self._worker = ScoreWorker(Job(request, v.bundle, v.device, out), self.scorers)
        self._take_id, self._job_store = take_id, self.store
        self._thread = QThread(self)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        # Bound methods of this GUI-thread object: Qt queues them onto the GUI thread.
        self._worker.progress.connect(self._on_progress)
        self._worker.succeeded.connect(self._on_succeeded)
        self._worker.failed.connect(self._on_failed)
        self._worker.cancelled.connect(self._on_cancelled)
        self._worker.finished.connect(self._thread.quit)
        self._thread.finished.connect(self._on_thread_finished)
        self._outcome = "failed"
        self._set_busy(True)
        self.show_message(f"Generating {start:.2f}–{end:.2f} s, seed {v.seed}, {v.steps} steps…")
        self._thread.start()

    def cancel(self) -> None:
        """Stop a running generation at its next step; it writes nothing."""
        if self._worker is not None:
            self._worker.cancel()
            self.progress.setFormat("cancelling…")

    def is_generating(self) -> bool:
        return self._thread is not None

    def _on_progress(self, stage: str, fraction: float) -> None:
        self.progress.setValue(round(1000 * fraction))
        self.progress.setFormat(f"{stage} %p%")

    def _on_succeeded(self, result: ScoreResult, path: Path) -> None:
        r = result.report
        store = self._job_store
        take = Take(self._take_id, store.next_name(), path.name, result.sample_rate, now(), r.to_dict())
        store.add(take)
        if store is self.store:
            self.takes.add(take)
        self._outcome = "done"
        notes = "; ".join(r.notes)
        self.show_message(f"{take.name}: {r.seconds['total']:.1f} s" + (f" ({notes})" if notes else ""))
        self.takeAdded.emit(take)

    def _on_failed(self, message: str) -> None:
        self._outcome = "failed"
        self.show_error(message)

    def _on_cancelled(self) -> None:
        self._outcome = "cancelled"
        self.show_message("Cancelled; nothing was written")

    def _on_thread_finished(self) -> None:
        thread = self._thread
        if thread is not None:
            thread.wait()  # finished is emitted just before the thread ends: let it end before dropping it
        self._thread = self._worker = None
        self._set_busy(False)
        self.progress.setValue(1000 if self._outcome == "done" else 0)
        self.progress.setFormat({"done": "done", "cancelled": "cancelled"}.get(self._outcome, "failed"))
        self.generationEnded.emit(self._outcome)

    def _set_busy(self, busy: bool) -> None:
        has_video = self.video is not None
        self.generate_button.setEnabled(has_video and not busy)
        self.cancel_button.setEnabled(busy)
        self.open_button.setEnabled(not busy)
        self.settings_box.setEnabled(not busy)
        self.filmstrip.setEnabled(has_video and not busy)
        for edit in (self.start_edit, self.end_edit):
            edit.setEnabled(has_video and not busy)

    def shutdown(self) -> None:
        """Cancel a running generation and wait for its thread; call before the panel goes away."""
        self.player.stop()
        self.preview.player.stop()
        if self._thread is not None:
            self.cancel()
            self._thread.quit()
            self._thread.wait()

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)

    # ---------------------------------------------------------------- messages
    def show_message(self, text: str) -> None:
        self.status.setStyleSheet("")
        self.status.setText(text)

    def show_error(self, text: str) -> None:
        self.status.setStyleSheet("color: #c62828;")
        self.status.setText(f"Error: {text}")
