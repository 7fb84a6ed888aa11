"""The standalone window, the `muvi panel` command and the import boundary."""

from __future__ import annotations

import subprocess
import sys

from muvi_plugin.cli import _parsed_args
from muvi_plugin.panel.app import MainWindow


def test_window_remembers_geometry(qtbot, qsettings, data_root, video):
    window = MainWindow(data_root=data_root, settings=qsettings)
    qtbot.addWidget(window)
    window.show()
    window.resize(720, 640)  # inside the offscreen screen (800x600): restoring clamps to it
    qtbot.waitUntil(lambda: window.width() == 720)
    window.panel.open_video(video)
    assert window.windowTitle().startswith("clip.mp4")
    window.close()

    again = MainWindow(data_root=data_root, settings=qsettings)
    qtbot.addWidget(again)
    assert (again.width(), again.height()) == (720, 640)
    assert again.qsettings.value("panel/lastVideoDir") == str(video.parent)
    menus = [a.text() for a in again.menuBar().actions()]
    assert menus == ["&File", "&Take"]
    again.close()


def test_panel_command_parses():
    args = _parsed_args(["panel", "clip.mp4"])
    assert (args.command, str(args.video)) == ("panel", "clip.mp4")
    assert _parsed_args(["panel"]).video is None


def test_runtime_never_imports_qt():
    code = (
        "import sys, muvi_plugin.api, muvi_plugin.cli, muvi_plugin.timeline;"
        "assert not [m for m in sys.modules if m.startswith(('PySide6', 'torch'))], 'qt or torch loaded'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_qt_binding_keeps_none_alive(qapp):
    """PySide6 6.12.0 on Python 3.11 decrefs None on every void call and aborts the process after a while
    (pyproject excludes it); any binding that does so must fail here, not crash a user's session."""
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtWidgets import QProgressBar

    bar = QProgressBar()
    before = sys.getrefcount(None)
    for _ in range(200):
        QCoreApplication.processEvents()
        bar.setValue(3)
    assert sys.getrefcount(None) >= before - 10
