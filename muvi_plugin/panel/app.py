"""The standalone window (`muvi panel [VIDEO]`): `MuviPanel` in a `QMainWindow` with menus and a
remembered geometry."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from PySide6.QtCore import QSettings
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QApplication, QMainWindow, QWidget

from muvi_plugin import __version__
from muvi_plugin.panel.panel import MuviPanel


class MainWindow(QMainWindow):
    """The panel as an application window.

    Args:
        data_root: Where takes are kept (see `MuviPanel`).
        settings: Where geometry and last folders are remembered; None for `QSettings("muvi", "panel")`.
    """

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        data_root: str | os.PathLike | None = None,
        settings: QSettings | None = None,
    ) -> None:
        super().__init__(parent)
        self.qsettings = settings if settings is not None else QSettings("muvi", "panel")
        self.panel = MuviPanel(data_root=data_root, settings=self.qsettings)
        self.setCentralWidget(self.panel)
        self.setWindowTitle(f"muvi {__version__} — music for video")
        self.panel.videoOpened.connect(lambda path: self.setWindowTitle(f"{os.path.basename(path)} — muvi"))

        p = self.panel
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addActions([p.open_action, p.export_action])
        file_menu.addSeparator()
        file_menu.addAction("&Quit", self.close).setShortcut("Ctrl+Q")
        take_menu = self.menuBar().addMenu("&Take")
        take_menu.addActions([p.generate_action, p.cancel_action, p.play_action])

        self.resize(1100, 720)
        geometry = self.qsettings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self.qsettings.value("window/state")
        if state is not None:
            self.restoreState(state)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.panel.shutdown()
        self.qsettings.setValue("window/geometry", self.saveGeometry())
        self.qsettings.setValue("window/state", self.saveState())
        self.qsettings.sync()
        super().closeEvent(event)


def run(video: str | os.PathLike | None = None, argv: Sequence[str] | None = None) -> int:
    """Show the panel window (opening `video` if given) and run the event loop; returns the exit code."""
    app = QApplication.instance() or QApplication(list(argv) if argv is not None else sys.argv[:1])
    app.setOrganizationName("muvi")
    app.setApplicationName("muvi panel")
    window = MainWindow()
    window.show()
    if video is not None:
        window.panel.open_video(video)
    return app.exec()
